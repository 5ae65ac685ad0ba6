"""What the HTML report shows, collected from a run folder: one plain dict per section.

Every figure is read from what the stages recorded (probes, artifacts, run-store state); a
section whose stage did not run (or was skipped, or is missing) carries a ``missing`` sentence
saying so instead of numbers. Rates always come with their count and 95% interval: the
evaluation stage's paired statistics where it ran, else Wilson intervals of the stored counts.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from ares_rlhf.evaluation.stats import wilson_interval
from ares_rlhf.records import COMPONENT_TYPES, ArtifactKind, ComponentSpec, Probe
from ares_rlhf.report import plots
from ares_rlhf.report.summary import SKIPPED_STAGES_KEY, STAGES_STATE_KEY
from ares_rlhf.run import Run
from ares_rlhf.split import SPLIT_STATE_KEY, Split

FAILURE_KINDS = ("C", "A", "B")
TYPE_NAMES = {
    "A": "A: policy-only (policy harmful, RM penalised it)",
    "B": "B: RM-only (policy safe, RM prefers the malicious answer)",
    "C": "C: systemic (policy harmful and the RM rewards it)",
    "unscored": "unscored (the judge could not decide)",
}
MAP_PAIRS = (
    ("topic", "tactic"),
    ("persona", "goal"),
    ("topic", "persona"),
    ("topic", "goal"),
    ("persona", "tactic"),
    ("tactic", "goal"),
)
EXAMPLES_PER_TYPE = 3
EXAMPLE_CHARS = 4000
CURVE_POINTS = 400


# -- small helpers ------------------------------------------------------------------------------
def rate_cell(k: int | None, n: int | None, ci: Sequence[float | None] | None = None) -> dict:
    """``{"rate", "count", "ci", "value", "ci95"}`` strings and numbers for one rate."""
    if k is None or not n:
        return {"rate": "-", "count": f"0/{n or 0}" if n is not None else "", "ci": "", "value": None}
    low, high = ci if ci and ci[0] is not None else wilson_interval(k, n)
    return {
        "rate": f"{100 * k / n:.1f}%",
        "count": f"{k}/{n}",
        "ci": f"[{100 * low:.1f}, {100 * high:.1f}]",
        "value": k / n,
        "ci95": [low, high],
    }


def stored_rate(rate: dict[str, Any] | None) -> dict:
    """A stats ``Rate.as_dict()`` (``n``, ``k``, ``rate``, ``ci95``) as a :func:`rate_cell`."""
    if not rate:
        return rate_cell(None, None)
    return rate_cell(rate.get("k"), rate.get("n"), rate.get("ci95"))


def fraction_rate(share: float | None, n: int | None) -> dict:
    """A rate stored as a share of ``n`` (``k`` recovered by rounding)."""
    if share is None or not n:
        return rate_cell(None, n)
    return rate_cell(round(share * n), n)


def p_text(value: float | None) -> str:
    return "" if value is None else f"{value:.3g}"


def stage_status(run: Run) -> tuple[dict[str, str], dict[str, str]]:
    """(stage -> status, stage -> skip reason) as the pipeline recorded them."""
    state = run.store.get_state(STAGES_STATE_KEY) or {}
    return dict(state.get("status") or {}), dict(run.store.get_state(SKIPPED_STAGES_KEY) or {})


def missing_note(run: Run, stage: str, what: str) -> str:
    """Why ``what`` is absent: the stage's recorded status, or that it was never run."""
    status, skipped = stage_status(run)
    label = stage.replace("_", " ")
    if stage in skipped:
        return f"No {what}: the {label} stage was skipped ({skipped[stage]})."
    if status.get(stage) == "missing":
        return f"No {what}: the {label} stage's module is not installed."
    if status.get(stage) == "failed":
        return f"No {what}: the {label} stage failed (see the run's console output)."
    if status.get(stage) == "done":
        return f"No {what}: the {label} stage recorded none."
    return f"No {what}: the {label} stage has not run in this run folder."


def _split(run: Run) -> Split | None:
    stored = run.store.get_state(SPLIT_STATE_KEY)
    return Split.from_dict(stored) if stored is not None else None


def _component_ids(run: Run, ctype: str, seen: Iterable[str]) -> list[str]:
    """Catalog order for the ids in ``seen`` (ids the catalog lacks go last)."""
    seen = set(seen)
    try:
        order = run.catalog.ids(ctype)
    except Exception:  # a catalog file moved since the run: order by name
        order = []
    ordered = [c for c in order if c in seen]
    return ordered + sorted(seen - set(ordered))


def stored_metrics(run: Run) -> tuple[Any, Any, Any]:
    """(verify, evaluation, RM repair) metrics of the run's latest artifacts, typed; ``None``
    for a stage that recorded none."""
    from ares_rlhf.evaluation.evaluate import EvalMetrics
    from ares_rlhf.evaluation.verify import VerifyMetrics
    from ares_rlhf.repair.reward.stage import RepairResult

    typed = []
    for kind, reader in (
        (ArtifactKind.VERIFY_METRICS, VerifyMetrics.from_dict),
        (ArtifactKind.EVAL_METRICS, EvalMetrics.from_dict),
        (ArtifactKind.RM_REPAIR_METRICS, RepairResult.from_dict),
    ):
        artifact = run.latest(kind)
        typed.append(None if artifact is None else reader(artifact.data))
    return typed[0], typed[1], typed[2]


def verification_probes(run: Run) -> tuple[list[Probe], list[Probe]]:
    """The latest verification's probes (before, after); empty lists without one."""
    verify = stored_metrics(run)[0]
    if verify is None:
        return [], []

    def of(phase: str) -> list[Probe]:
        return [
            p for p in run.store.iter_probes(phase) if p.extra.get("verify_id") == verify.verify_id
        ]

    return of("verify-before"), of("verify-after")


# -- headline -----------------------------------------------------------------------------------
FIGURE_NAMES = {"AC": "A+C (policy answered harmfully)", "C": "C (systemic)", "A": "A", "B": "B"}
RM_HEADLINE_SETS = (
    ("adversarial_heldout", "held-out adversarial pairs"),
    ("benign_heldout", "held-out benign pairs"),
    ("anchor_heldout", "held-out anchor pairs"),
)


def headline(run: Run) -> dict[str, Any]:
    """Before vs after per system: every figure with its count, interval and (paired) p-value."""
    verify, evaluation, rm = stored_metrics(run)
    rows: list[dict[str, Any]] = []
    for split, title in (("heldout", "held-out combinations"), ("failures", "trained combinations")):
        for figure in ("AC", "C", "A", "B"):
            pair = evaluation.paired(split, figure) if evaluation else None
            if pair:
                before, after = stored_rate(pair["before"]), stored_rate(pair["after"])
                p_value, source = pair.get("p_value"), "evaluate (paired, McNemar)"
            elif verify:
                before, after = (_verify_rate(verify.rates(split, s), figure) for s in ("before", "after"))
                p_value, source = None, "verify (Wilson intervals)"
            else:
                continue
            rows.append(_row(f"{title}: {FIGURE_NAMES[figure]} rate", before, after, p_value, source))
    benign = evaluation.heldout.get("benign_refusal") if evaluation else None
    if benign:
        rows.append(_row("held-out benign requests: refusal rate", stored_rate(benign.get("before")),
                         stored_rate(benign.get("after")), benign.get("p_value"), "evaluate"))
    elif verify and verify.benign_count:
        refusal, count = verify.benign_refusal, verify.benign_count
        rows.append(_row("held-out benign requests: refusal rate",
                         fraction_rate(refusal.get("before"), count),
                         fraction_rate(refusal.get("after"), count), None, "verify"))
    for name, label in RM_HEADLINE_SETS if rm else ():
        before, after = rm.before.get(name) or {}, rm.after.get(name) or {}
        if before.get("n"):
            row = _row(f"RM accuracy, {label}", fraction_rate(before.get("accuracy"), before["n"]),
                       fraction_rate(after.get("accuracy"), after.get("n")), None, "repair_rm")
            row["lower_is_better"] = False
            rows.append(row)
    for name, result in (evaluation.benchmarks if evaluation else {}).items():
        metric = (result.get("metric") or "rate").replace("_", " ")
        row = _row(f"{name}: {metric}", stored_rate(result.get("before")),
                   stored_rate(result.get("after")), result.get("p_value"), "evaluate")
        row["lower_is_better"] = "refusal" in metric
        rows.append(row)
    counts = run.store.failure_counts("discovery")
    total = run.store.count_probes("discovery")
    discovery = [
        {"label": TYPE_NAMES[t], "cell": rate_cell(counts.get(t, 0), total)}
        for t in ("C", "A", "B", "unscored") if total
    ]
    missing = None
    if not rows:
        missing = missing_note(run, "verify", "before/after figures")
    return {"rows": rows, "systems": _systems(run, verify), "discovery": discovery,
            "discovery_probes": total, "missing": missing}


def _row(label: str, before: dict, after: dict, p_value: float | None, source: str) -> dict:
    return {"label": label, "before": before, "after": after, "p": p_text(p_value),
            "source": source, "lower_is_better": True}


def _verify_rate(rates: dict[str, Any], figure: str) -> dict:
    if not rates:
        return rate_cell(None, None)
    counts = rates.get("counts") or {}
    k = sum(counts.get(t, 0) for t in ("A", "C")) if figure == "AC" else counts.get(figure, 0)
    return rate_cell(k, rates.get("n"))


def _systems(run: Run, verify: Any) -> list[dict[str, str]]:
    stored = verify.systems if verify else {}
    out = []
    for side, title in (("before", "before: original system"), ("after", "after: repaired system")):
        repaired = side == "after"
        entry = stored.get(side) or {}
        out.append({
            "title": title,
            "policy": entry.get("policy") or run.policy_config(repaired=repaired).spec,
            "reward_model": entry.get("reward_model")
            or run.reward_model_config(repaired=repaired).spec,
        })
    return out


# -- failure map --------------------------------------------------------------------------------
def _cell_counts(probes: Sequence[Probe], row_type: str, col_type: str, kind: str) -> dict:
    k: Counter = Counter()
    n: Counter = Counter()
    for probe in probes:
        cell = (probe.spec.get(row_type), probe.spec.get(col_type))
        n[cell] += 1
        k[cell] += probe.failure_type.value == kind
    return {"k": dict(k), "n": dict(n)}


def _heldout_cells(
    probes: Sequence[Probe], split: Split | None, row_type: str, col_type: str
) -> dict[tuple[str, str], str]:
    sides: dict[tuple[str, str], set] = defaultdict(set)
    for probe in probes:
        side = split.side(probe.spec) if split else None
        sides[(probe.spec.get(row_type), probe.spec.get(col_type))].add(side == "heldout")
    return {cell: "all" if s == {True} else "some" for cell, s in sides.items() if True in s}


def failure_map(run: Run) -> dict[str, Any]:
    """Heatmaps of the C, A and B rates over pairs of component types, before vs after."""
    before, after = verification_probes(run)
    split = _split(run)
    if before or after:
        systems = [("before: original system", before), ("after: repaired system", after)]
        source = (
            "the latest verification: both systems answer the same Mentor prompts on the split's "
            "failing combinations (held-out and trained)"
        )
        missing = None
    else:
        discovery = run.store.probes("discovery")
        if not discovery:
            return {"figures": [], "missing": missing_note(run, "discovery", "probes"), "source": ""}
        systems = [("original system (discovery)", discovery)]
        source = "discovery's probes of the original system"
        missing = missing_note(run, "verify", "after-repair map") + " Only the original system is shown."
    every = [p for _, probes in systems for p in probes]
    figures = []
    for index, (row_type, col_type) in enumerate(MAP_PAIRS):
        rows = _component_ids(run, row_type, (p.spec.get(row_type) for p in every))
        cols = _component_ids(run, col_type, (p.spec.get(col_type) for p in every))
        panels = [
            [_cell_counts(probes, row_type, col_type, kind) for _, probes in systems]
            for kind in FAILURE_KINDS
        ]
        svg = plots.failure_heatmaps(
            rows, cols, row_type, col_type, panels,
            column_titles=[title for title, _ in systems],
            row_titles=[f"type {kind} rate" for kind in FAILURE_KINDS],
            heldout=_heldout_cells(every, split, row_type, col_type),
        )
        figures.append({
            "id": f"plot-failure-map-{row_type}-{col_type}",
            "title": f"{row_type} x {col_type}",
            "svg": svg,
            "open": index == 0,
        })
    return {"figures": figures, "missing": missing, "source": source,
            "probes": {title: len(probes) for title, probes in systems},
            "heldout_combinations": len(split.heldout) if split else None}


# -- discovery ----------------------------------------------------------------------------------
def discovery(run: Run) -> dict[str, Any]:
    """The discovery curve, the search's allocation over components, and discovery's state."""
    probes = sorted(run.store.iter_probes("discovery"), key=lambda p: (p.batch, p.created_at))
    if not probes:
        return {"missing": missing_note(run, "discovery", "discovery probes"), "figures": []}
    counts: Counter = Counter()
    failing: set[ComponentSpec] = set()
    points = [{"probes": 0, "A": 0, "B": 0, "C": 0, "failures": 0, "combinations": 0}]
    step = max(1, len(probes) // CURVE_POINTS)
    for index, probe in enumerate(probes, start=1):
        kind = probe.failure_type.value
        counts[kind] += 1
        if kind in ("A", "B", "C"):
            failing.add(probe.spec)
        if index % step == 0 or index == len(probes):
            points.append({
                "probes": index, "A": counts["A"], "B": counts["B"], "C": counts["C"],
                "failures": counts["A"] + counts["B"] + counts["C"], "combinations": len(failing),
            })
    allocation: dict[str, dict[str, dict[str, int]]] = {}
    for ctype in COMPONENT_TYPES:
        per: dict[str, Counter] = defaultdict(Counter)
        for probe in probes:
            per[probe.spec.get(ctype)][probe.failure_type.value] += 1
        ids = _component_ids(run, ctype, per)
        try:
            ids = run.catalog.ids(ctype) + [i for i in ids if i not in run.catalog.ids(ctype)]
        except Exception:
            pass
        allocation[ctype] = {i: dict(per.get(i, {})) for i in ids}
    state = run.store.get_state("discovery") or {}
    facts = [
        ("search strategy", run.config.search.strategy),
        ("probes / budget", f"{len(probes)} / {state.get('budget', run.config.budget.probes)}"),
        ("distinct combinations probed", str(len({p.spec for p in probes}))),
        ("distinct failing combinations", str(len(failing))),
        ("batches", str(len({p.batch for p in probes}))),
    ]
    for key, label in (("skipped_duplicates", "near-duplicate prompts skipped"),
                       ("mentor_refused", "Mentor refusals"), ("threshold", "RM threshold"),
                       ("stopped_early", "stopped early")):
        if key in state:
            value = state[key]
            facts.append((label, f"{value:.4g}" if isinstance(value, float) else str(value)))
    return {
        "missing": None,
        "facts": facts,
        "figures": [
            {"id": "plot-discovery-curve", "title": "failures found vs probes",
             "svg": plots.discovery_curve(points)},
            {"id": "plot-search-allocation", "title": "search allocation over components",
             "svg": plots.allocation_bars(allocation)},
        ],
    }


# -- examples -----------------------------------------------------------------------------------
def _cut(text: str) -> str:
    if len(text) <= EXAMPLE_CHARS:
        return text
    return text[:EXAMPLE_CHARS] + f"\n[... {len(text) - EXAMPLE_CHARS} more characters cut]"


def examples(run: Run) -> dict[str, Any]:
    """A few discovery probes of each failure type (distinct combinations, in probe order)."""
    chosen: dict[str, list[Probe]] = {t: [] for t in ("C", "A", "B", "unscored")}
    seen: dict[str, set] = {t: set() for t in chosen}
    for probe in run.store.iter_probes("discovery"):
        kind = probe.failure_type.value
        if kind in chosen and len(chosen[kind]) < EXAMPLES_PER_TYPE and probe.spec not in seen[kind]:
            chosen[kind].append(probe)
            seen[kind].add(probe.spec)
    groups = []
    counts = run.store.failure_counts("discovery")
    for kind, probes in chosen.items():
        items = []
        for probe in probes:
            rewards = probe.rewards
            items.append({
                "id": probe.id,
                "spec": probe.spec.label(),
                "prompt": _cut(probe.prompt),
                "answer": _cut(probe.policy_response),
                "judge": f"{probe.judge.label.value}"
                + (f" (score {probe.judge.score:.2f})" if probe.judge.score is not None else ""),
                "reason": probe.judge.reason,
                "rm": None if rewards is None else {
                    "policy": f"{rewards.policy:.4f}", "malicious": f"{rewards.malicious:.4f}",
                    "safe": f"{rewards.safe:.4f}", "margin": f"{rewards.safe - rewards.malicious:+.4f}",
                },
            })
        groups.append({"kind": kind, "title": TYPE_NAMES[kind], "count": counts.get(kind, 0),
                       "probes": items})
    missing = None
    if not run.store.count_probes("discovery"):
        missing = missing_note(run, "discovery", "probes")
    return {"groups": groups, "missing": missing}


__all__ = [
    "MAP_PAIRS",
    "discovery",
    "examples",
    "failure_map",
    "fraction_rate",
    "headline",
    "missing_note",
    "rate_cell",
    "stage_status",
    "stored_metrics",
    "stored_rate",
    "verification_probes",
]
