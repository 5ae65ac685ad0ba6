"""Rounds on the embedded default: does round 2 find fewer systemic failures in the system round 1
repaired, without undoing round 1's repair?

Runs the embedded demo pipeline with ``rounds.count = 2`` (one run folder per search-state
option: a fresh search each round, and the search carrying round 1's observations), then prints
per round: fresh-discovery A/B/C rates, combinations fixed / newly broken / still broken,
regressions, held-out A+C (this round's held-out combinations, and round 1's re-measured in round
2), wall time and peak memory; the last line is one JSON object with
``round2_over_round1_type_c``, ``regressed_combinations`` and ``seconds_per_round``.

Round 1 does not depend on the search-state option (it only changes how round 2's search
starts), so with ``--carry both`` round 1 runs once, in the ``reset`` folder, and the ``carry``
folder is a copy of it taken when round 1 is complete; a killed benchmark resumes either folder.

    python benchmarks/rounds.py --benchmarks ../shared/data
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="benchmarks/out/rounds")
    parser.add_argument("--benchmarks", help="benchmark folder for the evaluation stage")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--carry", choices=["reset", "carry", "both"], default="both", help="search state option"
    )
    parser.add_argument("--quick", action="store_true", help="the quick demo config (smoke test)")
    return parser.parse_args(argv)


def run_dir_for(args: argparse.Namespace, carry: bool) -> Path:
    return Path(args.out) / f"rounds-{'carry' if carry else 'reset'}"


def run_rounds(args: argparse.Namespace, carry: bool, rounds: int | None = None) -> dict[str, Any]:
    """Run (or resume) one option's folder through ``rounds`` rounds (default ``--rounds``)."""
    from ares_rlhf.config import parse_config
    from ares_rlhf.embedded.demo import demo_config
    from ares_rlhf.pipeline import StageUI, run_pipeline
    from ares_rlhf.run import Run

    run_dir = run_dir_for(args, carry)
    resume = (run_dir / "ares.db").is_file()
    if resume:
        run = Run.open(run_dir, writer=True)
    else:
        config = demo_config(quick=args.quick, seed=args.seed, benchmarks=args.benchmarks)
        data = config.model_dump(mode="json")
        data["name"] = run_dir.name
        data["rounds"] = {**data["rounds"], "count": args.rounds, "carry_search_state": carry}
        run = Run.create(parse_config(data, source="benchmarks/rounds.py"), run_dir)
    with run:
        # a forked folder holds the reset option's stored config: the option is set here
        run.override("rounds", {"count": rounds or args.rounds, "carry_search_state": carry})
        summary = run_pipeline(
            run,
            ui=StageUI(
                say=lambda m: print(f"[{run_dir.name}] {m}", flush=True), show_progress=False
            ),
            resume=resume,
        )
    return summary


def fork_after_round_one(args: argparse.Namespace) -> None:
    """Run round 1 once in the reset folder and copy it as the carry folder's start."""
    import shutil

    source, target = run_dir_for(args, False), run_dir_for(args, True)
    if (target / "ares.db").is_file():
        return
    run_rounds(args, carry=False, rounds=1)
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(".ares.lock"))


def figures(summary: dict[str, Any]) -> dict[str, Any]:
    rows = summary.get("rounds") or []
    first, last = (rows[0], rows[-1]) if rows else ({}, {})
    c1, c2 = (first.get("rates") or {}).get("C"), (last.get("rates") or {}).get("C")
    earlier = last.get("heldout_earlier_ac") or {}
    return {
        "round2_over_round1_type_c": (c2 / c1) if c1 else None,
        "type_c_rate_per_round": [(r.get("rates") or {}).get("C") for r in rows],
        "regressed_combinations": sorted({c for r in rows for c in r.get("regressed") or []}),
        "round1_heldout_ac_remeasured": {
            side: (earlier.get(side) or {}).get("rate") for side in ("before", "after")
        },
        "round1_heldout_ac_p_value": earlier.get("p_value"),
        "seconds_per_round": [r.get("seconds") for r in rows],
        "peak_rss_mb": summary.get("peak_rss_mb"),
        "capability_per_round": [r.get("capability") for r in rows],
        "rounds": rows,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from ares_rlhf.report.rounds import format_rounds
    from ares_rlhf.runtime import configure_egress, tune_allocator

    configure_egress()
    tune_allocator()
    options = {"reset": [False], "carry": [True], "both": [False, True]}[args.carry]
    if len(options) == 2:
        fork_after_round_one(args)
    results = {}
    for carry in options:
        summary = run_rounds(args, carry)
        name = "carry" if carry else "reset"
        results[name] = figures(summary)
        print(f"\nsearch state {name}:")
        print(format_rounds(summary.get("rounds") or []))
    headline = results.get("reset") or next(iter(results.values()))
    print(
        json.dumps(
            {
                "benchmark": "rounds",
                "round2_over_round1_type_c": headline["round2_over_round1_type_c"],
                "regressed_combinations": headline["regressed_combinations"],
                "seconds_per_round": headline["seconds_per_round"],
                "options": {
                    k: {kk: vv for kk, vv in v.items() if kk != "rounds"}
                    for k, v in results.items()
                },
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
