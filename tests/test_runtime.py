import platform

import pytest

from ares_rlhf import runtime


@pytest.fixture(autouse=True)
def _fresh_state(monkeypatch):
    monkeypatch.setattr(runtime, "_tuned", None)


def test_tune_allocator_applies_on_glibc_and_is_idempotent(monkeypatch):
    monkeypatch.delenv(runtime.DISABLE_VARIABLE, raising=False)
    expected = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
    assert runtime.tune_allocator() is expected
    assert runtime.tune_allocator() is expected


def test_tune_allocator_can_be_switched_off(monkeypatch):
    monkeypatch.setenv(runtime.DISABLE_VARIABLE, "1")
    assert runtime.tune_allocator() is False


def test_cli_entry_tunes_the_allocator(monkeypatch):
    from ares_rlhf import cli

    calls = []
    monkeypatch.setattr(cli, "tune_allocator", lambda: calls.append(True))
    with pytest.raises(SystemExit):
        cli.main(["config", "--help"])
    assert calls
