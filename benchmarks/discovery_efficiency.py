"""Discovery efficiency: uniform vs adaptive search on the shipped and held-out random arenas.

For each arena and strategy: 5 seeds x 4,000 probes on the fast path (outcomes drawn straight
from the arena), coverage of the systemic combinations at 500 / 1,000 / 2,000 / 4,000 probes.
Held-out arenas come from ``random_arena`` with seeds never used while developing the strategy
(``held-out``: the generator's default mix; ``hidden-3way``: three-way regions only, no weak
surrounding regions, no decoys -- the hardest case, where regions leak no signal).
Also times the adaptive strategy alone (propose + observe for 4,000 probes) and the REAL
discovery loop (template Mentor, sim: policy and RM, refusal judge) for 4,000 probes.

Targets: adaptive mean coverage >= 0.90 at 4,000 probes on every arena; at 1,000 probes
adaptive >= 4x uniform; real loop 4,000 probes in < 60 s.

Run: ``python benchmarks/discovery_efficiency.py [--seeds 5] [--budget 4000] [--held-out 10]``.
The last line printed is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ares_rlhf.records import FailureType
from ares_rlhf.search.base import Outcome, create_strategy
from ares_rlhf.sim.arena import load_arena, parse_arena, random_arena, shipped_arenas
from ares_rlhf.sim.bench import full_loop_run, run_benchmark
from ares_rlhf.taxonomy import load_catalog

CHECKPOINTS = (500, 1000, 2000, 4000)
HELD_OUT_SEED_BASE = 3000
HIDDEN_SEED_BASE = 4000


def strategy_speed(catalog, probes: int, batch: int = 16) -> float:
    """Seconds for ``probes`` probes of adaptive propose + observe (outcomes: 10% C, rest none)."""
    strategy = create_strategy("adaptive", catalog, seed=0)
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for b in range(probes // batch):
        strategy.reseed(b)
        specs = strategy.propose(batch)
        c = rng.random(batch) < 0.1
        strategy.observe(
            [
                Outcome(s, FailureType.SYSTEMIC if x else FailureType.NONE, bool(x), bool(x))
                for s, x in zip(specs, c, strict=True)
            ]
        )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--budget", type=int, default=4000)
    parser.add_argument("--held-out", type=int, default=10, help="random held-out arenas")
    parser.add_argument("--hidden", type=int, default=5, help="hidden three-way random arenas")
    parser.add_argument("--no-full-loop", action="store_true")
    args = parser.parse_args()
    catalog = load_catalog()
    arenas = [("shipped", load_arena(p)) for p in shipped_arenas().values()]
    arenas += [
        ("held-out", parse_arena(random_arena(catalog, HELD_OUT_SEED_BASE + i), catalog=catalog))
        for i in range(args.held_out)
    ]
    arenas += [
        (
            "hidden-3way",
            parse_arena(
                random_arena(
                    catalog, HIDDEN_SEED_BASE + i, orders=(3,), weak_surround=False, decoys=0
                ),
                catalog=catalog,
            ),
        )
        for i in range(args.hidden)
    ]
    checkpoints = [c for c in CHECKPOINTS if c <= args.budget]
    rows, results = [], []
    print(
        f"{'arena':<16}{'kind':<12}{'systemic':>9}  {'strategy':<9}"
        + "".join(f"{c:>8}" for c in checkpoints)
        + f"{'x unif@1k':>11}"
    )
    for kind, arena in arenas:
        per_strategy = {}
        for strategy in ("uniform", "adaptive"):
            result = run_benchmark(
                arena, strategy, args.budget, args.seeds, checkpoints=checkpoints
            )
            per_strategy[strategy] = result.mean_coverage()
            results.append({**result.to_json(), "kind": kind})
        uniform_1k = per_strategy["uniform"].get("1000", 0.0)
        for strategy, curve in per_strategy.items():
            ratio = curve.get("1000", 0.0) / uniform_1k if uniform_1k > 0 else float("inf")
            line = (
                f"{arena.name:<16}{kind:<12}{arena.systemic_count:>9}  {strategy:<9}"
                + "".join(f"{curve[str(c)]:>8.3f}" for c in checkpoints)
                + (f"{ratio:>11.1f}" if strategy == "adaptive" else f"{'':>11}")
            )
            print(line, flush=True)
        rows.append(
            {
                "arena": arena.name,
                "kind": kind,
                "systemic": arena.systemic_count,
                "uniform": per_strategy["uniform"],
                "adaptive": per_strategy["adaptive"],
                "ratio_at_1000": per_strategy["adaptive"].get("1000", 0.0) / uniform_1k
                if uniform_1k
                else None,
            }
        )
    final = str(args.budget)
    targeted = [r for r in rows if r["kind"] in ("shipped", "held-out")]
    hidden = [r for r in rows if r["kind"] == "hidden-3way"]
    worst = min(r["adaptive"][final] for r in targeted)
    worst_ratio = min(
        (r["ratio_at_1000"] for r in targeted if r["ratio_at_1000"] is not None), default=None
    )
    worst_hidden = min((r["adaptive"][final] for r in hidden), default=None)
    speed = strategy_speed(catalog, 4000)
    print(
        f"\nadaptive coverage at {final} probes, shipped + held-out: worst arena {worst:.3f} "
        "(target >= 0.90)"
    )
    if worst_hidden is not None:
        print(
            f"adaptive coverage at {final} probes, hidden three-way arenas: worst {worst_hidden:.3f}"
        )
    if worst_ratio is not None:
        print(
            f"adaptive / uniform at 1000 probes, shipped + held-out: worst arena "
            f"{worst_ratio:.1f}x (target >= 4x)"
        )
    print(f"adaptive propose + observe, 4000 probes: {speed:.2f} s")
    loop: dict | None = None
    if not args.no_full_loop:
        arena = load_arena("pairwise")
        with tempfile.TemporaryDirectory() as tmp:
            run, info = full_loop_run(arena, "adaptive", 4000, 0, Path(tmp) / "run")
        loop = {
            "arena": arena.name,
            "probes": run.probes[-1] if run.probes else 0,
            "seconds": run.seconds,
            "probes_per_second": info["probes_per_second"],
            "coverage": run.coverage[-1] if run.coverage else 0.0,
        }
        print(
            f"real discovery loop (template Mentor + sim: + refusal judge), {loop['probes']} probes: "
            f"{loop['seconds']:.1f} s, {loop['probes_per_second']:.0f} probes/s, "
            f"coverage {loop['coverage']:.3f} (target < 60 s)"
        )
    print(
        json.dumps(
            {
                "benchmark": "discovery_efficiency",
                "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "machine": platform.platform(),
                "seeds": args.seeds,
                "budget": args.budget,
                "checkpoints": checkpoints,
                "arenas": rows,
                "worst_adaptive_final_coverage": worst,
                "worst_ratio_at_1000": worst_ratio,
                "worst_hidden_3way_final_coverage": worst_hidden,
                "adaptive_seconds_per_4000_probes": speed,
                "full_loop": loop,
            }
        )
    )


if __name__ == "__main__":
    main()
