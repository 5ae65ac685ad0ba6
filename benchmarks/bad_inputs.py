"""Bad inputs and faults through the real ``ares`` CLI: one line, exit 2, no traceback, no data lost.

Every case of ``ares_rlhf.testing.bad_inputs`` runs as its own ``python -m ares_rlhf.cli``
subprocess (a binary config, a damaged store, an export aimed at the run store, a locked run,
a server that is down, a full disk...). Then the faults that interrupt a running discovery:

* ``kill -9`` at random points (several times in one run), then ``--resume``;
* Ctrl-C (SIGINT), then the resume command the CLI printed;
* the HTTP server failing mid-run (every request answered 500), then ``--resume``;
* a really full disk (a 1 MiB tmpfs, when this process may mount one), then ``--resume`` on a
  copy of the run on a normal disk;
* two ``--resume`` at once (concurrent writers).

Each interrupted run must end exactly as an uninterrupted run with the same seed (0 probes lost
or duplicated).

    python benchmarks/bad_inputs.py [--only GROUP] [--no-tmpfs]

Prints a table per group, then (last line) one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

import yaml

from ares_rlhf.testing.bad_inputs import (
    ERROR_LINE,
    Workspace,
    cases,
    deterministic_config,
    make_base_run,
    run_case,
    run_subprocess,
)
from ares_rlhf.testing.fake_openai import FakeOpenAIServer

FAULT_PROBES = 480


def ares(*argv: str) -> list[str]:
    return [sys.executable, "-m", "ares_rlhf.cli", *argv]


def fingerprint(run_dir: Path) -> list[tuple]:
    db = sqlite3.connect(f"file:{run_dir / 'ares.db'}?mode=ro", uri=True)
    try:
        return list(
            db.execute(
                "SELECT batch, topic, persona, tactic, goal, prompt, policy_response, failure_type "
                "FROM probes WHERE phase='discovery' ORDER BY seq"
            )
        )
    finally:
        db.close()


def stored_probes(run_dir: Path) -> int:
    try:
        db = sqlite3.connect(f"file:{run_dir / 'ares.db'}?mode=ro", uri=True, timeout=1)
        try:
            return db.execute("SELECT COUNT(*) FROM probes").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error:
        return 0


def compare(run_dir: Path, reference: list[tuple]) -> dict[str, int | bool]:
    """Probes lost / duplicated against an uninterrupted run, and whether all else is equal."""
    got = fingerprint(run_dir)
    counts = Counter(got)
    return {
        "probes": len(got),
        "lost": sum(1 for row in set(reference) if row not in counts),
        "duplicated": sum(n - 1 for n in counts.values() if n > 1),
        "identical": got == reference,
    }


def one_error_line(stderr: str) -> bool:
    """Exactly one ``ares CMD: error:`` line, last, and no traceback (progress warnings such as
    the HTTP backend's retries may come before it)."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if ERROR_LINE.match(line)]
    return (
        len(errors) == 1
        and lines[-1] == errors[0]
        and "Traceback (most recent call last)" not in stderr
    )


def other_lines(stderr: str) -> int:
    return sum(1 for line in stderr.splitlines() if line.strip() and not ERROR_LINE.match(line))


def write_config(folder: Path, name: str, **changes) -> Path:
    data = {**deterministic_config(FAULT_PROBES), **changes}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def wait_for_probes(run_dir: Path, more_than: int, child: subprocess.Popen) -> None:
    deadline = time.monotonic() + 300
    while stored_probes(run_dir) <= more_than and child.poll() is None:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{run_dir}: no progress")
        time.sleep(0.02)


# -- faults ------------------------------------------------------------------------------------
def fault_kill9(folder: Path, reference: list[tuple], config: Path, kills: int = 6) -> dict:
    run_dir = folder / "kill9"
    rng = random.Random(7)
    command = ares("discover", str(config), "--run-dir", str(run_dir), "--quiet")
    done = 0
    for _ in range(kills):
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_probes(run_dir, stored_probes(run_dir), child)
        time.sleep(rng.uniform(0.0, 0.4))
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
            done += 1
        child.wait()
        command = ares("discover", "--resume", str(run_dir), "--quiet")
    final = subprocess.run(command, capture_output=True, text=True)
    return {"kills": done, "exit": final.returncode, **compare(run_dir, reference)}


def fault_sigint(folder: Path, reference: list[tuple], config: Path) -> dict:
    run_dir = folder / "sigint"
    child = subprocess.Popen(
        ares("discover", str(config), "--run-dir", str(run_dir), "--quiet"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for_probes(run_dir, 0, child)
    child.send_signal(signal.SIGINT)
    stderr = child.communicate(timeout=120)[1]
    hint = f"ares discover --resume {run_dir}"
    resumed = subprocess.run(ares(*hint.split()[1:], "--quiet"), capture_output=True, text=True)
    return {
        "exit": child.returncode,
        "one_line": one_error_line(stderr),
        "other_lines": other_lines(stderr),
        "says_how_to_resume": hint in stderr,
        "resume_exit": resumed.returncode,
        **compare(run_dir, reference),
    }


def fault_http(folder: Path) -> dict:
    """The policy's server starts answering 500 mid-run; resume after it recovers."""
    with FakeOpenAIServer() as server:
        policy = {"spec": f"openai:{server.url}#fake", "options": {"max_retries": 1}}
        config = write_config(folder, "http", policy=policy)
        whole = folder / "http-whole"
        subprocess.run(
            ares("discover", str(config), "--run-dir", str(whole), "--quiet"),
            check=True,
            capture_output=True,
        )
        reference = fingerprint(whole)
        run_dir = folder / "http"
        server.reset_stats()
        stop = threading.Event()

        def break_server() -> None:
            while not stop.is_set() and server.stats.requests < FAULT_PROBES // 2:
                time.sleep(0.01)
            server.set_behavior(failure="500")

        breaker = threading.Thread(target=break_server, daemon=True)
        breaker.start()
        failed = subprocess.run(
            ares("discover", str(config), "--run-dir", str(run_dir), "--quiet"),
            capture_output=True,
            text=True,
        )
        stop.set()
        breaker.join()
        stored = stored_probes(run_dir)
        server.set_behavior(failure="none")
        resumed = subprocess.run(
            ares("discover", "--resume", str(run_dir), "--quiet"), capture_output=True, text=True
        )
    return {
        "exit": failed.returncode,
        "one_line": one_error_line(failed.stderr),
        "other_lines": other_lines(failed.stderr),
        "says_how_to_resume": f"ares discover --resume {run_dir}" in failed.stderr,
        "stored_before_resume": stored,
        "resume_exit": resumed.returncode,
        **compare(run_dir, reference),
    }


def fault_disk_full(folder: Path, reference: list[tuple], config: Path) -> dict:
    """A run folder on a 1 MiB tmpfs fills up; resume on a normal disk."""
    mount = folder / "tmpfs"
    mount.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True
    )
    if mounted.returncode != 0:
        return {"skipped": "cannot mount a tmpfs here (needs root)"}
    try:
        run_dir = mount / "run"
        failed = subprocess.run(
            ares("discover", str(config), "--run-dir", str(run_dir), "--quiet"),
            capture_output=True,
            text=True,
        )
        stored = stored_probes(run_dir)
        moved = folder / "disk-full"
        shutil.copytree(run_dir, moved)
    finally:
        subprocess.run(["umount", str(mount)], check=False)
    resumed = subprocess.run(
        ares("discover", "--resume", str(moved), "--quiet"), capture_output=True, text=True
    )
    return {
        "exit": failed.returncode,
        "one_line": one_error_line(failed.stderr),
        "other_lines": other_lines(failed.stderr),
        "says_how_to_resume": f"ares discover --resume {run_dir}" in failed.stderr,
        "stored_before_resume": stored,
        "resume_exit": resumed.returncode,
        **compare(moved, reference),
    }


def fault_concurrent(folder: Path, reference: list[tuple], config: Path) -> dict:
    """Two ``--resume`` of one run at the same moment: one must be refused, none duplicates."""
    run_dir = folder / "concurrent"
    subprocess.run(
        ares("discover", str(config), "--run-dir", str(run_dir), "--probes", "8", "--quiet"),
        check=True,
        capture_output=True,
    )
    command = ares("discover", "--resume", str(run_dir), "--probes", str(FAULT_PROBES), "--quiet")
    children = [
        subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    results = [(child.wait(), child.stderr.read()) for child in children]
    refused = sum(1 for code, err in results if code == 2 and "in use by PID" in err)
    return {
        "writers": 2,
        "refused": refused,
        "exits": sorted(code for code, _ in results),
        **compare(run_dir, reference),
    }


# -- report ------------------------------------------------------------------------------------
def print_table(rows: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="run only this group of bad inputs (and no faults)")
    parser.add_argument("--no-tmpfs", action="store_true", help="skip the real full-disk fault")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--faults-only", action="store_true", help="skip the bad-input cases")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="ares-bad-inputs-"))
    started = time.perf_counter()
    try:
        base = make_base_run(
            root / "base",
            main=lambda argv: subprocess.run(ares(*argv), capture_output=True).returncode,
        )
        workspace = Workspace(root / "cases", base)
        outcomes = [
            run_case(case, workspace, run_subprocess)
            for case in cases()
            if not args.faults_only and (not args.only or case.group == args.only)
        ]
        faults: dict[str, dict] = {}
        if not args.only:
            folder = root / "faults"
            folder.mkdir()
            config = write_config(folder, "faults")
            whole = folder / "whole"
            subprocess.run(
                ares("discover", str(config), "--run-dir", str(whole), "--quiet"),
                check=True,
                capture_output=True,
            )
            reference = fingerprint(whole)
            killed = fault_kill9(folder, reference, config)
            faults[f"kill -9 at {killed['kills']} random points, then --resume"] = killed
            faults["Ctrl-C, then the printed resume"] = fault_sigint(folder, reference, config)
            faults["HTTP 500 mid-run, then --resume"] = fault_http(folder)
            if not args.no_tmpfs:
                faults["disk full (1 MiB tmpfs), then --resume"] = fault_disk_full(
                    folder, reference, config
                )
            faults["two --resume at once"] = fault_concurrent(folder, reference, config)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    seconds = time.perf_counter() - started

    errors = [o for o in outcomes if not o.accepted]
    accepted = [o for o in outcomes if o.accepted]
    groups: dict[str, list] = defaultdict(list)
    for outcome in errors:
        groups[outcome.group].append(outcome)
    rows = [["group", "kinds", "one line + exit 2", "tracebacks", "data lost", "left behind"]]
    for group, found in groups.items():
        rows.append(
            [
                group,
                str(len(found)),
                str(sum(o.ok for o in found)),
                str(sum(o.traceback for o in found)),
                str(sum(o.lost for o in found)),
                str(sum(bool(o.leftovers) for o in found)),
            ]
        )
    ok = sum(o.ok for o in errors)
    rows.append(
        [
            "all",
            str(len(errors)),
            f"{ok} ({100 * ok / max(len(errors), 1):.0f}%)",
            str(sum(o.traceback for o in errors)),
            str(sum(o.lost for o in errors)),
            str(sum(bool(o.leftovers) for o in errors)),
        ]
    )
    print(f"bad inputs through 'python -m ares_rlhf.cli' subprocesses ({seconds:.0f} s in all)")
    print_table(rows)
    print(
        f"valid inputs that must be accepted (UTF-8 BOM...): {sum(o.ok for o in accepted)} "
        f"of {len(accepted)} accepted"
    )
    for outcome in outcomes:
        if not outcome.ok:
            print(f"  FAILED {outcome.case}: exit {outcome.exit_code}: {outcome.stderr[-300:]}")
    if faults:
        print()
        fault_rows = [
            ["fault", "exit", "1 error line", "warnings", "resume cmd", "probes", "lost", "dup",
             "same"]
        ]  # fmt: skip
        for name, result in faults.items():
            if "skipped" in result:
                fault_rows.append([name, "skipped: " + result["skipped"], *[""] * 7])
                continue
            fault_rows.append(
                [
                    name,
                    str(result.get("exit", result.get("exits"))),
                    str(result.get("one_line", "-")),
                    str(result.get("other_lines", "-")),
                    str(result.get("says_how_to_resume", "-")),
                    str(result["probes"]),
                    str(result["lost"]),
                    str(result["duplicated"]),
                    str(result["identical"]),
                ]
            )
        print(
            f"faults during a {FAULT_PROBES}-probe discovery (compared with an uninterrupted run)"
        )
        print_table(fault_rows)
    figures = {
        "bad_input_kinds": len(errors),
        "one_line_exit_2": ok,
        "one_line_exit_2_pct": round(100 * ok / max(len(errors), 1), 1),
        "tracebacks": sum(o.traceback for o in errors),
        "data_lost": sum(o.lost for o in errors),
        "left_behind": sum(bool(o.leftovers) for o in errors),
        "accepted_inputs": len(accepted),
        "accepted_ok": sum(o.ok for o in accepted),
        "failed_cases": [o.case for o in outcomes if not o.ok],
        "faults": faults,
        "seconds": round(seconds, 1),
        "python": sys.version.split()[0],
    }
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
