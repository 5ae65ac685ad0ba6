"""How the CLI reports a failure: one line for the user's input or environment, a traceback for bugs.

One line and exit code 2 (``ares CMD: error: ...``):

* ``AresUserError`` (a bad config, catalog, run folder, dataset, model spec...);
* ``OSError`` (a path that is missing, a folder, not writable; a full disk; a network error);
* ``UnicodeDecodeError`` (a text input that is not UTF-8), YAML errors, pydantic validation
  errors (a setting given on the command line), ``sqlite3.DatabaseError`` (a damaged run store,
  a full disk under the store).

Anything else is a bug in ARES: the traceback is shown, then a line asking to report it, and
the exit code is 1. ``ares --debug`` (or ``ARES_DEBUG=1``) shows the traceback for the one-line
errors too. When a command had registered how to continue its run
(:func:`ares_rlhf.runtime.set_resume_command`), every failure and Ctrl-C ends with that command.
"""

from __future__ import annotations

import errno
import sys

from ares_rlhf.errors import AresUserError
from ares_rlhf.inputs import one_line

DEBUG_VARIABLE = "ARES_DEBUG"
_DISK_FULL = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))


def _os_error(error: OSError) -> str:
    reason = error.strerror or str(error) or type(error).__name__
    where = ""
    if error.filename is not None:
        where = f" {error.filename}"
        if getattr(error, "filename2", None) is not None:
            where += f" -> {error.filename2}"
    if error.errno in _DISK_FULL:
        return (
            f"disk full while writing{where} ({reason}); nothing half-written is kept as complete"
        )
    return f"{reason}:{where}" if where else reason


def _sqlite_error(error: Exception) -> str:
    text = str(error)
    if "disk is full" in text or "disk I/O error" in text:
        return f"run store: {text} (free disk space); the last batch was rolled back"
    return f"run store: {text} (the run store is damaged or not an ARES store)"


def _validation_error(error: Exception) -> str:
    first = error.errors()[0]  # type: ignore[attr-defined]
    where = ".".join(str(part) for part in first.get("loc", ())) or "value"
    return f"{where}: {first.get('msg', error)}"


def describe_failure(error: BaseException) -> str | None:
    """One line for an error caused by the user's input or environment; ``None`` for a bug."""
    if isinstance(error, AresUserError):
        return one_line(str(error))
    if isinstance(error, UnicodeDecodeError):
        return f"input is not UTF-8 text ({error.reason} at byte {error.start}); save it as UTF-8"
    if isinstance(error, OSError):
        return one_line(_os_error(error))
    sqlite3 = sys.modules.get("sqlite3")
    if sqlite3 is not None and isinstance(error, sqlite3.DatabaseError):
        return one_line(_sqlite_error(error))
    yaml = sys.modules.get("yaml")
    if yaml is not None and isinstance(error, yaml.YAMLError):
        return one_line(f"not valid YAML: {error}")
    pydantic = sys.modules.get("pydantic")
    if pydantic is not None and isinstance(error, pydantic.ValidationError):
        return one_line(_validation_error(error))
    return None


def exit_code(error: BaseException) -> int:
    return getattr(error, "exit_code", 2) if isinstance(error, AresUserError) else 2
