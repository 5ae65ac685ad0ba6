"""How the CLI reports failures: one line for inputs and environment, a traceback for bugs."""

from __future__ import annotations

import errno
import sqlite3

import pytest

from ares_rlhf.cli import failure, main
from ares_rlhf.errors import ConfigError
from ares_rlhf.runtime import set_resume_command


@pytest.fixture
def failing_report(monkeypatch):
    """Make ``ares report`` raise whatever the test sets."""
    import ares_rlhf.cli.report as report

    raised: dict[str, BaseException] = {}

    def run(args):
        set_resume_command("ares report RUN")
        raise raised["error"]

    monkeypatch.setattr(report, "run", run)
    return raised


def test_a_bug_keeps_its_traceback_and_exits_1(failing_report, capsys) -> None:
    failing_report["error"] = ZeroDivisionError("division by zero")
    assert main(["report", "x"]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "ZeroDivisionError" in err
    assert (
        err.strip().splitlines()[-1].startswith("ares report: internal error (ZeroDivisionError)")
    )


@pytest.mark.parametrize(
    "error",
    [
        OSError(errno.ENOSPC, "No space left on device", "/data/out.jsonl"),
        PermissionError(errno.EACCES, "Permission denied", "/etc/x"),
        sqlite3.OperationalError("database or disk is full"),
        UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"),
    ],
    ids=["disk-full", "permission", "sqlite-full", "not-utf8"],
)
def test_environment_errors_are_one_line_with_the_resume_command(
    error, failing_report, capsys
) -> None:
    failing_report["error"] = error
    assert main(["report", "x"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("ares report: error: ") and line.endswith("to continue: ares report RUN")


def test_an_input_error_gets_no_resume_advice_and_debug_shows_the_traceback(
    failing_report, capsys, monkeypatch
) -> None:
    failing_report["error"] = ConfigError("run.yaml: seed: not a number")
    assert main(["report", "x"]) == 2
    assert capsys.readouterr().err.strip() == "ares report: error: run.yaml: seed: not a number"
    assert main(["--debug", "report", "x"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().endswith("seed: not a number")


def test_disk_full_message_names_the_file() -> None:
    message = failure.describe_failure(OSError(errno.ENOSPC, "No space left on device", "/d/f"))
    assert message.startswith("disk full while writing /d/f")
