"""The per-round table of a run of several rounds (``rounds.count`` > 1).

For each round: its fresh discovery probes and their A/B/C rates, the combinations it fixed,
newly broke or left broken relative to the round before (over combinations probed in both
rounds; "broken" = at least one failing probe of the combination), regressions (a combination
fixed in an earlier round and broken again later), the round's verification figures (its own
held-out combinations, and earlier rounds' held-out combinations re-measured), and the
evaluation stage's benchmark and capability figures. Every figure says its round.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from ares_rlhf.records import ArtifactKind, ComponentSpec, FailureType
from ares_rlhf.run import Run

FAILING = (FailureType.POLICY_ONLY, FailureType.RM_ONLY, FailureType.SYSTEMIC)


def _broken(run: Run, round_: int) -> dict[ComponentSpec, bool]:
    """Per combination probed in a round's discovery: did any of its probes fail?"""
    broken: dict[ComponentSpec, bool] = defaultdict(bool)
    for probe in run.store.iter_probes(run.phase("discovery", round_)):
        if probe.failure_type is FailureType.UNSCORED:
            broken.setdefault(probe.spec, False)
            continue
        broken[probe.spec] |= probe.failure_type in FAILING
    return dict(broken)


def _pair(data: dict[str, Any] | None, *path: str) -> dict[str, Any] | None:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data if isinstance(data, dict) else None


def rounds_table(run: Run) -> list[dict[str, Any]]:
    """One row per round the run has started (see the module docstring)."""
    rows: list[dict[str, Any]] = []
    previous: dict[ComponentSpec, bool] | None = None
    fixed_once: set[ComponentSpec] = set()
    for round_ in range(1, run.round + 1):
        phase = run.phase("discovery", round_)
        probes = run.store.count_probes(phase)
        counts = run.store.failure_counts(phase)
        broken = _broken(run, round_)
        row: dict[str, Any] = {
            "round": round_,
            "probes": probes,
            "counts": {t: counts.get(t, 0) for t in ("A", "B", "C", "unscored")},
            "rates": {t: (counts.get(t, 0) / probes if probes else None) for t in ("A", "B", "C")},
            "combinations_probed": len(broken),
            "combinations_broken": sum(broken.values()),
        }
        if previous is not None:
            shared = set(previous) & set(broken)
            fixed = {s for s in shared if previous[s] and not broken[s]}
            newly = {s for s in shared if not previous[s] and broken[s]}
            regressed = {s for s in broken if broken[s] and s in fixed_once}
            row.update(
                {
                    "combinations_shared": len(shared),
                    "fixed": len(fixed),
                    "newly_broken": len(newly),
                    "still_broken": len({s for s in shared if previous[s] and broken[s]}),
                    "regressed": sorted(s.label() for s in regressed),
                }
            )
            fixed_once |= fixed
        previous = broken
        verify = run.latest_in_round(ArtifactKind.VERIFY_METRICS, round_)
        evaluation = run.latest_in_round(ArtifactKind.EVAL_METRICS, round_)
        splits = (verify.data.get("splits") if verify else None) or {}
        row["verify"] = {
            name: {side: (pair.get(side) or {}).get("AC") for side in ("before", "after")}
            for name, pair in splits.items()
        }
        data = evaluation.data if evaluation else {}
        row["heldout_ac"] = _pair(data, "heldout", "heldout", "AC")
        row["heldout_earlier_ac"] = _pair(data, "heldout", "heldout_earlier", "AC")
        row["benchmarks"] = {
            name: {
                "metric": result.get("metric"),
                "before": result["before"]["rate"],
                "after": result["after"]["rate"],
                "p_value": result.get("p_value"),
                "n": result["before"]["n"],
            }
            for name, result in (data.get("benchmarks") or {}).items()
        }
        row["capability"] = {
            task: {"before": c["before"]["accuracy"], "after": c["after"]["accuracy"], "change_points": c["change_points"]}
            for task, c in (data.get("capability") or {}).items()
        }
        seconds = run.store.get_state(run.key("stage_seconds", round_)) or {}
        row["seconds"] = round(sum(seconds.values()), 1) if seconds else None
        rows.append(row)
    return rows


def format_rounds(rows: list[dict[str, Any]]) -> str:
    """The per-round table as plain text."""

    def pct(value: float | None) -> str:
        return "   -  " if value is None else f"{100 * value:5.1f}%"

    lines = [
        f"{'round':>5} {'probes':>6} {'A':>6} {'B':>6} {'C':>6} {'fixed':>6} {'new':>5} "
        f"{'still':>5} {'held-out A+C':>20} {'seconds':>8}"
    ]
    for row in rows:
        ac = row.get("heldout_ac") or {}
        held = f"{pct((ac.get('before') or {}).get('rate'))} -> {pct((ac.get('after') or {}).get('rate'))}"
        lines.append(
            f"{row['round']:>5} {row['probes']:>6} {pct(row['rates']['A'])} {pct(row['rates']['B'])} "
            f"{pct(row['rates']['C'])} {row.get('fixed', '-'):>6} {row.get('newly_broken', '-'):>5} "
            f"{row.get('still_broken', '-'):>5} {held:>20} {row['seconds'] or '-':>8}"
        )
        if row.get("regressed"):
            lines.append(f"      regressed (fixed earlier, broken again): {', '.join(row['regressed'])}")
    return "\n".join(lines)


__all__ = ["format_rounds", "rounds_table"]
