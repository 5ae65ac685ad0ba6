"""An exclusive lock on a run folder, held for the life of a command that writes to the run.

The lock is ``fcntl.flock`` on ``RUN_DIR/.ares.lock``. The kernel releases it when the holder
exits in any way (``kill -9`` included), so a lock whose holder died is simply free: the next
writer takes it over. The file also records who holds it (PID, command, start time), so a
refused writer can say whom it is waiting for. The file itself is never deleted (deleting a
lock file races with a writer that has just opened it); a clean release empties it, so a
non-empty file found by a new holder means the previous holder died while holding the lock.

Readers (``ares report``, ``ares export``) take no lock: SQLite's WAL lets them read while a
writer writes. Platforms without ``fcntl`` (Windows) get no lock.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from ares_rlhf.errors import StoreError

try:  # POSIX only
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = ".ares.lock"
logger = logging.getLogger(__name__)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def _command_line() -> str:
    argv = [Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python", *sys.argv[1:]]
    if argv[0] in ("__main__.py", "-m", "-c"):
        argv[0] = "ares"
    return " ".join(argv)[:300]


def describe_holder(holder: dict[str, Any]) -> str:
    """``PID 123 (ares discover --resume runs/x, since 2026-12-01 10:00:00)``."""
    pid = holder.get("pid", "?")
    parts = [str(holder.get("command") or "unknown command")]
    started = holder.get("started_at")
    if isinstance(started, int | float):
        parts.append("since " + time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)))
    return f"PID {pid} ({', '.join(parts)})"


class RunLock:
    """The write lock of one run folder: ``acquire()`` or refuse with a ``StoreError``.

    ``previous_holder`` is set when the lock was taken over from a process that died holding it.
    """

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_NAME
        self._fd: int | None = None
        self.previous_holder: dict[str, Any] | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def _read_holder(self, fd: int) -> dict[str, Any] | None:
        try:
            raw = os.pread(fd, 4096, 0)
            holder = json.loads(raw.decode("utf-8")) if raw.strip() else None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return {"pid": "?", "command": "unreadable lock file"}
        return holder if isinstance(holder, dict) else None

    def _wait_for_holder_note(self, fd: int, patience_s: float = 1.0) -> dict[str, Any] | None:
        """The holder's note, waiting briefly: a holder writes it just after taking the lock."""
        deadline = time.monotonic() + patience_s
        holder = self._read_holder(fd)
        while holder is None and time.monotonic() < deadline:
            time.sleep(0.02)
            holder = self._read_holder(fd)
        return holder

    def acquire(self) -> RunLock:
        """Take the lock; raises ``StoreError`` naming the holder when another process has it."""
        if self._fd is not None or fcntl is None:
            return self
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as error:
            raise StoreError(
                f"{self.run_dir}: cannot open the run lock {self.path.name} "
                f"({error.strerror or error})"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            holder = self._wait_for_holder_note(fd)
            os.close(fd)
            if error.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise StoreError(
                    f"{self.run_dir}: cannot lock the run folder ({error.strerror or error}); "
                    "is it on a file system without locks?"
                ) from None
            who = describe_holder(holder) if holder else "another process"
            dead = ""
            if holder and isinstance(holder.get("pid"), int) and not _pid_alive(holder["pid"]):
                dead = "; that process has exited, but a child of it still holds the lock"
            raise StoreError(
                f"{self.run_dir}: run folder is in use by {who}{dead}; wait for it to finish "
                "or stop it (two writers would duplicate work)"
            ) from None
        previous = self._read_holder(fd)
        if previous and previous.get("pid") != os.getpid():
            self.previous_holder = previous
            logger.warning(
                "%s: took over the run lock of %s, which ended without releasing it",
                self.run_dir,
                describe_holder(previous),
            )
        record = {"pid": os.getpid(), "command": _command_line(), "started_at": time.time()}
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, (json.dumps(record) + "\n").encode("utf-8"), 0)
        except OSError:
            pass  # the lock holds without the note; a refused writer then names no PID
        self._fd = fd
        return self

    def release(self) -> None:
        """Empty the holder note and release the lock (idempotent)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)
        except OSError:
            pass
        finally:
            os.close(fd)  # closing the descriptor releases the flock

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
