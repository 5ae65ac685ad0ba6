"""Every bad input in the catalogue (``ares_rlhf.testing.bad_inputs``) gives one line, exit 2,
no traceback, nothing stored lost and nothing left behind; valid oddities (a BOM) are accepted.

In-process through ``cli.main`` for speed; the cases that need a real process (a full disk,
set with RLIMIT_FSIZE) run as subprocesses. ``benchmarks/bad_inputs.py`` runs them all as
subprocesses and prints the figures.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ares_rlhf.testing.bad_inputs import (
    CASES,
    Workspace,
    run_case,
    run_in_process,
    run_subprocess,
)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory, base_run: Path) -> Workspace:
    return Workspace(tmp_path_factory.mktemp("bad-inputs"), base_run)


def test_the_catalogue_is_large_enough() -> None:
    assert len([c for c in CASES if not c.accepted]) >= 95
    assert len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_bad_input(case, workspace: Workspace) -> None:
    runner = run_subprocess if case.subprocess_only else run_in_process
    outcome = run_case(case, workspace, runner)
    assert outcome.ok, outcome
