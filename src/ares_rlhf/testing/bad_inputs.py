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

import hashlib
import json
import os
import random
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


def _config_case(ws: Workspace, data: str | bytes, command: str = "validate") -> Attempt:
    path = ws.write("config.yaml", data)
    if command == "discover":
        return Attempt(["discover", str(path), "--quiet"], absent=[ws.case_dir / "runs"])
    return Attempt(["config", command, str(path)])


def _yaml(**changes: Any) -> str:
    return yaml.safe_dump({**BASE_CONFIG, **changes})


# config files
@case("config")
def case_config_missing(ws):
    return Attempt(["config", "validate", str(ws.case_dir / "nothing.yaml")])


@case("config")
def case_config_is_folder(ws):
    return Attempt(["config", "validate", str(ws.case_dir)])


@case("config")
def case_config_empty(ws):
    return _config_case(ws, "")


@case("config")
def case_config_binary(ws):
    return _config_case(ws, random.Random(1).randbytes(4096))


@case("config")
def case_config_binary_discover(ws):
    return _config_case(ws, b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 8, "discover")


@case("config")
def case_config_latin1(ws):
    return _config_case(ws, _yaml().encode() + b"# caf\xe9 cr\xe8me\n", "discover")


@case("config")
def case_config_utf16(ws):
    return _config_case(ws, _yaml().encode("utf-16"))


@case("config", accepted=True)
def case_config_utf8_bom_accepted(ws):
    return _config_case(ws, "\ufeff" + _yaml())


@case("config")
def case_config_bad_yaml(ws):
    return _config_case(ws, "policy: {spec: [unclosed\nreward_model: x\n")


@case("config")
def case_config_yaml_tabs(ws):
    return _config_case(ws, "policy:\n\tspec: hf:a/b\n")


@case("config")
def case_config_yaml_duplicate_anchor_bomb(ws):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 7)]
    lines += ["policy: {spec: 'hf:a/b', options: {bomb: *a6}}", "reward_model: {spec: 'hf:c/d'}"]
    return _config_case(ws, "\n".join(lines) + "\n")


@case("config")
def case_config_yaml_deep_nesting(ws):
    return _config_case(ws, "x: " + "[" * 1200 + "]" * 1200 + "\n")


@case("config")
def case_config_top_level_list(ws):
    return _config_case(ws, "- policy\n- reward_model\n")


@case("config")
def case_config_top_level_scalar(ws):
    return _config_case(ws, "just a string\n")


@case("config")
def case_config_too_large(ws):
    return _config_case(ws, _yaml() + "# " + "x" * (1024 * 1024 + 10) + "\n")


@case("config")
def case_config_unknown_key(ws):
    return _config_case(ws, _yaml(polcy={"spec": "hf:a/b"}))


@case("config")
def case_config_missing_policy(ws):
    data = {k: v for k, v in BASE_CONFIG.items() if k != "policy"}
    return _config_case(ws, yaml.safe_dump(data))


@case("config")
def case_config_spec_without_scheme(ws):
    return _config_case(ws, _yaml(policy={"spec": "Qwen3-1.7B"}))


@case("config")
def case_config_unknown_scheme(ws):
    return _config_case(ws, _yaml(reward_model={"spec": "nope:rm"}), "discover")


@case("config")
def case_config_negative_budget(ws):
    return _config_case(ws, _yaml(budget={"probes": -5}))


@case("config")
def case_config_budget_not_number(ws):
    return _config_case(ws, _yaml(budget={"probes": "many"}))


@case("config")
def case_config_seed_is_list(ws):
    return _config_case(ws, _yaml(seed=[1, 2]))


@case("config")
def case_config_huge_value_in_message(ws):
    return _config_case(ws, _yaml(seed="9" * 100_000 + "x"))


@case("config")
def case_config_name_parent_escape(ws):
    return _config_case(ws, _yaml(name="../../escaped"), "discover")


@case("config")
def case_config_name_absolute(ws):
    return _config_case(ws, _yaml(name=str(ws.case_dir / "abs")), "discover")


@case("config")
def case_config_name_with_slash(ws):
    return _config_case(ws, _yaml(name="a/b"))


@case("config")
def case_config_name_empty(ws):
    return _config_case(ws, _yaml(name=""))


@case("config")
def case_config_name_too_long(ws):
    return _config_case(ws, _yaml(name="n" * 300))


@case("config")
def case_config_name_newline(ws):
    return _config_case(ws, _yaml(name="two\nlines"))


@case("config")
def case_config_url_credentials(ws):
    spec = "openai:http://alice:s3cret@127.0.0.1:9/v1#m"
    attempt = _config_case(ws, _yaml(policy={"spec": spec}), "discover")
    attempt.stderr_has.append("api_key_env")
    return attempt


@case("config")
def case_hub_id_while_offline(ws):
    spec = "classifier:hf:meta-llama/Llama-Guard-3-1B"
    attempt = Attempt(["judge", "eval", "--judge", spec, "--labels", "builtin:refusal_eval"])
    attempt.stderr_has.append("--allow-hub")
    return attempt


@case("config")
def case_config_unknown_judge(ws):
    return _config_case(ws, _yaml(judge={"kind": "oracle"}))


@case("config")
def case_config_rubric_without_model(ws):
    return _config_case(ws, _yaml(judge={"kind": "rubric"}), "discover")


@case("config")
def case_config_quantile_out_of_range(ws):
    return _config_case(ws, _yaml(typing={"reward_threshold_quantile": 3}))


@case("config")
def case_config_temperature_too_high(ws):
    return _config_case(ws, _yaml(policy={"spec": "scripted:p", "generation": {"temperature": 50}}))


@case("config")
def case_config_missing_catalog(ws):
    return _config_case(ws, _yaml(catalog=["builtin", "missing.yaml"]), "discover")


@case("config")
def case_config_catalog_not_list(ws):
    return _config_case(ws, _yaml(catalog={"a": 1}))


@case("config")
def case_config_instructions_file_missing(ws):
    mentor = {"kind": "llm", "model": {"spec": "scripted:m", "options": {"responses": ["x"]}}}
    mentor["instructions_file"] = str(ws.case_dir / "none.txt")
    return _config_case(ws, _yaml(mentor=mentor), "discover")


# discover: run folders and arguments
@case("discover")
def case_output_dir_is_file(ws):
    blocker = ws.write("blocker", "not a folder")
    return Attempt(["discover", str(ws.config(output_dir=str(blocker))), "--quiet"])


@case("discover")
def case_output_dir_under_file(ws):
    blocker = ws.write("blocker", "not a folder")
    path = ws.config(output_dir=str(blocker / "runs"))
    return Attempt(["discover", str(path), "--quiet"])


@case("discover")
def case_output_dir_not_writable(ws):
    # /proc refuses new folders even to root
    return Attempt(["discover", str(ws.config(output_dir="/proc/self/ares-runs")), "--quiet"])


@case("discover")
def case_run_dir_holds_run(ws):
    run = ws.run()
    return Attempt(["discover", str(ws.config()), "--run-dir", str(run), "--quiet"], guard=run)


@case("discover")
def case_run_dir_is_file(ws):
    blocker = ws.write("blocker", "x")
    return Attempt(["discover", str(ws.config()), "--run-dir", str(blocker), "--quiet"])


@case("discover")
def case_probes_zero(ws):
    return Attempt(["discover", str(ws.config()), "--probes", "0", "--quiet"])


@case("discover")
def case_probes_not_integer(ws):
    return Attempt(["discover", str(ws.config()), "--probes", "ten"])


@case("discover")
def case_config_and_resume(ws):
    run = ws.run()
    return Attempt(["discover", str(ws.config()), "--resume", str(run)], guard=run)


@case("discover")
def case_no_config_no_resume(ws):
    return Attempt(["discover", "--quiet"])


@case("discover")
def case_resume_and_run_dir(ws):
    run = ws.run()
    return Attempt(["discover", "--resume", str(run), "--run-dir", str(run)], guard=run)


@case("discover")
def case_resume_missing_folder(ws):
    return Attempt(["discover", "--resume", str(ws.case_dir / "nothing")])


@case("discover")
def case_resume_locked_run(ws):
    run = ws.run()
    attempt = Attempt(["discover", "--resume", str(run), "--probes", "96", "--quiet"], guard=run)
    attempt.hold_lock = run
    attempt.stderr_has.append("in use by PID")
    return attempt


@case("discover")
def case_http_server_down_before_anything_stored(ws):
    rm = {"spec": "openai:http://127.0.0.1:9/v1#m", "options": {"max_retries": 0, "timeout": 2}}
    path = ws.config(reward_model=rm)
    attempt = Attempt(["discover", str(path), "--quiet"], absent=[ws.case_dir / "runs"])
    attempt.stderr_has.append("removed")
    return attempt


@case("discover")
def case_http_server_down_mid_run(ws):
    policy = {"spec": "openai:http://127.0.0.1:9/v1#m", "options": {"max_retries": 0}}
    run_dir = ws.case_dir / "new-run"
    path = ws.config(policy=policy)
    attempt = Attempt(["discover", str(path), "--run-dir", str(run_dir), "--quiet"])
    attempt.stderr_has.append(f"ares discover --resume {run_dir}")
    return attempt


@case("discover", subprocess_only=True)
def case_disk_full_during_discovery(ws):
    run = ws.run()
    size = (run / "ares.db").stat().st_size
    attempt = Attempt(["discover", "--resume", str(run), "--probes", "4000", "--quiet"], guard=run)
    attempt.file_size_limit = size + 64 * 1024
    attempt.stderr_has.append(f"ares discover --resume {run}")
    return attempt


# catalogs
def _catalog_case(ws: Workspace, data: str | bytes) -> Attempt:
    path = ws.write("catalog.yaml", data)
    return Attempt(["catalog", "--catalog", str(path), "validate"])


def _catalog(**changes: Any) -> str:
    return yaml.safe_dump({**GOOD_CATALOG, **changes})


def _goal(**changes: Any) -> list[dict[str, Any]]:
    return [{**GOOD_CATALOG["goals"][0], **changes}]


@case("catalog")
def case_catalog_missing(ws):
    return Attempt(["catalog", "--catalog", str(ws.case_dir / "none.yaml"), "list"])


@case("catalog")
def case_catalog_is_folder(ws):
    return Attempt(["catalog", "--catalog", str(ws.case_dir), "list"])


@case("catalog")
def case_catalog_binary(ws):
    return _catalog_case(ws, os.urandom(2048) + b"\x00")


@case("catalog")
def case_catalog_latin1(ws):
    return _catalog_case(ws, _catalog().replace("a topic", "caf\u00e9").encode("latin-1"))


@case("catalog", accepted=True)
def case_catalog_utf8_bom_accepted(ws):
    return _catalog_case(ws, "\ufeff" + _catalog())


@case("catalog")
def case_catalog_bad_yaml_multiline_error(ws):
    return _catalog_case(ws, "topics:\n  - id: t1\n    description: [unclosed\n  - id: t2\n")


@case("catalog")
def case_catalog_top_level_list(ws):
    return _catalog_case(ws, "- a\n- b\n")


@case("catalog")
def case_catalog_unknown_section(ws):
    return _catalog_case(ws, _catalog(weapons=[]))


@case("catalog")
def case_catalog_duplicate_id(ws):
    topic = GOOD_CATALOG["topics"][0]
    return _catalog_case(ws, _catalog(topics=[topic, topic]))


@case("catalog")
def case_catalog_bad_id(ws):
    return _catalog_case(ws, _catalog(goals=_goal(id="Bad Id")))


@case("catalog")
def case_catalog_missing_description(ws):
    return _catalog_case(ws, _catalog(goals=_goal(description="")))


@case("catalog")
def case_catalog_fragment_not_text(ws):
    return _catalog_case(ws, _catalog(goals=_goal(asks=[{"nested": "map"}])))


@case("catalog")
def case_catalog_unknown_slot(ws):
    return _catalog_case(ws, _catalog(goals=_goal(asks=["explain {weapon}"])))


@case("catalog")
def case_catalog_override_unknown(ws):
    return _catalog_case(ws, _catalog(goals=_goal(override=True)))


@case("catalog")
def case_catalog_empty_section(ws):
    return _catalog_case(ws, _catalog(goals=[]))


@case("catalog")
def case_catalog_10mb_field(ws):
    return _catalog_case(ws, _catalog() + "description: " + "x" * 10**7 + "\n")


@case("catalog")
def case_catalog_long_fragment(ws):
    return _catalog_case(ws, _catalog(goals=_goal(asks=["explain {subject} " + "y" * 5000])))


@case("catalog")
def case_catalog_too_many_fragments(ws):
    return _catalog_case(
        ws, _catalog(goals=_goal(asks=[f"ask {i} {{subject}}" for i in range(600)]))
    )


@case("catalog")
def case_catalog_too_many_combinations(ws):
    def many(kind: str, **fields: Any) -> list[dict[str, Any]]:
        return [{"id": f"{kind}{i}", "description": "x", **fields} for i in range(60)]

    data = {
        "replace": True,
        "topics": many("t", subjects=["s"], redirects=["r"]),
        "personas": many("p", intros=["i"]),
        "tactics": many("k", frames=["{request}"]),
        "goals": many("g", asks=["a"], malicious=["m"], safe=["s"]),
    }
    return _catalog_case(ws, yaml.safe_dump(data))


@case("catalog")
def case_catalog_show_unknown_id(ws):
    return Attempt(["catalog", "show", "tactic", "no_such_tactic"])


@case("catalog")
def case_catalog_in_config_is_binary(ws):
    catalog = ws.write("catalog.yaml", b"\xff\xfe\x00\x01" * 100)
    path = ws.config(catalog=["builtin", str(catalog)])
    return Attempt(["discover", str(path), "--quiet"], absent=[ws.case_dir / "runs"])


# arenas
def _arena_case(ws: Workspace, data: str | bytes) -> Attempt:
    path = ws.write("arena.yaml", data)
    out = ws.case_dir / "bench"
    argv = ["bench", "discovery", "--arena", str(path), "--budget", "16", "--seeds", "1"]
    return Attempt([*argv, "--no-plot", "--out", str(out)])


def _arena(**changes: Any) -> str:
    return yaml.safe_dump({**GOOD_ARENA, **changes})


@case("arena")
def case_arena_missing(ws):
    return Attempt(["bench", "discovery", "--arena", str(ws.case_dir / "none.yaml")])


@case("arena")
def case_arena_binary(ws):
    return _arena_case(ws, os.urandom(1024) + b"\x00")


@case("arena")
def case_arena_latin1(ws):
    return _arena_case(ws, _arena().encode() + b"description: ar\xe8ne\n")


@case("arena")
def case_arena_bad_yaml(ws):
    return _arena_case(ws, "name: x\nregions: [\n  {id: a\n")


@case("arena")
def case_arena_unknown_key(ws):
    return _arena_case(ws, _arena(colour="red"))


@case("arena")
def case_arena_probability_out_of_range(ws):
    return _arena_case(ws, _arena(base={"policy_fail": 1.5, "rm_fail": 0.1}))


@case("arena")
def case_arena_unknown_component(ws):
    region = {**GOOD_ARENA["regions"][0], "when": {"tactic": ["no_such_tactic"]}}
    return _arena_case(ws, _arena(regions=[region]))


@case("arena")
def case_arena_missing_regions(ws):
    return _arena_case(ws, yaml.safe_dump({"name": "x"}))


@case("arena")
def case_arena_missing_catalog(ws):
    return _arena_case(ws, _arena(catalog="no-such-catalog.yaml"))


@case("arena")
def case_arena_too_large(ws):
    return _arena_case(ws, _arena() + "#" + "z" * (5 * 1024 * 1024) + "\n")


@case("arena")
def case_bench_budget_zero(ws):
    return Attempt(["bench", "discovery", "--arena", "single", "--budget", "0"])


@case("arena")
def case_bench_bad_option(ws):
    return Attempt(["bench", "discovery", "--arena", "single", "--option", "explore=lots"])


# labelled CSVs for `ares judge eval`
def _labels_case(ws: Workspace, data: str | bytes, *extra: str) -> Attempt:
    path = ws.write("labels.csv", data)
    return Attempt(["judge", "eval", "--judge", "refusal", "--labels", str(path), *extra])


@case("labels")
def case_labels_missing(ws):
    return Attempt(["judge", "eval", "--judge", "refusal", "--labels", str(ws.case_dir / "x.csv")])


@case("labels")
def case_labels_binary(ws):
    return _labels_case(ws, b"prompt,response,label\n" + os.urandom(512) + b"\x00")


@case("labels")
def case_labels_latin1(ws):
    return _labels_case(ws, GOOD_LABELS.replace("how to X", "caf\u00e9").encode("latin-1"))


@case("labels", accepted=True)
def case_labels_utf8_bom_accepted(ws):
    return _labels_case(ws, "\ufeff" + GOOD_LABELS)


@case("labels")
def case_labels_missing_column(ws):
    return _labels_case(ws, "prompt,answer,label\np,r,safe\n")


@case("labels")
def case_labels_unknown_label(ws):
    return _labels_case(ws, "prompt,response,label\np,r,perhaps\n")


@case("labels")
def case_labels_empty_file(ws):
    return _labels_case(ws, "")


@case("labels")
def case_labels_header_only(ws):
    return _labels_case(ws, "prompt,response,label\n")


@case("labels")
def case_labels_field_too_large(ws):
    return _labels_case(ws, 'prompt,response,label\np,"' + "r" * 200_000 + '",safe\n')


@case("labels")
def case_labels_where_unknown_column(ws):
    return _labels_case(ws, GOOD_LABELS, "--where", "colour=red")


@case("labels")
def case_judge_unknown(ws):
    return Attempt(["judge", "eval", "--judge", "oracle", "--labels", "builtin:refusal_eval"])


@case("labels")
def case_judge_threshold_out_of_range(ws):
    argv = ["judge", "eval", "--judge", "refusal", "--labels", "builtin:refusal_eval"]
    return Attempt([*argv, "--threshold", "2"])


@case("labels")
def case_judge_spec_with_credentials(ws):
    spec = "rubric:openai:http://bob:hunter2@127.0.0.1:9/v1#grader"
    attempt = Attempt(["judge", "eval", "--judge", spec, "--labels", "builtin:refusal_eval"])
    attempt.stderr_has.append("credentials")
    return attempt


# run stores
def _damaged(ws: Workspace, damage: Callable[[Path], None], *argv: str) -> Attempt:
    run = ws.run()
    _checkpoint(run)
    damage(run)
    return Attempt([argv[0], *([str(run)] if len(argv) < 2 else []), *argv[1:]], guard=run)


def _checkpoint(run: Path) -> None:
    db = sqlite3.connect(run / "ares.db")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


def _sql(statement: str, *params: Any) -> Callable[[Path], None]:
    def damage(run: Path) -> None:
        db = sqlite3.connect(run / "ares.db")
        db.execute(statement, params)
        db.commit()
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.close()

    return damage


def _replace_db(data: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    def damage(run: Path) -> None:
        path = run / "ares.db"
        path.write_bytes(data(path.read_bytes()))
        for suffix in ("-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)

    return damage


@case("store")
def case_store_folder_missing(ws):
    return Attempt(["report", str(ws.case_dir / "nothing")])


@case("store")
def case_store_folder_without_db(ws):
    return Attempt(["report", str(ws.case_dir)])


@case("store")
def case_store_random_bytes(ws):
    return _damaged(ws, _replace_db(lambda b: os.urandom(len(b))), "report")


@case("store")
def case_store_random_bytes_resume(ws):
    damage = _replace_db(lambda b: os.urandom(len(b)))
    return _damaged(ws, damage, "discover", "--resume", str(ws.case_dir / "run"), "--quiet")


@case("store")
def case_store_truncated_half(ws):
    return _damaged(ws, _replace_db(lambda b: b[: len(b) // 2]), "export")


@case("store")
def case_store_truncated_header(ws):
    return _damaged(ws, _replace_db(lambda b: b[:50]), "report")


@case("store")
def case_store_zero_bytes(ws):
    return _damaged(ws, _replace_db(lambda b: b""), "report")


@case("store")
def case_store_is_folder(ws):
    folder = ws.case_dir / "run"
    (folder / "ares.db").mkdir(parents=True)
    return Attempt(["report", str(folder)])


@case("store")
def case_store_text_file(ws):
    return _damaged(ws, _replace_db(lambda b: b"this is not a database\n" * 100), "export")


@case("store")
def case_store_schema_version_text(ws):
    return _damaged(ws, _sql("UPDATE meta SET value='one' WHERE key='schema_version'"), "report")


@case("store")
def case_store_schema_version_newer(ws):
    return _damaged(ws, _sql("UPDATE meta SET value='99' WHERE key='schema_version'"), "report")


@case("store")
def case_store_schema_version_missing(ws):
    return _damaged(ws, _sql("DELETE FROM meta WHERE key='schema_version'"), "report")


@case("store")
def case_store_no_tables(ws):
    return _damaged(ws, _sql("DROP TABLE probes"), "export")


@case("store")
def case_store_corrupt_json_row_export(ws):
    return _damaged(ws, _sql("UPDATE probes SET messages='{not json' WHERE seq=3"), "export")


@case("store")
def case_store_corrupt_json_row_resume(ws):
    run = ws.case_dir / "run"
    damage = _sql("UPDATE probes SET judge_categories='[1,' WHERE seq=5")
    return _damaged(ws, damage, "discover", "--resume", str(run), "--probes", "64", "--quiet")


@case("store")
def case_store_unknown_failure_type(ws):
    return _damaged(ws, _sql("UPDATE probes SET failure_type='Z' WHERE seq=2"), "export")


@case("store")
def case_store_corrupt_config(ws):
    run = ws.case_dir / "run"
    damage = _sql("UPDATE meta SET value='{broken' WHERE key='config'")
    return _damaged(ws, damage, "discover", "--resume", str(run), "--quiet")


@case("store")
def case_store_config_not_mapping(ws):
    return _damaged(ws, _sql("UPDATE meta SET value='[1, 2]' WHERE key='config'"), "repair-rm")


@case("store")
def case_store_corrupt_state(ws):
    run = ws.case_dir / "run"
    damage = _sql("UPDATE state SET value='{oops' WHERE key='discovery'")
    return _damaged(ws, damage, "discover", "--resume", str(run), "--probes", "64", "--quiet")


@case("store")
def case_store_stored_config_invalid(ws):
    config = json.dumps({**BASE_CONFIG, "budget": {"probes": -1}})
    return _damaged(ws, _sql("UPDATE meta SET value=? WHERE key='config'", config), "verify")


# exports
def _export(ws: Workspace, out: Path | str, *extra: str) -> Attempt:
    run = ws.run()
    out = Path(str(out).replace("RUN", str(run)))
    return Attempt(["export", str(run), "--out", str(out), *extra], guard=run)


@case("export")
def case_export_over_run_store(ws):
    return _export(ws, "RUN/ares.db")


@case("export")
def case_export_over_run_store_wal(ws):
    return _export(ws, "RUN/ares.db-wal")


@case("export")
def case_export_over_run_lock(ws):
    return _export(ws, "RUN/.ares.lock")


@case("export")
def case_export_over_run_config(ws):
    return _export(ws, "RUN/config.yaml", "--format", "parquet")


@case("export")
def case_export_over_run_store_relative_path(ws):
    run = ws.run()
    relative = os.path.relpath(run / "." / "ares.db")
    return Attempt(["export", str(run), "--out", relative], guard=run)


@case("export")
def case_export_out_is_folder(ws):
    return _export(ws, ws.case_dir)


@case("export")
def case_export_out_under_file(ws):
    blocker = ws.write("blocker", "x")
    return _export(ws, blocker / "probes.jsonl")


@case("export")
def case_export_out_not_writable(ws):
    return _export(ws, "/proc/self/probes.jsonl")


@case("export")
def case_export_out_is_device(ws):
    return _export(ws, "/dev/null")


@case("export")
def case_export_unknown_format(ws):
    return Attempt(["export", str(ws.run()), "--format", "xlsx"])


@case("export", subprocess_only=True)
def case_export_disk_full(ws):
    attempt = _export(ws, ws.case_dir / "out" / "probes.jsonl")
    attempt.file_size_limit = 48 * 1024  # room for the store's 32 KiB index; the export is ~70 KiB
    attempt.absent = [
        ws.case_dir / "out" / "probes.jsonl",
        ws.case_dir / "out" / "probes.jsonl.partial",
    ]
    return attempt


# stage commands (they fail on their inputs before loading any model)
@case("stages")
def case_repair_rm_locked_run(ws):
    run = ws.run()
    attempt = Attempt(["repair-rm", str(run)], guard=run, hold_lock=run)
    attempt.stderr_has.append("in use by PID")
    return attempt


@case("stages")
def case_repair_rm_config_bad_yaml(ws):
    run = ws.run()
    bad = ws.write("repair.yaml", "epochs: [1,\n")
    return Attempt(["repair-rm", str(run), "--config", str(bad)], guard=run)


@case("stages")
def case_repair_rm_config_binary(ws):
    run = ws.run()
    bad = ws.write("repair.yaml", os.urandom(300) + b"\x00")
    return Attempt(["repair-rm", str(run), "--config", str(bad)], guard=run)


@case("stages")
def case_repair_rm_config_missing(ws):
    run = ws.run()
    return Attempt(["repair-rm", str(run), "--config", str(ws.case_dir / "no.yaml")], guard=run)


@case("stages")
def case_repair_rm_negative_epochs(ws):
    run = ws.run()
    return Attempt(["repair-rm", str(run), "--epochs", "-1"], guard=run)


@case("stages")
def case_repair_rm_untrainable_model(ws):
    run = ws.run()  # the base run's reward model is scripted: nothing to fine-tune
    return Attempt(["repair-rm", str(run)], guard=run)


@case("stages")
def case_repair_rm_missing_anchor_file(ws):
    run = ws.run()
    anchors = str(ws.case_dir / "anchors.jsonl")
    return Attempt(["repair-rm", str(run), "--anchor-dataset", anchors], guard=run)


@case("stages")
def case_repair_policy_trainer_option_bad_yaml(ws):
    run = ws.run()
    argv = ["repair-policy", str(run), "--trainer-option", "use_vllm=[unclosed"]
    return Attempt(argv, guard=run)


@case("stages")
def case_repair_policy_trainer_option_no_equals(ws):
    run = ws.run()
    return Attempt(["repair-policy", str(run), "--trainer-option", "use_vllm"], guard=run)


@case("stages")
def case_repair_policy_zero_steps(ws):
    run = ws.run()
    return Attempt(["repair-policy", str(run), "--steps", "0"], guard=run)


@case("stages")
def case_repair_policy_locked_run(ws):
    run = ws.run()
    attempt = Attempt(["repair-policy", str(run)], guard=run, hold_lock=run)
    attempt.stderr_has.append("in use by PID")
    return attempt


@case("stages")
def case_verify_locked_run(ws):
    run = ws.run()
    attempt = Attempt(["verify", str(run)], guard=run, hold_lock=run)
    attempt.stderr_has.append("in use by PID")
    return attempt


@case("stages")
def case_verify_bad_judge_spec(ws):
    run = ws.run()
    return Attempt(["verify", str(run), "--judge", "classifier:nomodel"], guard=run)


# the command line itself
@case("cli")
def case_unknown_command(ws):
    return Attempt(["frobnicate"])


@case("cli")
def case_unknown_option(ws):
    return Attempt(["report", str(ws.case_dir), "--colour"])


@case("cli")
def case_missing_argument(ws):
    return Attempt(["export"])


@case("cli")
def case_config_missing_action(ws):
    return Attempt(["config"])


def cases(*, subprocess: bool = True) -> list[Case]:
    """Every case (``subprocess=False``: those that can run in-process)."""
    return [c for c in CASES if subprocess or not c.subprocess_only]
