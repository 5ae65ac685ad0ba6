"""The run lock: one writer per run folder, readers welcome, a dead holder's lock taken over."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ares_rlhf.cli import main
from ares_rlhf.errors import StoreError
from ares_rlhf.store.lock import LOCK_NAME, RunLock
from ares_rlhf.store.sqlite import RunStore


def probe_ids(run_dir: Path) -> list[str]:
    with RunStore.open(run_dir) as store:
        return [p.id for p in store.probes()]


def test_second_writer_is_refused_naming_the_holder(run_copy: Path) -> None:
    with RunStore.open(run_copy, writer=True):
        with pytest.raises(StoreError, match=rf"in use by PID {os.getpid()} \("):
            RunStore.open(run_copy, writer=True)
        with RunStore.open(run_copy) as reader:  # readers take no lock
            assert reader.count_probes() == 48
    with RunStore.open(run_copy, writer=True):  # released on close
        pass
    assert (run_copy / LOCK_NAME).read_text() == ""  # a clean release leaves no holder note


def test_create_holds_the_lock_until_close(tmp_path: Path) -> None:
    store = RunStore.create(tmp_path / "run", {"name": "x"})
    with pytest.raises(StoreError, match="in use by PID"):
        RunStore.open(tmp_path / "run", writer=True)
    store.close()
    RunStore.open(tmp_path / "run", writer=True).close()


def test_lock_of_a_killed_holder_is_taken_over(run_copy: Path) -> None:
    script = textwrap.dedent(
        f"""
        import os, signal
        from ares_rlhf.store.sqlite import RunStore
        store = RunStore.open({str(run_copy)!r}, writer=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert done.returncode == -signal.SIGKILL
    assert '"pid"' in (run_copy / LOCK_NAME).read_text()  # the dead holder's note is still there
    lock = RunLock(run_copy).acquire()
    try:
        assert lock.previous_holder is not None and lock.previous_holder["pid"] != os.getpid()
    finally:
        lock.release()
    assert main(["discover", "--resume", str(run_copy), "--probes", "64", "--quiet"]) == 0
    ids = probe_ids(run_copy)
    assert len(ids) == len(set(ids)) == 64


def test_discover_resume_while_another_writer_runs_is_refused(run_copy: Path, capsys) -> None:
    before = probe_ids(run_copy)
    with RunLock(run_copy):
        code = main(["discover", "--resume", str(run_copy), "--probes", "96", "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert f"in use by PID {os.getpid()}" in err
    assert probe_ids(run_copy) == before  # 0 probes added, 0 duplicated


def test_two_concurrent_resumes_never_duplicate(run_copy: Path) -> None:
    """Both start at once; one is refused or finds the work done: the budget is never exceeded."""
    argv = [sys.executable, "-m", "ares_rlhf.cli", "discover", "--resume", str(run_copy)]
    argv += ["--probes", "400", "--quiet"]
    children = [subprocess.Popen(argv, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(child.wait(timeout=300), child.stderr.read()) for child in children]
    for code, err in results:
        assert code in (0, 2), err
        if code == 2:
            assert "in use by PID" in err and len(err.strip().splitlines()) == 1
    ids = probe_ids(run_copy)
    assert len(ids) == len(set(ids)) == 400


def test_two_repair_rm_the_second_is_refused(run_copy: Path, capsys) -> None:
    with RunStore.open(run_copy, writer=True):
        assert main(["repair-rm", str(run_copy)]) == 2
    assert "in use by PID" in capsys.readouterr().err
