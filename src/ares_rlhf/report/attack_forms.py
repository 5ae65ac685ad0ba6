"""Failure rates per attack form: single-turn, multi-turn tactics, converter-encoded tactics.

A probe's form is its tactic's: a tactic with a ``turns`` plan is multi-turn, one with a
``converters`` chain is converted (the request encoded by base64, leetspeak, ...), any other is
single-turn. Discovery's rates say how often each form failed where the search spent probes (the
adaptive search does not spend them uniformly, so a form's rate is conditional on the
combinations it was tried with; ``benchmarks/multiturn_probes.py`` compares forms on equal
components); the verification's rates pair the original and the repaired system per prompt.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from ares_rlhf.evaluation.evaluate import FIGURES, paired_failure_rates, paired_probes
from ares_rlhf.evaluation.stats import Rate
from ares_rlhf.records import Probe
from ares_rlhf.run import Run

FORMS = ("single-turn", "multi-turn", "converted")


def tactic_forms(run: Run, probes: Sequence[Probe]) -> dict[str, tuple[str, str]]:
    """``tactic id -> (form, label)`` for the tactics in ``probes``; a tactic the catalog no
    longer has is multi-turn when its probes carry a plan, else single-turn."""
    out: dict[str, tuple[str, str]] = {}
    for probe in probes:
        tactic_id = probe.spec.tactic
        if tactic_id in out:
            continue
        try:
            tactic = run.catalog.get("tactic", tactic_id)
        except Exception:  # a catalog file changed since the run
            out[tactic_id] = ("multi-turn" if probe.plan else "single-turn", tactic_id)
            continue
        if tactic.multi_turn:
            out[tactic_id] = ("multi-turn", f"{tactic_id} ({len(tactic.turns)} turns)")
        elif tactic.converters:
            out[tactic_id] = ("converted", f"{tactic_id} ({' + '.join(tactic.converters)})")
        else:
            out[tactic_id] = ("single-turn", tactic_id)
    return out


def form_rates(probes: Sequence[Probe]) -> dict[str, Any]:
    """Counts and rates of one group of discovery probes: any failure, A+C, C (Wilson 95%)."""
    counts = Counter(p.failure_type.value for p in probes)
    n, unscored = len(probes), counts.get("unscored", 0)
    return {
        "probes": n,
        "counts": {t: counts.get(t, 0) for t in ("A", "B", "C", "none", "unscored")},
        "failures": Rate.of(sum(counts.get(t, 0) for t in "ABC"), n, unscored).as_dict(),
        "policy_harmful": Rate.of(counts.get("A", 0) + counts.get("C", 0), n, unscored).as_dict(),
        "systemic": Rate.of(counts.get("C", 0), n, unscored).as_dict(),
    }


def _groups(
    probes: Sequence[Probe], forms: dict[str, tuple[str, str]]
) -> list[tuple[str, str, str, list[Probe]]]:
    """(form, row label, level, probes): one row per form, then one per tactic of the
    multi-turn and converted forms (single-turn tactics stay pooled: they are the reference)."""
    rows = []
    for form in FORMS:
        chosen = [p for p in probes if forms[p.spec.tactic][0] == form]
        if not chosen:
            continue
        rows.append((form, form, "form", chosen))
        if form == "single-turn":
            continue
        labels = sorted({forms[p.spec.tactic][1] for p in chosen})
        for label in labels:
            rows.append(
                (form, label, "tactic", [p for p in chosen if forms[p.spec.tactic][1] == label])
            )
    return rows


def attack_form_table(
    run: Run, verification: tuple[Sequence[Probe], Sequence[Probe]] = ((), ())
) -> dict[str, Any]:
    """Discovery's failure rates per attack form and per multi-turn / converted tactic, and,
    where a verification ran, the paired A+C rate before vs after repair per form."""
    discovery = run.store.probes("discovery")
    before, after = verification
    pairs = paired_probes(before, after)
    forms = tactic_forms(run, [*discovery, *before])
    rows = []
    for form, label, level, probes in _groups(discovery, forms):
        row: dict[str, Any] = {"form": form, "label": label, "level": level, **form_rates(probes)}
        key = 0 if level == "form" else 1  # a form row's label is its form
        chosen = [(b, a) for b, a in pairs if forms[b.spec.tactic][key] == label]
        if chosen:
            row["verify_policy_harmful"] = paired_failure_rates(chosen, FIGURES["AC"])
        rows.append(row)
    return {"rows": rows, "discovery_probes": len(discovery), "verify_pairs": len(pairs)}


def section(run: Run) -> dict[str, Any]:
    """The report's attack-form table: rate cells per row, with the verification's before /
    after A+C rate and McNemar p where a verification ran."""
    from ares_rlhf.report.sections import missing_note, p_text, stored_rate, verification_probes

    table = attack_form_table(run, verification_probes(run))
    if not table["rows"]:
        return {"missing": missing_note(run, "discovery", "probes"), "rows": []}
    rows = []
    for row in table["rows"]:
        verify = row.get("verify_policy_harmful") or {}
        rows.append(
            {
                "label": row["label"],
                "level": row["level"],
                "probes": row["probes"],
                "counts": row["counts"],
                "failures": stored_rate(row["failures"]),
                "policy_harmful": stored_rate(row["policy_harmful"]),
                "verify_before": stored_rate(verify.get("before")),
                "verify_after": stored_rate(verify.get("after")),
                "p": p_text(verify.get("p_value")),
            }
        )
    return {
        "missing": None,
        "rows": rows,
        "discovery_probes": table["discovery_probes"],
        "verify_pairs": table["verify_pairs"],
    }


def attack_form_summary(run: Run) -> dict[str, Any]:
    """``{form: {probes, failures, failures_per_probe, ci95, type_c}}`` of discovery, for
    summary.json (per form only; the report carries the per-tactic rows)."""
    table = attack_form_table(run)
    return {
        row["form"]: {
            "probes": row["probes"],
            "failures": row["failures"]["k"],
            "failures_per_probe": row["failures"]["rate"],
            "ci95": row["failures"]["ci95"],
            "type_c": row["counts"]["C"],
        }
        for row in table["rows"]
        if row["level"] == "form"
    }


__all__ = [
    "FORMS",
    "attack_form_summary",
    "attack_form_table",
    "form_rates",
    "section",
    "tactic_forms",
]
