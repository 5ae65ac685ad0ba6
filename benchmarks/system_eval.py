"""System evaluation over seeds: the whole embedded ARES loop once per seed, then the evaluation.

For each seed: ``ares demo``'s pipeline on the embedded default (discovery -> RM repair -> policy
repair -> verify -> evaluate) in its own run folder, with the evaluation on larger samples than the
demo's: HarmBench standard behaviors and StrongREJECT (safety rate), XSTest (three classes on its
safe prompts, safety on its unsafe contrast prompts), and ARC-Easy, PIQA, HellaSwag through
lm-evaluation-harness. Prints per-seed and pooled figures (pooled = the paired outcomes of every
seed concatenated; the original policy is the same model on the same prompts in every seed, so
its answers are computed once and reused), then one JSON line.

    python benchmarks/system_eval.py --seeds 0 1 2 --benchmarks ../shared/data
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

HARMFUL = ("harmbench", "strongreject")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--benchmarks",
        default=str(Path(__file__).resolve().parents[2] / "shared" / "data"),
        help="benchmark folder (upstream file names; capability/ inside)",
    )
    parser.add_argument("--out", default="benchmarks/out/system_eval", help="run folders go here")
    parser.add_argument("--harmbench", type=int, help="HarmBench sample (default: all standard)")
    parser.add_argument("--strongreject", type=int, default=150)
    parser.add_argument("--xstest", type=int, help="XSTest sample (default: all 450)")
    parser.add_argument("--capability-limit", type=int, default=500)
    parser.add_argument("--tasks", default="arc_easy,piqa,hellaswag")
    parser.add_argument("--quick", action="store_true", help="the quick demo config (smoke test)")
    parser.add_argument("--cache-dir", help="model build cache (default: $ARES_CACHE)")
    parser.add_argument(
        "--vary-samples",
        action="store_true",
        help="draw each seed's benchmark and capability samples with that seed, so pooled figures "
        "rest on distinct prompts (the original policy is then answered once per seed)",
    )
    add_override_option(parser, "override one config value of every seed, e.g. repair_policy.recombine=1")
    return parser.parse_args(argv)


def add_override_option(parser: argparse.ArgumentParser, help: str) -> None:
    """``--set SECTION.KEY=YAML`` (repeatable), read by :func:`apply_overrides`."""
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=YAML", help=help
    )


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> None:
    """``SECTION.KEY=VALUE`` settings (VALUE parsed as YAML) written into a config dict."""
    import yaml

    for item in overrides:
        path, sep, value = item.partition("=")
        keys = path.split(".")
        if not sep or not all(keys):
            raise SystemExit(f"system_eval: error: --set {item!r}: expected SECTION.KEY=VALUE")
        target = data
        for key in keys[:-1]:
            target = target.setdefault(key, {})
        target[keys[-1]] = yaml.safe_load(value)


def seed_config(args: argparse.Namespace, seed: int):
    from ares_rlhf.config import parse_config
    from ares_rlhf.embedded.demo import demo_config

    config = demo_config(
        quick=args.quick, cache_dir=args.cache_dir, seed=seed, benchmarks=args.benchmarks
    )
    data = config.model_dump(mode="json")
    data["name"] = f"system-eval-seed{seed}"
    data["evaluate"].update(
        {
            "limit": {
                "harmbench": args.harmbench,
                "strongreject": args.strongreject,
                "xstest": args.xstest,
            },
            "benchmarks": [
                b
                for b in ("harmbench", "strongreject", "xstest")
                if (Path(args.benchmarks) / b).is_dir()
            ],
            "capability_tasks": [t for t in args.tasks.split(",") if t],
            "capability_limit": args.capability_limit,
        }
    )
    if args.vary_samples:
        data["evaluate"]["sample_seed"] = seed
    apply_overrides(data, args.overrides)
    return parse_config(data, source=f"system_eval seed {seed}")


def reuse_original_answers(source: Path, target: Path) -> int:
    """Copy the original policy's stored benchmark answers (and capability results) from an
    earlier seed's run: the same model, prompts and greedy settings give the same answers."""
    from ares_rlhf.store.sqlite import DB_NAME

    if not (source / DB_NAME).is_file():
        return 0
    with sqlite3.connect(source / DB_NAME) as src, sqlite3.connect(target / DB_NAME) as dst:
        columns = [r[1] for r in src.execute("PRAGMA table_info(eval_answers)")]
        if not columns:
            return 0
        rows = src.execute("SELECT * FROM eval_answers WHERE system = 'before'").fetchall()
        marks = ", ".join("?" for _ in columns)
        dst.executemany(
            f"INSERT OR IGNORE INTO eval_answers ({', '.join(columns)}) VALUES ({marks})", rows
        )
        state = src.execute("SELECT value FROM state WHERE key = 'evaluate.capability'").fetchone()
        if state is not None:
            keep = json.dumps(original_capability(json.loads(state[0])))
            dst.execute(
                "INSERT INTO state VALUES ('evaluate.capability', ?, ?) ON CONFLICT(key) "
                "DO UPDATE SET value=excluded.value",
                (keep, time.time()),
            )
        return len(rows)


def original_capability(done: dict[str, Any]) -> dict[str, Any]:
    """The original policy's part of a stored ``evaluate.capability`` state (results and id)."""
    ids = {k: v for k, v in (done.get("policy_ids") or {}).items() if k == "before"}
    return {"before": done.get("before", {}), "policy_ids": ids}


def run_seed(args: argparse.Namespace, seed: int, previous: Path | None) -> dict[str, Any]:
    from ares_rlhf.pipeline import StageUI, run_pipeline
    from ares_rlhf.records import ArtifactKind
    from ares_rlhf.run import Run

    run_dir = Path(args.out) / f"seed{seed}"
    resume = (run_dir / "ares.db").is_file()
    started = time.perf_counter()
    run = Run.open(run_dir, writer=True) if resume else Run.create(seed_config(args, seed), run_dir)
    with run:
        if previous is not None and not resume and not args.vary_samples:
            copied = reuse_original_answers(previous, run_dir)
            print(
                f"seed {seed}: reusing {copied} stored answers of the original policy", flush=True
            )
        summary = run_pipeline(
            run,
            ui=StageUI(say=lambda m: print(f"[seed {seed}] {m}", flush=True), show_progress=False),
            resume=resume,
        )
        eval_artifact = run.latest(ArtifactKind.EVAL_METRICS)
    return {
        "seed": seed,
        "run_dir": str(run_dir),
        "seconds": round(time.perf_counter() - started, 1),
        "stage_seconds": summary.get("stage_seconds"),
        "peak_rss_mb": summary.get("peak_rss_mb"),
        "failure_counts_discovery": summary.get("failure_counts_discovery"),
        "eval": eval_artifact.data if eval_artifact else None,
    }


def paired_figures(data: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The paired figures of one seed's evaluation that are pooled over seeds."""
    data = data or {}
    benchmarks = data.get("benchmarks") or {}
    figures = {name: benchmarks[name] for name in HARMFUL if name in benchmarks}
    xstest = benchmarks.get("xstest") or {}
    if xstest.get("classes", {}).get("full_compliance"):
        figures["xstest_full_compliance"] = xstest["classes"]["full_compliance"]
    if xstest.get("unsafe_contrast"):
        figures["xstest_unsafe_safety"] = xstest["unsafe_contrast"]
    heldout = ((data.get("heldout") or {}).get("heldout") or {}).get("AC")
    if heldout:
        figures["heldout_ac"] = heldout
    benign = (data.get("heldout") or {}).get("benign_refusal") or {}
    if benign.get("discordant"):  # paired per prompt (verify stores each prompt's outcome)
        figures["heldout_benign_refusal"] = benign
    return figures


def pool(seeds: list[dict[str, Any]]) -> dict[str, Any]:
    """Each figure over every seed's paired items: summed counts, summed discordant pairs."""
    from ares_rlhf.evaluation.stats import Rate, exact_mcnemar

    per_seed = [paired_figures(s["eval"]) for s in seeds]
    pooled: dict[str, Any] = {}
    for key in sorted({k for figures in per_seed for k in figures}):
        parts = [f[key] for f in per_seed if key in f]
        sides = {
            side: Rate.of(
                sum(p[side]["k"] for p in parts),
                sum(p[side]["n"] for p in parts),
                sum(p[side].get("unscored", 0) for p in parts),
            ).as_dict()
            for side in ("before", "after")
        }
        b = sum(p["discordant"]["b"] for p in parts)
        c = sum(p["discordant"]["c"] for p in parts)
        pooled[key] = {**sides, "discordant": {"b": b, "c": c}, "p_value": exact_mcnemar(b, c)}
    return pooled


def stored_capability(run_dir: Path) -> dict[str, Any]:
    """The per-item capability results of both systems kept in a seed's run store."""
    from ares_rlhf.store.sqlite import DB_NAME

    with sqlite3.connect(run_dir / DB_NAME) as db:
        row = db.execute("SELECT value FROM state WHERE key = 'evaluate.capability'").fetchone()
    return json.loads(row[0]) if row else {}


def pool_capability(seeds: list[dict[str, Any]]) -> dict[str, Any]:
    """Each capability task over every seed's items (paired by item within a seed): accuracy
    before/after, the change in points with a paired bootstrap 95% interval, exact McNemar."""
    from ares_rlhf.evaluation.stats import exact_mcnemar, paired_bootstrap_ci

    paired: dict[str, tuple[list[float], list[float]]] = {}
    for seed in seeds:
        done = stored_capability(Path(seed["run_dir"]))
        for task, before in (done.get("before") or {}).items():
            after = (done.get("after") or {}).get(task)
            if after is None:
                continue
            second = dict(zip(after["item_ids"], after["correct"], strict=True))
            x, y = paired.setdefault(task, ([], []))
            for item, value in zip(before["item_ids"], before["correct"], strict=True):
                if item in second:
                    x.append(float(value))
                    y.append(float(second[item]))
    pooled = {}
    for task, (x, y) in sorted(paired.items()):
        diff, low, high = paired_bootstrap_ci(x, y, n_resamples=2000, seed=0)
        b = sum(1 for u, v in zip(x, y, strict=True) if u and not v)
        c = sum(1 for u, v in zip(x, y, strict=True) if v and not u)
        pooled[task] = {
            "n": len(x),
            "before": sum(x) / len(x),
            "after": sum(y) / len(y),
            "change_points": 100 * diff,
            "change_ci95": [100 * low, 100 * high],
            "discordant": {"b": b, "c": c},
            "p_value": exact_mcnemar(b, c),
        }
    return pooled


def headline(seed: dict[str, Any]) -> dict[str, Any]:
    data = seed["eval"] or {}
    benchmarks = data.get("benchmarks") or {}
    heldout = ((data.get("heldout") or {}).get("heldout") or {}).get("AC") or {}
    xstest = (benchmarks.get("xstest") or {}).get("classes", {}).get("full_compliance") or {}
    return {
        "heldout_ac_before": (heldout.get("before") or {}).get("rate"),
        "heldout_ac_after": (heldout.get("after") or {}).get("rate"),
        "heldout_ac_reduction": ((data.get("heldout") or {}).get("heldout") or {}).get(
            "relative_reduction_ac"
        ),
        "heldout_n": (heldout.get("before") or {}).get("n"),
        "safety": {
            name: {
                "n": result["before"]["n"],
                "before": result["before"]["rate"],
                "after": result["after"]["rate"],
                "ci95_after": result["after"]["ci95"],
                "p_value": result["p_value"],
            }
            for name, result in benchmarks.items()
            if name in HARMFUL
        },
        "xstest_unsafe_safety": {
            side: ((benchmarks.get("xstest") or {}).get("unsafe_contrast") or {})
            .get(side, {})
            .get("rate")
            for side in ("before", "after")
        },
        "xstest_full_compliance": {
            side: (xstest.get(side) or {}).get("rate") for side in ("before", "after")
        },
        "capability": {
            task: {
                "n": c["n"],
                "before": c["before"]["accuracy"],
                "after": c["after"]["accuracy"],
                "change_points": c["change_points"],
                "change_ci95": c["change_ci95"],
            }
            for task, c in (data.get("capability") or {}).items()
        },
        "seconds": seed["seconds"],
        "peak_rss_mb": seed["peak_rss_mb"],
    }


def _pct(value: float | None) -> str:
    return "   -  " if value is None else f"{100 * value:5.1f}%"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from ares_rlhf.runtime import configure_console, configure_egress, tune_allocator

    configure_egress()
    configure_console()  # library progress bars and load reports off (ARES_VERBOSE=1 shows them)
    tune_allocator()
    Path(args.out).mkdir(parents=True, exist_ok=True)
    seeds: list[dict[str, Any]] = []
    previous: Path | None = None
    for seed in args.seeds:
        result = run_seed(args, seed, previous)
        seeds.append(result)
        previous = Path(result["run_dir"])
    heads = {s["seed"]: headline(s) for s in seeds}
    pooled = pool(seeds)
    pooled_capability = pool_capability(seeds)
    print()
    print(
        f"{'seed':>4} {'held-out A+C':>20} {'HarmBench safety':>24} {'StrongREJECT safety':>24} {'XSTest compl.':>16}"
    )
    for seed, h in heads.items():
        hb, sr = h["safety"].get("harmbench", {}), h["safety"].get("strongreject", {})
        print(
            f"{seed:>4} {_pct(h['heldout_ac_before'])} -> {_pct(h['heldout_ac_after'])}"
            f" {_pct(hb.get('before'))} -> {_pct(hb.get('after'))} (p={hb.get('p_value', float('nan')):.2g})"
            f" {_pct(sr.get('before'))} -> {_pct(sr.get('after'))} (p={sr.get('p_value', float('nan')):.2g})"
            f" {_pct(h['xstest_full_compliance']['before'])} -> {_pct(h['xstest_full_compliance']['after'])}"
        )
        for task, c in h["capability"].items():
            low, high = c["change_ci95"]
            print(
                f"     {task:<12} {c['n']:>4} items: {_pct(c['before'])} -> {_pct(c['after'])} ({c['change_points']:+.1f} [{low:+.1f}, {high:+.1f}] points)"
            )
    print("pooled over seeds:")
    for key, pair in pooled.items():
        print(
            f"  {key:<28} n={pair['before']['n']:>4}: {_pct(pair['before']['rate'])} -> "
            f"{_pct(pair['after']['rate'])}  p={pair['p_value']:.3g}"
        )
    for task, c in pooled_capability.items():
        low, high = c["change_ci95"]
        print(
            f"  {task:<28} n={c['n']:>4}: {_pct(c['before'])} -> {_pct(c['after'])}  "
            f"{c['change_points']:+.1f} [{low:+.1f}, {high:+.1f}] points  p={c['p_value']:.3g}"
        )

    def values(path: str) -> list[float]:
        found = []
        for h in heads.values():
            node: Any = h
            for part in path.split("."):
                node = node.get(part) if isinstance(node, dict) else None
            if isinstance(node, int | float):
                found.append(float(node))
        return found

    safety_p = [s["p_value"] for h in heads.values() for s in h["safety"].values()]
    safety_after = [
        s["after"] for h in heads.values() for s in h["safety"].values() if s["after"] is not None
    ]
    capability = [c["change_points"] for h in heads.values() for c in h["capability"].values()]
    compliance_drop = [
        100 * (h["xstest_full_compliance"]["before"] - h["xstest_full_compliance"]["after"])
        for h in heads.values()
        if None not in h["xstest_full_compliance"].values()
    ]
    figures = {
        "benchmark": "system_eval",
        "seeds": heads,
        "pooled": pooled,
        "pooled_capability": pooled_capability,
        "overrides": args.overrides,
        "vary_samples": args.vary_samples,
        "min_heldout_ac_reduction": min(values("heldout_ac_reduction"), default=None),
        "max_safety_p_value": max(safety_p, default=None),
        "pooled_safety_p_value": {k: pooled[k]["p_value"] for k in HARMFUL if k in pooled},
        "min_safety_rate_after": min(safety_after, default=None),
        "min_capability_change_points": min(capability, default=None),
        "max_xstest_compliance_drop_points": max(compliance_drop, default=None),
        "seconds": {s["seed"]: s["seconds"] for s in seeds},
    }
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
