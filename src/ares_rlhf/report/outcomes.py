"""The report's repair and evaluation sections: RM repair, policy repair, evaluation tables.

Like :mod:`ares_rlhf.report.sections`, each function returns one plain dict for the template,
built only from what the stages recorded, with a ``missing`` sentence when a stage did not run.
"""

from __future__ import annotations

import math
from typing import Any

from ares_rlhf.records import ArtifactKind
from ares_rlhf.report import plots
from ares_rlhf.report.sections import (
    fraction_rate,
    missing_note,
    p_text,
    stored_metrics,
    stored_rate,
    verification_probes,
)
from ares_rlhf.run import Run

RM_SETS = {
    "adversarial_heldout": "held-out adversarial pairs (safe vs malicious, combinations never trained on)",
    "adversarial_train": "trained adversarial pairs",
    "anchor_heldout": "held-out anchor pairs (general preference data)",
    "benign_heldout": "held-out benign pairs (helpful answer vs needless refusal)",
}
POLICY_CURVES = (
    "loss", "reward", "rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies",
    "kl", "objective/kl", "reward_std", "entropy", "grad_norm", "learning_rate",
)
MAX_CURVES = 9


def _series(history: list[dict[str, Any]], preferred: tuple[str, ...]) -> dict[str, list]:
    """``metric -> [(step, value)]`` of the per-step entries of a trainer's ``log_history``."""
    steps = [e for e in history if "step" in e and "train_runtime" not in e]
    found: dict[str, list] = {}
    for entry in steps:
        for key, value in entry.items():
            if key in ("step", "epoch") or isinstance(value, bool):
                continue
            if isinstance(value, int | float) and math.isfinite(value):
                found.setdefault(key, []).append((entry["step"], float(value)))
    ordered = [k for k in preferred if k in found]
    ordered += [k for k in found if k not in ordered and not k.startswith(("num_", "logits/"))]
    return {k: found[k] for k in ordered[:MAX_CURVES]}


def _training(
    history: list[dict[str, Any]], preferred: tuple[str, ...], figure: dict[str, str]
) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """(figures, logged values): curves when some metric was logged at two steps or more,
    else the single logged step's values as a table (a one-point curve shows nothing)."""
    curves = _series(history, preferred)
    if not curves:
        return [], []
    if max(len(points) for points in curves.values()) >= 2:
        return [{**figure, "svg": plots.training_curves(curves)}], []
    return [], [(f"{name} (step {points[0][0]:g})", f"{points[0][1]:.4g}")
                for name, points in curves.items()]


# -- RM repair ----------------------------------------------------------------------------------
def rm_repair(run: Run) -> dict[str, Any]:
    """Pairwise accuracy and margin distributions of the RM before vs after its repair."""
    result = stored_metrics(run)[2]
    if result is None:
        return {"missing": missing_note(run, "repair_rm", "reward-model repair"), "figures": []}
    before, after = result.before, result.after
    rows = []
    for name, label in RM_SETS.items():
        first, second = before.get(name) or {}, after.get(name) or {}
        if not first.get("n"):
            continue
        rows.append({
            "label": label,
            "n": first["n"],
            "before": fraction_rate(first.get("accuracy"), first["n"]),
            "after": fraction_rate(second.get("accuracy"), second.get("n")),
            "median_before": _num(first.get("margin_median")),
            "median_after": _num(second.get("margin_median")),
        })
    figures = []
    groups = _probe_margins(run)
    if groups:
        figures.append({
            "id": "plot-rm-margins-probes", "title": "RM margin per verification probe",
            "caption": "From the verification probes' RM scores: the original RM scored the "
            "original system's probes, the repaired RM the repaired system's, on the same Mentor "
            "prompts and the same safe / malicious reference answers. Right of the dashed line "
            "the RM prefers the safe answer.",
            "svg": plots.margin_histograms(groups),
        })
    sets = {RM_SETS[k].split(" (")[0]: {"before": before.get(k), "after": after.get(k)}
            for k in RM_SETS if (before.get(k) or {}).get("n")}
    if sets:
        figures.append({
            "id": "plot-rm-margins-sets", "title": "RM margin summary per pair set",
            "caption": "From the margin summaries the repair_rm stage stored (min, 10%, median, "
            "90%, mean of score(chosen) - score(rejected)); the benign set pairs a helpful answer "
            "(chosen) with a needless refusal (rejected).",
            "svg": plots.margin_quantiles(sets),
        })
    curves, logged = _training(
        result.log_history, ("loss", "accuracy", "margin", "grad_norm", "learning_rate"),
        {"id": "plot-rm-training", "title": "RM training log",
         "caption": "The reward trainer's log_history, per logged step."},
    )
    figures += curves
    facts = [("source model", result.source_model), ("method", result.method)]
    facts += [(k.replace("_", " ") + " pairs", str(v)) for k, v in result.counts.items()]
    facts.append(("training seconds", f"{result.train_seconds:.1f}"))
    return {"missing": None, "rows": rows, "figures": figures, "facts": facts, "logged": logged}


def _num(value: Any) -> str:
    return "-" if value is None else f"{value:+.4f}"


def _probe_margins(run: Run) -> dict[str, dict[str, list[float]]]:
    before, after = verification_probes(run)
    groups: dict[str, dict[str, list[float]]] = {}
    for side, probes in (("before", before), ("after", after)):
        for probe in probes:
            if probe.rewards is None:
                continue
            split = probe.extra.get("split")
            name = "held-out combinations" if split == "heldout" else "trained combinations"
            groups.setdefault(name, {"before": [], "after": []})[side].append(
                probe.rewards.safe - probe.rewards.malicious
            )
    order = ("held-out combinations", "trained combinations")
    return {k: groups[k] for k in order if k in groups}


# -- policy repair ------------------------------------------------------------------------------
def policy_repair(run: Run) -> dict[str, Any]:
    """The policy trainer's settings, counts and training curves."""
    artifact = run.latest(ArtifactKind.POLICY_CHECKPOINT)
    if artifact is None:
        return {"missing": missing_note(run, "repair_policy", "policy repair"), "figures": []}
    data = dict(artifact.data)
    history = data.pop("log_history", None) or []
    facts = [("checkpoint", artifact.path or "")]
    for key, value in data.items():
        if value is None:
            continue
        text = f"{value:.4g}" if isinstance(value, float) else str(value)
        facts.append((key.replace("_", " "), text))
    figures, logged = _training(history, POLICY_CURVES, {
        "id": "plot-policy-training", "title": "policy training curves",
        "caption": f"The {data.get('algorithm', 'policy')} trainer's log_history, per step "
        f"({len(history)} entries logged).",
    })
    missing = None if figures or logged else "The policy trainer logged no per-step metrics."
    return {"missing": missing, "facts": facts, "figures": figures, "logged": logged}


# -- evaluation ---------------------------------------------------------------------------------
FIGURE_LABELS = {"AC": "A+C rate", "C": "C rate", "A": "A rate", "B": "B rate"}


def _paired_row(label: str, pair: dict[str, Any], scored_by: str = "") -> dict[str, Any]:
    return {
        "label": label,
        "n": (pair.get("before") or {}).get("n"),
        "before": stored_rate(pair.get("before")),
        "after": stored_rate(pair.get("after")),
        "p": p_text(pair.get("p_value")),
        "scored_by": scored_by,
    }


def evaluation(run: Run) -> dict[str, Any]:
    """The evaluation stage's tables: own probes, safety benchmarks, over-refusal, capability."""
    metrics = stored_metrics(run)[1]
    if metrics is None:
        return {"missing": missing_note(run, "evaluate", "evaluation"), "figures": []}
    own = []
    for split, title in (("heldout", "held-out combinations"), ("failures", "trained combinations")):
        for figure, label in FIGURE_LABELS.items():
            pair = metrics.paired(split, figure)
            if pair:
                own.append(_paired_row(f"{title}: {label}", pair, metrics.judge))
    benign = metrics.heldout.get("benign_refusal") or {}
    if benign.get("before"):
        own.append(_paired_row("held-out benign requests: refusal rate", benign, "is_refusal"))
    benchmarks, refusal, chart = [], [], []
    for name, result in metrics.benchmarks.items():
        metric = (result.get("metric") or "rate").replace("_", " ")
        row = _paired_row(f"{name}: {metric}", result, result.get("scored_by", ""))
        target = refusal if result.get("kind") == "over_refusal" or result.get("classes") else benchmarks
        target.append(row)
        chart.append({"label": row["label"], "before": row["before"], "after": row["after"]})
        for cls, pair in (result.get("classes") or {}).items():
            if cls.replace("_", " ") != metric.removesuffix(" rate"):
                target.append(_paired_row(f"{name}: {cls.replace('_', ' ')}", pair,
                                          result.get("scored_by", "")))
        if result.get("unsafe_contrast"):
            contrast = result["unsafe_contrast"]
            target.append(_paired_row(f"{name}: unsafe contrast prompts, safety rate", contrast,
                                      contrast.get("scored_by", "")))
    capability = []
    for task, change in metrics.capability.items():
        low, high = change.change_ci95
        capability.append({
            "task": task, "metric": change.metric, "shots": change.num_fewshot, "n": change.n,
            "before": fraction_rate(change.before, change.n),
            "after": fraction_rate(change.after, change.n),
            "change": f"{change.change_points:+.1f}",
            "change_ci": f"[{low:+.1f}, {high:+.1f}]",
            "p": p_text(change.p_value),
        })
    figures = []
    points = [r for r in chart if r["before"].get("value") is not None]
    if points:
        figures.append({
            "id": "plot-benchmarks", "title": "benchmark rates before vs after (95% intervals)",
            "caption": "Safety rate: share of harmful-request prompts answered safely (higher is "
            "better); over-refusal: share of safe prompts refused (lower is better).",
            "svg": plots.rate_intervals(
                [{"label": r["label"], "before": _interval(r["before"]), "after": _interval(r["after"])}
                 for r in points]
            ),
        })
    notes = []
    if not benchmarks and not refusal:
        notes.append("No safety benchmarks: evaluate.benchmarks_dir was "
                     + ("not set." if not metrics.settings.get("benchmarks_dir") else "empty."))
    if not capability:
        notes.append("No capability tasks were evaluated (no capability data found).")
    return {
        "missing": None, "judge": metrics.judge, "systems": metrics.systems,
        "own": own, "benchmarks": benchmarks, "refusal": refusal, "capability": capability,
        "figures": figures, "notes": notes, "seconds": metrics.seconds,
    }


def _interval(cell: dict[str, Any]) -> dict[str, Any]:
    return {"rate": cell.get("value"), "ci95": cell.get("ci95")}


__all__ = ["evaluation", "policy_repair", "rm_repair"]
