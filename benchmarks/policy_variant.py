"""A policy-repair variant on a finished run: the same discovery and repaired RM, another recipe.

Copies a finished run folder (e.g. one seed of ``benchmarks/system_eval.py``), writes the
``--set`` overrides into the copy's config, and reruns policy repair, verify and evaluate there
(the builds, discovery and RM repair are kept; the original policy's stored benchmark answers and
capability results are reused, the repaired ones are not). Prints, per figure, the original
system, the source run's repaired system and the variant's, with Wilson intervals, McNemar
against the original, and for HarmBench/StrongREJECT McNemar of the variant against the source's
repair on the same prompts; then one JSON line.

    python benchmarks/policy_variant.py --source runs/seed0 --out runs/seed0-balance \\
        --set repair_policy.refusal_balance=true

``--adapter-scale S`` keeps the source's repaired LoRA adapter and multiplies its update by S
(``lora_alpha`` in the copy's ``adapter_config.json``; S = 1 is the source's repair, 0 the original
policy), then reruns only verify and evaluate: the strength of one repair, not another training.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import sys
from pathlib import Path
from typing import Any

from system_eval import (
    HARMFUL,
    add_override_option,
    apply_overrides,
    original_capability,
    paired_figures,
    pool_capability,
)

RERUN = ("repair_policy", "verify", "evaluate")
KEEP_OUT = ("policy-repaired", "policy-repaired.work", "policy-repaired.partial", "report.html")
ADAPTER = Path("checkpoints") / "policy-repaired" / "adapter_config.json"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", required=True, help="a finished run folder")
    parser.add_argument("--out", required=True, help="the variant's run folder (a copy)")
    add_override_option(parser, "config value of the variant, e.g. repair_policy.refusal_balance=true")
    parser.add_argument(
        "--adapter-scale",
        type=float,
        help="keep the source's repaired adapter, its update multiplied by this (no retraining)",
    )
    args = parser.parse_args(argv)
    if args.adapter_scale is not None and (args.overrides or args.adapter_scale < 0):
        parser.error("--adapter-scale takes a number >= 0 and no --set (the repair is not rerun)")
    return args


def scale_adapter(config_file: Path, scale: float) -> dict[str, Any]:
    """Multiply a LoRA adapter's update by ``scale`` (its ``lora_alpha``; the scaling is alpha / r)."""
    if not config_file.is_file():
        raise SystemExit(f"policy_variant: error: {config_file}: no LoRA adapter to scale")
    data = json.loads(config_file.read_text(encoding="utf-8"))
    if data.get("use_rslora") or data.get("alpha_pattern"):
        raise SystemExit(f"policy_variant: error: {config_file}: rsLoRA / per-module alphas not supported")
    data["lora_alpha"] = data["lora_alpha"] * scale
    config_file.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return data


def prepare_copy(source: Path, out: Path, overrides: list[str], adapter_scale: float | None = None) -> None:
    """The source run copied without its repaired policy and what was measured on it (with
    ``adapter_scale``: with the repaired adapter, scaled, and only what was measured on it dropped)."""
    from ares_rlhf.config import config_to_yaml, parse_config
    from ares_rlhf.pipeline import PipelineRecord
    from ares_rlhf.run import CONFIG_FILE, Run
    from ares_rlhf.store.sqlite import DB_NAME

    keep_out = KEEP_OUT if adapter_scale is None else KEEP_OUT[1:]
    shutil.copytree(source, out, ignore=shutil.ignore_patterns(*keep_out))
    if adapter_scale is not None:
        scale_adapter(out / ADAPTER, adapter_scale)
    with sqlite3.connect(out / DB_NAME) as db:
        (stored,) = db.execute("SELECT value FROM meta WHERE key = 'config'").fetchone()
        data = json.loads(stored)
        apply_overrides(data, overrides)
        config = parse_config(data, source=f"{out} (variant config)")  # checked before it is kept
        db.execute("UPDATE meta SET value = ? WHERE key = 'config'", (json.dumps(data),))
        db.execute("DELETE FROM eval_answers WHERE system = 'after'")
        row = db.execute("SELECT value FROM state WHERE key = 'evaluate.capability'").fetchone()
        if row is not None:
            kept = original_capability(json.loads(row[0]))
            db.execute(
                "UPDATE state SET value = ? WHERE key = 'evaluate.capability'", (json.dumps(kept),)
            )
    (out / CONFIG_FILE).write_text(config_to_yaml(config), encoding="utf-8")
    with Run.open(out, writer=True) as run:
        record = PipelineRecord.load(run)
        for stage in RERUN if adapter_scale is None else RERUN[1:]:
            record.status.pop(stage, None)
            record.seconds.pop(stage, None)
        record.save(run)


def after_outcomes(run_dir: Path, benchmark: str) -> dict[str, bool | None]:
    """item id -> safe (True), harmful (False), unscored (None) of the repaired system's answers."""
    from ares_rlhf.evaluation.safety import safe_outcome
    from ares_rlhf.store.sqlite import RunStore

    store = RunStore.open(run_dir)
    try:
        return {a.item_id: safe_outcome(a) for a in store.eval_answers(system="after", benchmark=benchmark)}
    finally:
        store.close()


def versus_source(source: Path, variant: Path) -> dict[str, Any]:
    """HarmBench / StrongREJECT: the variant's repaired answers against the source's, paired."""
    from ares_rlhf.evaluation.stats import paired_rates

    found = {}
    for name in HARMFUL:
        first, second = after_outcomes(source, name), after_outcomes(variant, name)
        items = sorted(set(first) & set(second))
        if items:
            paired = paired_rates([first[i] for i in items], [second[i] for i in items])
            found[name] = paired.as_dict()
    return found


def latest_eval(run_dir: Path) -> dict[str, Any]:
    from ares_rlhf.records import ArtifactKind
    from ares_rlhf.run import Run

    with Run.open(run_dir) as run:
        artifact = run.latest(ArtifactKind.EVAL_METRICS)
        counts = run.latest(ArtifactKind.POLICY_CHECKPOINT)
        return {
            "eval": artifact.data if artifact else None,
            "policy_repair": {k: v for k, v in (counts.data if counts else {}).items() if k != "log_history"},
        }


def _rate(side: dict[str, Any]) -> str:
    if side["rate"] is None:
        return "-"
    low, high = side["ci95"]
    return f"{side['k']}/{side['n']} [{low:.2f}, {high:.2f}]"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from ares_rlhf.pipeline import StageUI, run_pipeline
    from ares_rlhf.run import Run
    from ares_rlhf.runtime import configure_console, configure_egress, tune_allocator

    configure_egress()
    configure_console()
    tune_allocator()
    source, out = Path(args.source), Path(args.out)
    if not (source / "ares.db").is_file():
        raise SystemExit(f"policy_variant: error: {source}: not a run folder (no ares.db)")
    if not out.exists():
        prepare_copy(source, out, args.overrides, args.adapter_scale)
    with Run.open(out, writer=True) as run:
        run_pipeline(
            run,
            ui=StageUI(say=lambda m: print(f"[variant] {m}", flush=True), show_progress=False),
            resume=True,
        )
    base, variant = latest_eval(source), latest_eval(out)
    base_figures, figures = paired_figures(base["eval"]), paired_figures(variant["eval"])
    against = versus_source(source, out)
    print()
    print(f"{'figure':<24} {'original':>22} {'source repair':>22} {'variant':>22} {'p (orig)':>9} {'p (src)':>8}")
    for key, pair in figures.items():
        known = base_figures.get(key, {})
        print(
            f"{key:<24} {_rate(pair['before']):>22} "
            f"{_rate(known['after']) if known else '-':>22} {_rate(pair['after']):>22} "
            f"{pair['p_value']:>9.2g} {against[key]['p_value'] if key in against else float('nan'):>8.2g}"
        )
    capability = {
        name: pool_capability([{"run_dir": str(folder)}])
        for name, folder in (("source", source), ("variant", out))
    }
    for task, change in capability["variant"].items():
        low, high = change["change_ci95"]
        print(
            f"{task:<24} {change['n']} items: {100 * change['before']:.1f}% -> "
            f"{100 * change['after']:.1f}% ({change['change_points']:+.1f} [{low:+.1f}, {high:+.1f}] points; "
            f"source repair {capability['source'].get(task, {}).get('change_points', float('nan')):+.1f})"
        )
    print(
        json.dumps(
            {
                "benchmark": "policy_variant",
                "source": str(source),
                "variant": str(out),
                "overrides": args.overrides,
                "adapter_scale": args.adapter_scale,
                "figures": figures,
                "source_figures": base_figures,
                "variant_vs_source": against,
                "capability": capability,
                "policy_repair": variant["policy_repair"],
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
