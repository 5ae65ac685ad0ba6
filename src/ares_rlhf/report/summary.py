"""A run's headline figures: collected from its store, printed as a table, written as JSON.

The figures come from what the stages record (artifacts ``rm_repair_metrics``,
``policy_checkpoint``, ``verify_metrics``) plus the run-level state the demo keeps
(``stage_seconds``, ``peak_rss_mb``). A figure a stage did not produce is ``None`` and shows as
"-", and the stage is listed under ``missing_stages``: nothing is filled in by guesswork.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ares_rlhf.records import ArtifactKind
from ares_rlhf.run import Run

SUMMARY_FILE = "summary.json"
STAGES_STATE_KEY = "pipeline"
"""Run-store state of the pipeline: every stage's status (``done``, ``skipped``...)."""
STAGE_SECONDS_KEY = "stage_seconds"
PEAK_RSS_KEY = "peak_rss_mb"
STAGE_PEAK_RSS_KEY = "stage_peak_rss_mb"
"""stage -> the process's peak RSS (MB) when the stage ended: cumulative, so the stage where it
rises is the one that needed the memory."""
MISSING_STAGES_KEY = "missing_stages"
SKIPPED_STAGES_KEY = "skipped_stages"
FAILURE_TYPES = ("A", "B", "C")


def collect_summary(run: Run) -> dict[str, Any]:
    """Every headline figure of ``run`` (``None`` where a stage did not record it)."""
    store = run.store
    summary: dict[str, Any] = {
        "run_dir": str(store.run_dir),
        "probes_discovery": store.count_probes("discovery"),
        "failure_counts_discovery": {
            k: v for k, v in store.failure_counts("discovery").items() if v or k in FAILURE_TYPES
        },
    }
    from ares_rlhf.evaluation.verify import VerifyMetrics
    from ares_rlhf.repair.reward import RepairResult
    from ares_rlhf.report.attack_forms import attack_form_summary

    summary["attack_forms_discovery"] = attack_form_summary(run)

    rm_artifact = store.latest_artifact(ArtifactKind.RM_REPAIR_METRICS)
    rm = RepairResult.from_dict(rm_artifact.data) if rm_artifact else None
    for side in ("before", "after"):
        summary[f"rm_heldout_accuracy_{side}"] = rm.accuracy(side, "adversarial_heldout") if rm else None
    for side in ("before", "after"):
        summary[f"rm_benign_heldout_accuracy_{side}"] = rm.accuracy(side, "benign_heldout") if rm else None
    rm_checkpoint = store.latest_artifact(ArtifactKind.RM_CHECKPOINT)
    policy_checkpoint = store.latest_artifact(ArtifactKind.POLICY_CHECKPOINT)
    summary["rm_checkpoint"] = rm_checkpoint.path if rm_checkpoint else None
    summary["policy_checkpoint"] = policy_checkpoint.path if policy_checkpoint else None

    verify_artifact = store.latest_artifact(ArtifactKind.VERIFY_METRICS)
    verify = VerifyMetrics.from_dict(verify_artifact.data if verify_artifact else {})
    for split, prefix in (("heldout", ""), ("failures", "trained_")):
        for side in ("before", "after"):
            rates = verify.rates(split, side)
            summary[f"{prefix}verify_probes_{side}"] = rates.get("n")
            summary[f"{prefix}verify_counts_{side}"] = rates.get("counts")
            for failure_type in FAILURE_TYPES:
                summary[f"{prefix}type_{failure_type.lower()}_rate_{side}"] = rates.get(
                    failure_type
                )
    for side in ("before", "after"):
        summary[f"benign_refusal_{side}"] = verify.benign_refusal.get(side)
    summary["benign_prompts"] = verify.benign_count if verify_artifact else None
    summary.update(evaluation_summary(store.latest_artifact(ArtifactKind.EVAL_METRICS)))
    if run.round > 1 or run.config.rounds.count > 1:
        from ares_rlhf.report.rounds import rounds_table

        summary["round"] = run.round
        summary["rounds"] = rounds_table(run)
    summary[STAGE_SECONDS_KEY] = store.get_state(STAGE_SECONDS_KEY, {})
    summary[PEAK_RSS_KEY] = store.get_state(PEAK_RSS_KEY)
    summary[STAGE_PEAK_RSS_KEY] = store.get_state(STAGE_PEAK_RSS_KEY, {})
    summary[MISSING_STAGES_KEY] = store.get_state(MISSING_STAGES_KEY, [])
    summary[SKIPPED_STAGES_KEY] = store.get_state(SKIPPED_STAGES_KEY, {})
    return summary


def _compact(pair: dict[str, Any]) -> dict[str, Any]:
    """``{n, before: {rate, ci95}, after: {rate, ci95}, p_value}`` of one paired figure."""
    return {
        "n": pair["before"]["n"],
        "before": {"rate": pair["before"]["rate"], "ci95": pair["before"]["ci95"]},
        "after": {"rate": pair["after"]["rate"], "ci95": pair["after"]["ci95"]},
        "p_value": pair["p_value"],
    }


def evaluation_summary(artifact: Any) -> dict[str, Any]:
    """The evaluation stage's headline figures (``eval_metrics``), or ``None`` values."""
    from ares_rlhf.evaluation.evaluate import EvalMetrics

    if artifact is None:
        return {"eval_judge": None, "heldout_ac": None, "benchmarks": {}, "capability": {}}
    metrics = EvalMetrics.from_dict(artifact.data)
    benchmarks = {}
    for name, result in metrics.benchmarks.items():
        entry = {"metric": result.get("metric"), "scored_by": result.get("scored_by")}
        entry.update(_compact(result))
        if result.get("unsafe_contrast"):
            entry["unsafe_contrast"] = _compact(result["unsafe_contrast"])
        benchmarks[name] = entry
    capability = {
        task: {
            "n": c.n,
            "num_fewshot": c.num_fewshot,
            "before": c.before,
            "after": c.after,
            "change_points": c.change_points,
            "change_ci95": list(c.change_ci95),
        }
        for task, c in metrics.capability.items()
    }
    heldout = metrics.paired("heldout")
    return {
        "eval_judge": metrics.judge,
        "heldout_ac": _compact(heldout) if heldout else None,
        "benchmarks": benchmarks,
        "capability": capability,
    }


def write_summary_json(run_dir: str | Path, summary: dict[str, Any]) -> Path:
    """Write ``RUN_DIR/summary.json`` atomically."""
    path = Path(run_dir) / SUMMARY_FILE
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(summary, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def _fmt(value: Any, percent: bool = False) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{100 * value:.1f}%" if percent else f"{value:.3f}"
    return str(value)


def summary_rows(summary: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(figure, before, after) rows of the headline table."""
    rows: list[tuple[str, str, str]] = [
        ("probes (discovery)", _fmt(summary.get("probes_discovery")), ""),
        (
            "discovery A / B / C",
            " / ".join(
                _fmt((summary.get("failure_counts_discovery") or {}).get(t)) for t in FAILURE_TYPES
            ),
            "",
        ),
        *(
            (
                f"discovery failures per probe, {form} ({row['probes']} probes)",
                _rate_ci({"rate": row["failures_per_probe"], "ci95": row["ci95"]}),
                "",
            )
            for form, row in (summary.get("attack_forms_discovery") or {}).items()
        ),
        (
            "probes (verify, held-out combinations)",
            _fmt(summary.get("verify_probes_before")),
            _fmt(summary.get("verify_probes_after")),
        ),
    ]
    for failure_type in FAILURE_TYPES:
        before_counts = summary.get("verify_counts_before") or {}
        after_counts = summary.get("verify_counts_after") or {}
        key = failure_type.lower()
        rows.append(
            (
                f"type {failure_type} rate (count)",
                f"{_fmt(summary.get(f'type_{key}_rate_before'), True)} ({_fmt(before_counts.get(failure_type))})",
                f"{_fmt(summary.get(f'type_{key}_rate_after'), True)} ({_fmt(after_counts.get(failure_type))})",
            )
        )
    rows += [
        (
            "RM accuracy, held-out adversarial pairs",
            _fmt(summary.get("rm_heldout_accuracy_before"), True),
            _fmt(summary.get("rm_heldout_accuracy_after"), True),
        ),
        (
            "RM accuracy, held-out benign pairs",
            _fmt(summary.get("rm_benign_heldout_accuracy_before"), True),
            _fmt(summary.get("rm_benign_heldout_accuracy_after"), True),
        ),
        (
            "refusal rate on benign prompts",
            _fmt(summary.get("benign_refusal_before"), True),
            _fmt(summary.get("benign_refusal_after"), True),
        ),
    ]
    heldout = summary.get("heldout_ac")
    if heldout:
        rows.append(
            (
                f"held-out A+C rate, 95% CI ({heldout['n']} probes, p={heldout['p_value']:.2g})",
                _rate_ci(heldout["before"]),
                _rate_ci(heldout["after"]),
            )
        )
    for name, result in (summary.get("benchmarks") or {}).items():
        metric = (result.get("metric") or "rate").replace("_rate", "").replace("_", " ")
        rows.append(
            (
                f"{name} {metric} ({result['n']}, p={result['p_value']:.2g})",
                _rate_ci(result["before"]),
                _rate_ci(result["after"]),
            )
        )
    for task, c in (summary.get("capability") or {}).items():
        low, high = c["change_ci95"]
        rows.append(
            (
                f"{task} accuracy ({c['n']} items; change {c['change_points']:+.1f} "
                f"[{low:+.1f}, {high:+.1f}] points)",
                _fmt(c["before"], True),
                _fmt(c["after"], True),
            )
        )
    return rows


def _rate_ci(side: dict[str, Any]) -> str:
    if side.get("rate") is None:
        return "-"
    low, high = side["ci95"]
    return f"{100 * side['rate']:.1f}% [{100 * low:.0f}-{100 * high:.0f}]"


def format_summary(summary: dict[str, Any]) -> str:
    """The summary as plain text: before/after table, stage times, peak RSS, missing stages."""
    rows = summary_rows(summary)
    width = max(len(r[0]) for r in rows)
    lines = [f"{'':<{width}}  {'before':>16}  {'after':>16}"]
    lines += [f"{name:<{width}}  {before:>16}  {after:>16}" for name, before, after in rows]
    stages = summary.get(STAGE_SECONDS_KEY) or {}
    if stages:
        lines.append("")
        peaks = summary.get(STAGE_PEAK_RSS_KEY) or {}
        lines.append("wall time per stage (peak RSS so far):")
        for stage, seconds in stages.items():
            peak = f"  ({peaks[stage]:,.0f} MB)" if stage in peaks else ""
            lines.append(f"  {stage:<22} {seconds:8.1f} s{peak}")
        lines.append(f"  {'total':<22} {sum(stages.values()):8.1f} s")
    if summary.get(PEAK_RSS_KEY) is not None:
        lines.append(f"peak RSS (this process + children): {summary[PEAK_RSS_KEY]:.0f} MB")
    if summary.get("rounds"):
        from ares_rlhf.report.rounds import format_rounds

        lines.append("")
        lines.append("per round (fresh discovery probes; fixed / new / still broken vs the round before):")
        lines.append(format_rounds(summary["rounds"]))
    missing = summary.get(MISSING_STAGES_KEY) or []
    if missing:
        lines.append("stages NOT run (module missing or failed): " + ", ".join(missing))
    for stage, reason in (summary.get(SKIPPED_STAGES_KEY) or {}).items():
        lines.append(f"stage {stage} skipped: {reason}")
    return "\n".join(lines)


def print_summary(summary: dict[str, Any], console: Any = None) -> None:
    """Print the summary with rich when available (a table), else as plain text."""
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # pragma: no cover - rich is a dependency
        print(format_summary(summary))
        return
    console = console or Console()
    table = Table(title=f"ARES run summary: {summary.get('run_dir', '')}")
    table.add_column("figure")
    table.add_column("before", justify="right")
    table.add_column("after", justify="right")
    for row in summary_rows(summary):
        table.add_row(*row)
    console.print(table)
    rest = format_summary(summary).split("\n")[len(summary_rows(summary)) + 1 :]
    for line in rest:
        console.print(line, highlight=False)
