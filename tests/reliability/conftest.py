"""Shared pieces of the fault-injection suite: a small finished run made through the real CLI."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ares_rlhf.testing.bad_inputs import make_base_run


@pytest.fixture(scope="session")
def base_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 48-probe discovery run (scripted models), made once; copy it before writing."""
    return make_base_run(tmp_path_factory.mktemp("reliability-base"))


@pytest.fixture
def run_copy(base_run: Path, tmp_path: Path) -> Path:
    """A private copy of :func:`base_run`."""
    target = tmp_path / "run"
    shutil.copytree(base_run, target)
    return target
