"""Compare two sets of probes: two runs, two phases of one run, two rounds, two models.

A side is a run folder plus a **selector** (see :func:`parse_side`)::

    RUN_DIR                      the run's discovery probes
    RUN_DIR:verify-after         a phase (shorthand for RUN_DIR:phase=verify-after)
    RUN_DIR:round=2              round 2's discovery probes
    RUN_DIR:round=2,phase=verify-after

Rounds: a probe's round is ``probe.extra["round"]``; a probe without one belongs to round 1. A
verification phase can hold several verifications; a side reads the latest one (the
``verify_id`` of the phase's last probe).

What :func:`compare` reports (the *first* side is the baseline, the *second* the one measured
against it; in the JSON the paired rates call them ``before`` and ``after``):

* per side, the A / B / C / A+C / any-failure rates over all its probes, each with its count and
  Wilson 95% interval (an unscored probe counts in ``n``, never as a failure, and apart in
  ``unscored``);
* **paired prompts**: a probe of the first side and one of the second with identical messages
  form a pair (the i-th occurrence of a prompt on one side with the i-th on the other); per
  outcome the rates on the pairs and the exact McNemar p-value (pairs unscored on either side
  are left out);
* **combinations** probed on both sides: each one's failure rate per side (``None`` when none of
  its probes there was scored) and the difference; its status (a combination is *broken* on a
  side when at least one of its probes there failed as A, B or C): ``fixed`` (broken on the
  first side, not on the second), ``newly_broken``, ``still_broken``, ``still_fine``, or
  ``unscored`` (no scored probe on a side); the exact McNemar test over the combinations (its
  discordant pairs are the fixed and the newly broken ones); the mean per-combination difference
  (second - first) with a paired bootstrap interval; the statuses per side of the runs' held-out
  split (the first run's stored split, else the second's).

The combination test is the one to read whenever the sides share no prompt (two runs with other
seeds, another Mentor): the combination is then the paired unit. A combination probed more often
on one side has more chances to show a failure there; each combination's probe counts are
reported with it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ares_rlhf.errors import ConfigError, DataError
from ares_rlhf.evaluation.stats import Rate, paired_bootstrap_ci, paired_rates
from ares_rlhf.records import ComponentSpec, FailureType, Probe, in_round
from ares_rlhf.split import SPLIT_STATE_KEY, Split
from ares_rlhf.store.sqlite import RunStore

DEFAULT_PHASE = "discovery"
VERIFY_PHASES = ("verify-before", "verify-after")
SELECTOR_KEYS = ("phase", "round")
_SELECTOR = re.compile(r"^[A-Za-z0-9_.=,-]+$")

OUTCOMES: dict[str, tuple[FailureType, ...]] = {
    "A": (FailureType.POLICY_ONLY,),
    "B": (FailureType.RM_ONLY,),
    "C": (FailureType.SYSTEMIC,),
    "AC": (FailureType.POLICY_ONLY, FailureType.SYSTEMIC),
    "any": (FailureType.POLICY_ONLY, FailureType.RM_ONLY, FailureType.SYSTEMIC),
}
"""Outcome name -> the failure types that count as that outcome."""
OUTCOME_TITLES = {
    "A": "A policy-only",
    "B": "B RM-only",
    "C": "C systemic",
    "AC": "A+C policy harmful",
    "any": "any failure",
}
STATUSES = ("fixed", "newly_broken", "still_broken", "still_fine", "unscored")
WORST_FIRST = (FailureType.SYSTEMIC, FailureType.RM_ONLY, FailureType.POLICY_ONLY)
PAIRING_RULE = (
    "prompts: probes with identical messages pair up (i-th occurrence with i-th); "
    "combinations: a combination probed on both sides is one pair, broken on a side when at "
    "least one of its probes there failed (A, B or C)"
)


# -- sides --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Side:
    """One side of a comparison: a run folder, a phase and (optionally) a round."""

    run_dir: Path
    phase: str = DEFAULT_PHASE
    round: int | None = None

    @property
    def selector(self) -> str:
        parts = [] if self.round is None else [f"round={self.round}"]
        if self.phase != DEFAULT_PHASE or not parts:
            parts.append(f"phase={self.phase}")
        return ",".join(parts)

    @property
    def label(self) -> str:
        return f"{self.run_dir}:{self.selector}"


def _parse_selector(run_dir: Path, selector: str, text: str) -> Side:
    phase, round_ = DEFAULT_PHASE, None
    if "=" not in selector:
        return Side(run_dir, selector)
    for part in selector.split(","):
        key, sep, value = part.partition("=")
        if not sep or not value:
            raise ConfigError(f"{text!r}: selector part {part!r} is not KEY=VALUE")
        if key == "phase":
            phase = value
        elif key == "round":
            if not value.isdigit() or int(value) < 1:
                raise ConfigError(f"{text!r}: round must be a whole number >= 1, got {value!r}")
            round_ = int(value)
        else:
            raise ConfigError(
                f"{text!r}: unknown selector {key!r}; use {', '.join(SELECTOR_KEYS)} "
                "(e.g. RUN:phase=verify-after or RUN:round=2)"
            )
    return Side(run_dir, phase, round_)


def parse_side(text: str) -> Side:
    """``RUN_DIR[:PHASE | :KEY=VALUE[,KEY=VALUE]]`` (keys ``phase``, ``round``) as a :class:`Side`.

    A path that exists is taken whole (so a folder name may contain ``:``).
    """
    if not text:
        raise ConfigError("empty run selection; give RUN_DIR or RUN_DIR:SELECTOR")
    path, sep, selector = text.rpartition(":")
    if Path(text).exists() or not sep or not path or not _SELECTOR.match(selector):
        return Side(Path(text))
    return _parse_selector(Path(path), selector, text)


def _probe_round(probe: Probe) -> int:
    """A probe's round (``extra["round"]``, 1 when absent; -1 when unreadable)."""
    try:
        return int(probe.extra.get("round", 1))
    except (TypeError, ValueError):
        return -1


def select_probes(store: RunStore, side: Side) -> list[Probe]:
    """The probes of one side; ``DataError`` for an unknown phase or an empty selection."""
    phases = store.phases()
    phase = side.phase
    if side.round is not None and in_round(side.phase, side.round) in phases:
        phase = in_round(side.phase, side.round)  # a later round keeps its probes apart
    if phase not in phases:
        found = ", ".join(phases) or "no probes at all"
        raise DataError(f"{side.run_dir}: no {side.phase!r} probes (the run has: {found})")
    probes = store.probes(phase)
    if side.round is not None:
        rounds = sorted({_probe_round(p) for p in probes})
        probes = [p for p in probes if _probe_round(p) == side.round]
        if not probes:
            found = ", ".join(str(r) for r in rounds if r >= 1) or "none"
            raise DataError(
                f"{side.run_dir}: no {side.phase} probes in round {side.round} (rounds: {found})"
            )
    if side.phase in VERIFY_PHASES and probes and probes[-1].extra.get("verify_id"):
        latest = probes[-1].extra["verify_id"]
        probes = [p for p in probes if p.extra.get("verify_id") == latest]
    return probes


# -- per-side figures -----------------------------------------------------------------------------
def _outcome(probe: Probe, key: str) -> bool | None:
    if probe.failure_type is FailureType.UNSCORED:
        return None
    return probe.failure_type in OUTCOMES[key]


def side_rates(probes: Sequence[Probe]) -> dict[str, Rate]:
    """Each outcome's rate over all probes (unscored in ``n`` and ``unscored``, never a failure)."""
    unscored = sum(p.failure_type is FailureType.UNSCORED for p in probes)
    return {
        key: Rate.of(sum(p.failure_type in types for p in probes), len(probes), unscored)
        for key, types in OUTCOMES.items()
    }


@dataclass
class CombinationFigures:
    """One combination's probes on one side."""

    n: int = 0
    failures: int = 0
    unscored: int = 0
    worst: str = "none"

    @property
    def rate(self) -> float | None:
        """Failures / probes (unscored ones included); ``None`` when no probe was scored."""
        return self.failures / self.n if self.n > self.unscored else None

    @property
    def broken(self) -> bool | None:
        """At least one A/B/C probe; ``None`` when every probe is unscored."""
        if self.failures:
            return True
        return None if self.unscored == self.n else False

    def as_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "failures": self.failures,
            "unscored": self.unscored,
            "rate": self.rate,
            "worst": self.worst,
        }


def by_combination(probes: Sequence[Probe]) -> dict[ComponentSpec, CombinationFigures]:
    figures: dict[ComponentSpec, CombinationFigures] = {}
    types: dict[ComponentSpec, set[FailureType]] = {}
    for probe in probes:
        entry = figures.setdefault(probe.spec, CombinationFigures())
        entry.n += 1
        entry.failures += probe.failure_type.is_failure
        entry.unscored += probe.failure_type is FailureType.UNSCORED
        types.setdefault(probe.spec, set()).add(probe.failure_type)
    for spec, entry in figures.items():
        entry.worst = next((t.value for t in WORST_FIRST if t in types[spec]), "none")
    return figures


def status(a: CombinationFigures, b: CombinationFigures) -> str:
    if a.broken is None or b.broken is None:
        return "unscored"
    if a.broken:
        return "still_broken" if b.broken else "fixed"
    return "newly_broken" if b.broken else "still_fine"


def _combination_outcome(probes: Sequence[Probe], key: str) -> bool | None:
    outcomes = [_outcome(p, key) for p in probes]
    if any(outcomes):
        return True
    return None if all(o is None for o in outcomes) else False


# -- the comparison -------------------------------------------------------------------------------
def pair_prompts(a: Sequence[Probe], b: Sequence[Probe]) -> list[tuple[Probe, Probe]]:
    """Probes with identical messages: the i-th occurrence on ``a`` with the i-th on ``b``."""
    queues: dict[str, list[Probe]] = {}
    for probe in b:
        queues.setdefault(_prompt_key(probe), []).append(probe)
    pairs = []
    for probe in a:
        queue = queues.get(_prompt_key(probe))
        if queue:
            pairs.append((probe, queue.pop(0)))
    return pairs


def _prompt_key(probe: Probe) -> str:
    return json.dumps(probe.messages, sort_keys=True, ensure_ascii=False)


def _side_info(side: Side, store: RunStore, probes: Sequence[Probe]) -> dict[str, Any]:
    return {
        "selection": side.label,
        "run_dir": str(side.run_dir),
        "phase": side.phase,
        "round": side.round,
        "probes": len(probes),
        "combinations": len({p.spec for p in probes}),
        "policy_ids": sorted({p.policy_id for p in probes}),
        "reward_model_ids": sorted({p.reward_model_id for p in probes}),
        "catalog": store.config().get("catalog"),
        "rates": {k: r.as_dict() for k, r in side_rates(probes).items()},
    }


def _stored_split(store: RunStore) -> Split | None:
    stored = store.get_state(SPLIT_STATE_KEY)
    return None if stored is None else Split.from_dict(stored)


def _split_side(splits: Sequence[Split | None]) -> Callable[[ComponentSpec], str | None]:
    def side_of(spec: ComponentSpec) -> str | None:
        for split in splits:
            if split is not None and (found := split.side(spec)) is not None:
                return found
        return None

    return side_of


def compare_probes(
    a: Sequence[Probe],
    b: Sequence[Probe],
    *,
    split_of: Callable[[ComponentSpec], str | None] = lambda spec: None,
    seed: int = 0,
) -> dict[str, Any]:
    """The paired figures of two probe sets (see the module docstring); ``DataError`` when no
    combination was probed on both sides."""
    figures_a, figures_b = by_combination(a), by_combination(b)
    shared = sorted(set(figures_a) & set(figures_b))
    if not shared:
        raise DataError(
            f"no combination was probed on both sides ({len(figures_a)} on the first, "
            f"{len(figures_b)} on the second); nothing to pair (compare runs over the same catalog)"
        )
    pairs = pair_prompts(a, b)
    prompts = None
    if pairs:
        prompts = {
            "n": len(pairs),
            "outcomes": {
                key: paired_rates(
                    [_outcome(x, key) for x, _ in pairs], [_outcome(y, key) for _, y in pairs]
                ).as_dict()
                for key in OUTCOMES
            },
        }
    probes_a: dict[ComponentSpec, list[Probe]] = {}
    probes_b: dict[ComponentSpec, list[Probe]] = {}
    for probe in a:
        probes_a.setdefault(probe.spec, []).append(probe)
    for probe in b:
        probes_b.setdefault(probe.spec, []).append(probe)
    rows = []
    for spec in shared:
        fa, fb = figures_a[spec], figures_b[spec]
        diff = None if fa.rate is None or fb.rate is None else fb.rate - fa.rate
        rows.append(
            {
                "combination": spec.label(),
                "split": split_of(spec),
                "first": fa.as_dict(),
                "second": fb.as_dict(),
                "difference": diff,
                "status": status(fa, fb),
            }
        )
    combination_tests = {
        key: paired_rates(
            [_combination_outcome(probes_a[s], key) for s in shared],
            [_combination_outcome(probes_b[s], key) for s in shared],
        ).as_dict()
        for key in OUTCOMES
    }
    rated = [r for r in rows if r["difference"] is not None]
    diff, low, high = paired_bootstrap_ci(
        [r["first"]["rate"] for r in rated], [r["second"]["rate"] for r in rated], seed=seed
    )
    statuses = {name: [r["combination"] for r in rows if r["status"] == name] for name in STATUSES}
    by_split: dict[str, dict[str, int]] = {}
    for row in rows:
        counts = by_split.setdefault(row["split"] or "outside", dict.fromkeys(STATUSES, 0))
        counts[row["status"]] += 1
    return {
        "paired_prompts": prompts,
        "combinations": {
            "shared": len(shared),
            "only_first": len(set(figures_a) - set(figures_b)),
            "only_second": len(set(figures_b) - set(figures_a)),
            "counts": {name: len(labels) for name, labels in statuses.items()},
            **statuses,
            "by_split": by_split,
            "mcnemar": combination_tests,
            "mean_failure_rate_difference": {"diff": diff, "ci95": [low, high], "n": len(rated)},
            "rows": rows,
        },
    }


def compare(side_a: Side, side_b: Side, *, seed: int = 0) -> dict[str, Any]:
    """Compare two sides (run folders opened read-only); one JSON-ready object."""
    if side_a.run_dir.resolve() == side_b.run_dir.resolve() and (side_a.phase, side_a.round) == (
        side_b.phase,
        side_b.round,
    ):
        raise ConfigError(
            f"both sides select the same probes ({side_a.label}); compare two runs, two phases "
            "(RUN:verify-before RUN:verify-after) or two rounds (RUN:round=1 RUN:round=2)"
        )
    with RunStore.open(side_a.run_dir) as store_a, RunStore.open(side_b.run_dir) as store_b:
        probes_a, probes_b = select_probes(store_a, side_a), select_probes(store_b, side_b)
        info_a = _side_info(side_a, store_a, probes_a)
        info_b = _side_info(side_b, store_b, probes_b)
        split_of = _split_side([_stored_split(store_a), _stored_split(store_b)])
        paired = compare_probes(probes_a, probes_b, split_of=split_of, seed=seed)
    notes = []
    if info_a["catalog"] != info_b["catalog"]:
        notes.append(
            "the runs name different catalogs; combinations are matched by their component ids"
        )
    change = {
        key: None
        if info_a["rates"][key]["rate"] is None or info_b["rates"][key]["rate"] is None
        else info_b["rates"][key]["rate"] - info_a["rates"][key]["rate"]
        for key in OUTCOMES
    }
    return {
        "first": info_a,
        "second": info_b,
        "rate_change": change,
        **paired,
        "pairing_rule": PAIRING_RULE,
        "notes": notes,
    }


__all__ = [
    "DEFAULT_PHASE",
    "OUTCOMES",
    "PAIRING_RULE",
    "STATUSES",
    "Side",
    "by_combination",
    "compare",
    "compare_probes",
    "pair_prompts",
    "parse_side",
    "select_probes",
    "side_rates",
]
