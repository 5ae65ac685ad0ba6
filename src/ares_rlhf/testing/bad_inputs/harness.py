"""The harness: workspace, attempts, fingerprints, judging and runners for the bad-input cases."""

from __future__ import annotations

import hashlib
import re
import shutil
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

BASE_CONFIG: dict[str, Any] = {
    "name": "bad-inputs",
    "policy": {
        "spec": "scripted:policy",
        "options": {"responses": ["I can't help with that.", "Sure, here is how: [STEP 1]."]},
    },
    "reward_model": {"spec": "scripted:rm"},
    "search": {"strategy": "uniform"},
    "budget": {"probes": 32, "batch_size": 16},
    "typing": {"calibration_probes": 8},
}
"""A valid, fast run config (scripted models, 32 probes)."""


def deterministic_config(probes: int, batch_size: int = 8) -> dict[str, Any]:
    """A run config whose models answer the same in every process (``sim:`` on a shipped arena):
    what interrupted-then-resumed runs are compared with. (Scripted models cycle through their
    answers per process, so a resumed run would answer differently.)"""
    from ares_rlhf.sim.arena import shipped_arenas

    arena = str(shipped_arenas()["mixed"])
    return {
        **BASE_CONFIG,
        "policy": {"spec": f"sim:{arena}"},
        "reward_model": {"spec": f"sim:{arena}"},
        "budget": {"probes": probes, "batch_size": batch_size},
    }


ERROR_LINE = re.compile(r"^ares( [a-z-]+)*: (error|interrupted)[:;]? ")
"""The one line the CLI prints for a user error (or an interruption)."""

GOOD_CATALOG = {
    "replace": True,
    "topics": [{"id": "t1", "description": "a topic", "subjects": ["s"], "redirects": ["r"]}],
    "personas": [{"id": "p1", "description": "a persona", "intros": ["As a student,"]}],
    "tactics": [{"id": "k1", "description": "a tactic", "frames": ["{intro} {request}"]}],
    "goals": [
        {
            "id": "g1",
            "description": "a goal",
            "asks": ["explain {subject}"],
            "malicious": ["Sure: {subject} [REDACTED]"],
            "safe": ["I can't help; {redirect}"],
        }
    ],
}
GOOD_ARENA = {
    "name": "tiny",
    "base": {"policy_fail": 0.1, "rm_fail": 0.1},
    "regions": [
        {"id": "r1", "when": {"tactic": ["role_play"]}, "policy_fail": 0.9, "rm_fail": 0.9}
    ],
}
GOOD_LABELS = (
    "prompt,response,label\nhow to X,I can't help with that.,safe\nhow to X,Sure: [STEPS],harmful\n"
)


@dataclass
class Attempt:
    """One run of ``ares`` for a case."""

    argv: list[str]
    guard: Path | None = None
    """A run folder whose stored data must survive unchanged (additions allowed)."""
    absent: list[Path] = field(default_factory=list)
    """Paths that must not exist afterwards (a removed failed start, ``.partial`` files)."""
    stderr_has: list[str] = field(default_factory=list)
    """Text the error line must contain (e.g. the resume command)."""
    hold_lock: Path | None = None
    """A run folder whose lock another process holds during the attempt."""
    file_size_limit: int | None = None
    """RLIMIT_FSIZE for the attempt (a full disk); subprocess runs only."""
    cleanup: Callable[[], None] | None = None


@dataclass(frozen=True)
class Case:
    name: str
    group: str
    build: Callable[[Workspace], Attempt]
    accepted: bool = False
    """The input is valid and must be accepted (exit 0)."""
    subprocess_only: bool = False


class Workspace:
    """Per-case folders under ``root``, and one finished base run to copy."""

    def __init__(self, root: Path, base_run: Path) -> None:
        self.root = Path(root)
        self.base_run = Path(base_run)
        self.case_dir = self.root

    def enter(self, name: str) -> Path:
        self.case_dir = self.root / name
        self.case_dir.mkdir(parents=True, exist_ok=False)
        return self.case_dir

    def write(self, name: str, data: str | bytes) -> Path:
        path = self.case_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            path.write_text(data, encoding="utf-8")
        return path

    def config(self, name: str = "config.yaml", **changes: Any) -> Path:
        data = {**BASE_CONFIG, "output_dir": str(self.case_dir / "runs"), **changes}
        return self.write(name, yaml.safe_dump(data))

    def run(self) -> Path:
        """A copy of the finished base run (48 discovery probes)."""
        target = self.case_dir / "run"
        shutil.copytree(self.base_run, target)
        return target


def make_base_run(folder: Path, main: Callable[[list[str]], int] | None = None) -> Path:
    """Run a small discovery (scripted models, 48 probes) into ``folder/run``."""
    if main is None:
        from ares_rlhf.cli import main
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "base.yaml"
    config.write_text(
        yaml.safe_dump({**BASE_CONFIG, "budget": {"probes": 48, "batch_size": 16}}),
        encoding="utf-8",
    )
    run_dir = folder / "run"
    code = main(["discover", str(config), "--run-dir", str(run_dir), "--quiet"])
    if code != 0:
        raise RuntimeError(f"the base run failed (exit {code})")
    return run_dir


# -- fingerprints ------------------------------------------------------------------------------
def run_fingerprint(run_dir: Path) -> dict[str, Any]:
    """What a run stores (probe ids, config, artifacts, state keys) or, for a store that does
    not open, the bytes of its files."""
    db_path = run_dir / "ares.db"
    try:
        db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        try:
            return {
                "probes": sorted(r[0] for r in db.execute("SELECT id FROM probes")),
                "config": db.execute("SELECT value FROM meta WHERE key='config'").fetchone(),
                "artifacts": db.execute("SELECT COUNT(*) FROM artifacts").fetchone()[0],
                "state": sorted(r[0] for r in db.execute("SELECT key FROM state")),
            }
        finally:
            db.close()
    except sqlite3.Error:
        digest = hashlib.sha256()
        for path in sorted(run_dir.rglob("*")):
            if path.is_file() and path.name != ".ares.lock":
                digest.update(path.name.encode() + path.read_bytes())
        return {"bytes": digest.hexdigest()}


def data_lost(before: dict[str, Any], after: dict[str, Any]) -> bool:
    """Whether anything stored before is gone (new probes or state are fine)."""
    if "bytes" in before or "bytes" in after:
        return before != after
    return (
        not set(before["probes"]) <= set(after["probes"])
        or len(after["probes"]) != len(set(after["probes"]))
        or before["config"] != after["config"]
        or after["artifacts"] < before["artifacts"]
        or not set(before["state"]) <= set(after["state"])
    )


@dataclass
class Outcome:
    case: str
    group: str
    accepted: bool
    exit_code: int
    stderr: str
    one_line: bool
    traceback: bool
    lost: bool
    leftovers: list[str]
    missing_text: list[str]

    @property
    def ok(self) -> bool:
        if self.accepted:
            return self.exit_code == 0 and not self.traceback and not self.lost
        return (
            self.exit_code == 2
            and self.one_line
            and not self.traceback
            and not self.lost
            and not self.leftovers
            and not self.missing_text
        )


def judge_outcome(
    case: Case,
    attempt: Attempt,
    code: int,
    stderr: str,
    before: dict | None,
    after: dict | None,
    case_dir: Path,
) -> Outcome:
    """Check one attempt against the target (see the module docstring)."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    one_line = len(lines) == 1 and ERROR_LINE.match(lines[0]) is not None
    leftovers = [str(p) for p in attempt.absent if p.exists()]
    leftovers += [str(p) for p in case_dir.rglob("*.partial")]
    return Outcome(
        case=case.name,
        group=case.group,
        accepted=case.accepted,
        exit_code=code,
        stderr=stderr.strip()[-2000:],
        one_line=one_line,
        traceback="Traceback (most recent call last)" in stderr,
        lost=before is not None and after is not None and data_lost(before, after),
        leftovers=leftovers,
        missing_text=[text for text in attempt.stderr_has if text not in stderr],
    )


Runner = Callable[[list[str], Attempt], tuple[int, str]]


def run_in_process(argv: list[str], attempt: Attempt) -> tuple[int, str]:
    """``ares ARGV`` through ``cli.main`` in this process: (exit code, stderr)."""
    import contextlib
    import io
    import traceback

    from ares_rlhf.cli import main

    if attempt.file_size_limit is not None:
        raise ValueError("a file size limit needs a subprocess")
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        except Exception:
            traceback.print_exc(file=err)
            code = 1
    return code, err.getvalue()


def run_subprocess(argv: list[str], attempt: Attempt, timeout: float = 300) -> tuple[int, str]:
    """``python -m ares_rlhf.cli ARGV`` in a child process: (exit code, stderr)."""
    import resource
    import signal
    import subprocess
    import sys

    limit = attempt.file_size_limit

    def limit_file_size() -> None:  # runs in the child before exec
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # fail the write with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    done = subprocess.run(
        [sys.executable, "-m", "ares_rlhf.cli", *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=limit_file_size if limit is not None else None,
    )
    return done.returncode, done.stderr


def run_case(case: Case, ws: Workspace, runner: Runner) -> Outcome:
    """Build the case in its own folder, run it, judge it."""
    from ares_rlhf.store.lock import RunLock

    case_dir = ws.enter(case.name)
    attempt = case.build(ws)
    before = run_fingerprint(attempt.guard) if attempt.guard else None
    lock = RunLock(attempt.hold_lock).acquire() if attempt.hold_lock else None
    try:
        code, stderr = runner(attempt.argv, attempt)
    finally:
        if lock is not None:
            lock.release()
        if attempt.cleanup is not None:
            attempt.cleanup()
    after = run_fingerprint(attempt.guard) if attempt.guard else None
    return judge_outcome(case, attempt, code, stderr, before, after, case_dir)


# -- the cases ---------------------------------------------------------------------------------
CASES: list[Case] = []


def case(group: str, *, accepted: bool = False, subprocess_only: bool = False):
    def register(build: Callable[[Workspace], Attempt]) -> Callable[[Workspace], Attempt]:
        name = build.__name__.removeprefix("case_").replace("_", "-")
        CASES.append(Case(name, group, build, accepted, subprocess_only))
        return build

    return register
