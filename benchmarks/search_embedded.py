"""Search on the embedded system: distinct systemic (type C) combinations, adaptive vs uniform.

Runs the real discovery loop (``discovery.loop.run_discovery``) on the embedded default
(``src/ares_rlhf/embedded/default.yaml``: Gemma 3 270M policy, MiniLM reward model, template
Mentor, refusal judge) with ``--probes`` probes per run, for the adaptive strategy and for uniform
sampling WITHOUT replacement, over ``--seeds`` seeds. The models are built (or loaded from the
cache) once and shared by every run; each run has its own run folder, Mentor seed and strategy.
Figure: distinct combinations with at least one type-C probe (target: adaptive >= 2x uniform at
256 probes over 3 seeds, issue 18).

Run: ``python benchmarks/search_embedded.py [--probes 256] [--seeds 3] [--option KEY=VALUE]``.
The last line printed is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ares_rlhf.config import parse_config
from ares_rlhf.discovery.loop import PHASE, Components, build_components, run_discovery
from ares_rlhf.mentor import mentor_from_config
from ares_rlhf.records import FailureType
from ares_rlhf.run import Run
from ares_rlhf.search.base import create_strategy

STRATEGIES: dict[str, tuple[str, dict[str, Any]]] = {
    "adaptive": ("adaptive", {}),
    "uniform": ("uniform", {"replace": False}),
}


def embedded_config(probes: int, seed: int, output_dir: Path) -> dict[str, Any]:
    text = resources.files("ares_rlhf.embedded").joinpath("default.yaml").read_text("utf-8")
    data = yaml.safe_load(text)
    data["seed"] = seed
    data["output_dir"] = str(output_dir)
    data["budget"] = {**data.get("budget", {}), "probes": probes}
    return data


def one_run(
    shared: Components, label: str, options: dict[str, Any], data: dict[str, Any], folder: Path
) -> dict[str, Any]:
    name, base_options = STRATEGIES[label]
    data = {**data, "search": {"strategy": name, "options": {**base_options, **options}}}
    config = parse_config(data, "<search_embedded>")
    catalog = shared.catalog
    strategy = create_strategy(name, catalog, seed=config.seed, **config.search.options)
    mentor = mentor_from_config(config.mentor, catalog, seed=config.seed)
    parts = Components(
        shared.policy, shared.reward_model, shared.judge, mentor, strategy, catalog, []
    )
    run = Run.create(config, folder)
    try:
        start = time.perf_counter()
        summary = run_discovery(run, components=parts)
        seconds = time.perf_counter() - start
        probes = list(run.store.iter_probes(PHASE))
    finally:
        run.close()
    systemic = {p.spec for p in probes if p.failure_type is FailureType.SYSTEMIC}
    return {
        "strategy": label,
        "seed": config.seed,
        "probes": len(probes),
        "counts": summary.counts,
        "distinct_c_combinations": len(systemic),
        "distinct_combinations_probed": len({p.spec for p in probes}),
        "seconds": round(seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probes", type=int, default=256)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument(
        "--option", action="append", default=[], metavar="KEY=VALUE", help="adaptive option"
    )
    args = parser.parse_args()
    options = {k: float(v) for k, _, v in (o.partition("=") for o in args.option)}
    started = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory(prefix="ares-search-embedded-") as tmp:
        base = embedded_config(args.probes, 0, Path(tmp))
        shared = build_components(Run.detached(parse_config(base, "<search_embedded>")))
        build_s = time.perf_counter() - started
        try:
            for seed in range(args.seeds):
                for label in STRATEGIES:
                    data = embedded_config(args.probes, seed, Path(tmp))
                    extra = options if label == "adaptive" else {}
                    row = one_run(shared, label, extra, data, Path(tmp) / f"{label}-{seed}")
                    rows.append(row)
                    print(
                        f"seed {seed} {label:<9} {row['probes']:>4} probes  "
                        f"distinct C combinations {row['distinct_c_combinations']:>3}  "
                        f"counts {row['counts']}  {row['seconds']} s",
                        flush=True,
                    )
        finally:
            shared.close()
    totals = {
        label: sum(r["distinct_c_combinations"] for r in rows if r["strategy"] == label)
        for label in STRATEGIES
    }
    ratio = totals["adaptive"] / totals["uniform"] if totals["uniform"] else None
    print(
        f"distinct type-C combinations over {args.seeds} seed(s) at {args.probes} probes: "
        f"adaptive {totals['adaptive']}, uniform (no replacement) {totals['uniform']}, ratio "
        f"{'-' if ratio is None else format(ratio, '.2f')} (target >= 2)"
    )
    print(
        json.dumps(
            {
                "benchmark": "search_embedded",
                "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "machine": platform.platform(),
                "probes": args.probes,
                "seeds": args.seeds,
                "adaptive_options": options,
                "runs": rows,
                "distinct_c_totals": totals,
                "ratio": ratio,
                "model_build_seconds": round(build_s, 1),
                "wall_seconds": round(time.perf_counter() - started, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
