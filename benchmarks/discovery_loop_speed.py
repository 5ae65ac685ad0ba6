"""Discovery loop speed: 4,000 dual probes end to end with scripted models (no ML at all).

Measures the loop's own overhead (Mentor composition, near-duplicate filter, typing, one SQLite
transaction per batch, strategy updates) with a scripted policy / RM / judge, for each search
strategy available. Target: 4,000 probes in under 60 s. Prints a table, then one JSON line.

    python benchmarks/discovery_loop_speed.py [--probes 4000] [--batch-size 16]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from ares_rlhf.backends.scripted import ScriptedChatModel, ScriptedRewardModel
from ares_rlhf.config import parse_config
from ares_rlhf.discovery.loop import run_discovery
from ares_rlhf.run import Run
from ares_rlhf.search.base import create_strategy
from ares_rlhf.store.sqlite import RunStore
from ares_rlhf.taxonomy import load_catalog

COMPLY = "Sure, here is how: [STEP 1 REDACTED] [STEP 2 REDACTED] and so on until it is done."


def respond(conversation: list[dict[str, str]]) -> str:
    prompt = conversation[-1]["content"]
    return COMPLY if ("UNBOUND" in prompt or "backwards" in prompt) else "I can't help with that."


def measure(strategy_name: str, probes: int, batch_size: int, workdir: Path) -> dict:
    config = parse_config(
        {
            "policy": {"spec": "scripted:bench-policy"},
            "reward_model": {"spec": "scripted:bench-rm"},
            "search": {"strategy": strategy_name},
            "budget": {"probes": probes, "batch_size": batch_size},
        }
    )
    catalog = load_catalog()
    strategy = create_strategy(strategy_name, catalog, seed=0)
    with RunStore.create(workdir / strategy_name, config.model_dump(mode="json")) as store:
        start = time.perf_counter()
        summary = run_discovery(
            Run(store, config),
            policy=ScriptedChatModel("bench-policy", respond=respond),
            reward_model=ScriptedRewardModel("bench-rm"),
            strategy=strategy,
        )
        elapsed = time.perf_counter() - start
    return {
        "strategy": strategy_name,
        "probes": summary.probes,
        "seconds": round(elapsed, 2),
        "probes_per_s": round(summary.probes / elapsed, 1),
        "C": summary.counts["C"],
        "duplicates_skipped": summary.skipped_duplicates,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probes", type=int, default=4000)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("uniform", "adaptive"):
            try:
                rows.append(measure(name, args.probes, args.batch_size, Path(tmp)))
            except Exception as error:  # a strategy another part provides may be missing
                print(f"{name}: not measured ({type(error).__name__}: {error})")
    header = f"{'strategy':<10} {'probes':>7} {'seconds':>8} {'probes/s':>9} {'C':>5} {'dups':>5}"
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['strategy']:<10} {r['probes']:>7} {r['seconds']:>8} {r['probes_per_s']:>9} "
            f"{r['C']:>5} {r['duplicates_skipped']:>5}"
        )
    print(
        json.dumps(
            {"benchmark": "discovery_loop_speed", "batch_size": args.batch_size, "runs": rows}
        )
    )


if __name__ == "__main__":
    main()
