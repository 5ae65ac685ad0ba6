"""A catalogue of bad inputs for the ``ares`` CLI, and how to judge what the CLI did with each.

Each :class:`Case` builds, in its own folder, the files one bad input needs (a binary config, a
damaged run store, an export aimed at the run store...) and returns an :class:`Attempt`: the
``ares`` arguments, plus the run folder whose data must survive and the paths that must not be
left behind. :func:`judge_outcome` then checks the target: exit code 2, exactly one line on
stderr of the form ``ares CMD: error: ...``, no traceback, nothing stored lost, no leftovers.
A few cases are inputs that must be *accepted* (a UTF-8 BOM), checked for exit code 0.

Used by ``tests/reliability/test_bad_inputs.py`` (in-process, fast) and
``benchmarks/bad_inputs.py`` (every case through a real ``ares`` subprocess).
"""

from __future__ import annotations

from ares_rlhf.testing.bad_inputs import cases_files, cases_runs  # noqa: F401  (registers the cases)
from ares_rlhf.testing.bad_inputs.harness import (
    BASE_CONFIG,
    CASES,
    ERROR_LINE,
    Attempt,
    Case,
    Outcome,
    Workspace,
    deterministic_config,
    judge_outcome,
    make_base_run,
    run_case,
    run_fingerprint,
    run_in_process,
    run_subprocess,
)


def cases(*, subprocess: bool = True) -> list[Case]:
    """Every case (``subprocess=False``: those that can run in-process)."""
    return [c for c in CASES if subprocess or not c.subprocess_only]


__all__ = [
    "BASE_CONFIG",
    "CASES",
    "ERROR_LINE",
    "Attempt",
    "Case",
    "Outcome",
    "Workspace",
    "deterministic_config",
    "judge_outcome",
    "make_base_run",
    "run_case",
    "run_fingerprint",
    "run_in_process",
    "run_subprocess",
    "cases",
]
