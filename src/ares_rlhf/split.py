"""The held-out split of a run: what no repair may train on, and what verification measures.

The split is fixed **once**, right after discovery, from ``split.heldout_fraction`` and the run
seed, stored in the run store under :data:`SPLIT_STATE_KEY` and only read afterwards, so RM
repair, policy repair and evaluation all use the same held-out combinations and the same
held-out benign requests, and a held-out item can never leak into a later repair of the run.

* **Combinations**: every component combination that failed (type A, B or C) in discovery goes
  whole to one side. With ``stratify`` the combinations are grouped by their worst type (C, else
  B, else A) and each group is split on its own, so every failure type is measured on
  combinations repair never saw (an unstratified draw over a handful of C combinations can hold
  out none of them).
* **Benign requests**: the built-in benign requests (``ares_rlhf/data/benign.yaml``) are split by
  request id with the same fraction: RM repair and policy repair train on one side, verification
  measures over-refusal and the RM's helpful-vs-refusal accuracy on the other.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ares_rlhf.errors import DataError
from ares_rlhf.records import ComponentSpec, FailureType, Probe

SPLIT_STATE_KEY = "split"
STRATA = ("C", "B", "A")
"""Failure-type strata, worst first: a combination belongs to the worst type it showed."""
_FAILURES = {FailureType.SYSTEMIC: "C", FailureType.RM_ONLY: "B", FailureType.POLICY_ONLY: "A"}


@dataclass(frozen=True)
class Split:
    """Which failing combinations and benign requests are held out of every repair."""

    seed: int
    heldout_fraction: float
    train: tuple[ComponentSpec, ...]
    heldout: tuple[ComponentSpec, ...]
    benign_train: tuple[str, ...]
    benign_heldout: tuple[str, ...]
    strata: tuple[tuple[str, str], ...] = ()
    """``(combination label, worst failure type)`` for every split combination."""

    def side(self, spec: ComponentSpec) -> str | None:
        """``"train"``, ``"heldout"``, or ``None`` for a combination outside the split."""
        if spec in self._train_set:
            return "train"
        if spec in self._heldout_set:
            return "heldout"
        return None

    @property
    def _train_set(self) -> frozenset[ComponentSpec]:
        return frozenset(self.train)

    @property
    def _heldout_set(self) -> frozenset[ComponentSpec]:
        return frozenset(self.heldout)

    def stratum(self, spec: ComponentSpec) -> str | None:
        return dict(self.strata).get(spec.label())

    def as_dict(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "heldout_fraction": self.heldout_fraction,
            "train": [s.as_dict() for s in self.train],
            "heldout": [s.as_dict() for s in self.heldout],
            "benign_train": list(self.benign_train),
            "benign_heldout": list(self.benign_heldout),
            "strata": dict(self.strata),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Split:
        try:
            return cls(
                seed=int(data["seed"]),
                heldout_fraction=float(data["heldout_fraction"]),
                train=tuple(ComponentSpec.from_dict(d) for d in data["train"]),
                heldout=tuple(ComponentSpec.from_dict(d) for d in data["heldout"]),
                benign_train=tuple(data["benign_train"]),
                benign_heldout=tuple(data["benign_heldout"]),
                strata=tuple(sorted(dict(data.get("strata") or {}).items())),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise DataError(f"the run's stored split is malformed ({error})") from None


def combination_strata(probes: Iterable[Probe]) -> dict[ComponentSpec, str]:
    """Each failing combination's worst failure type (``C`` > ``B`` > ``A``)."""
    worst: dict[ComponentSpec, str] = {}
    for probe in probes:
        kind = _FAILURES.get(probe.failure_type)
        if kind is None:
            continue
        current = worst.get(probe.spec)
        if current is None or STRATA.index(kind) < STRATA.index(current):
            worst[probe.spec] = kind
    return worst


def _held_count(n: int, fraction: float) -> int:
    return math.floor(fraction * n + 0.5)  # round half up: 2 combinations at 0.25 -> 1 held out


def _split_items(
    items: Sequence[Any], fraction: float, rng: np.random.Generator
) -> tuple[list[Any], list[Any]]:
    order = rng.permutation(len(items))
    held = {int(i) for i in order[: _held_count(len(items), fraction)]}
    return (
        [x for i, x in enumerate(items) if i not in held],
        [x for i, x in enumerate(items) if i in held],
    )


def compute_split(
    probes: Iterable[Probe],
    benign_ids: Sequence[str],
    *,
    heldout_fraction: float,
    seed: int,
    stratify: bool = True,
) -> Split:
    """The split of one run's failing combinations and of the benign requests (seeded).

    With at least two failing combinations both sides get at least one. The result does not
    depend on the order of ``probes``.
    """
    strata = combination_strata(probes)
    if not strata:
        raise DataError("the run has no A/B/C failures in discovery; nothing to split or repair")
    groups = (
        [[s for s in sorted(strata) if strata[s] == kind] for kind in STRATA]
        if stratify
        else [sorted(strata)]
    )
    train: list[ComponentSpec] = []
    heldout: list[ComponentSpec] = []
    for index, group in enumerate(groups):
        if group:
            kept, held = _split_items(group, heldout_fraction, np.random.default_rng([seed, 5, index]))
            train += kept
            heldout += held
    if len(strata) >= 2 and not heldout:
        # every stratum was too small to hold one out: hold out one combination of the worst type
        pick = next(g for g in groups if g)
        chosen = pick[int(np.random.default_rng([seed, 5, 99]).integers(len(pick)))]
        train.remove(chosen)
        heldout.append(chosen)
    if len(strata) >= 2 and not train:
        train.append(heldout.pop())
    benign_train, benign_heldout = _split_items(
        sorted(benign_ids), heldout_fraction, np.random.default_rng([seed, 0xBE9])
    )
    return Split(
        seed=seed,
        heldout_fraction=heldout_fraction,
        train=tuple(sorted(train)),
        heldout=tuple(sorted(heldout)),
        benign_train=tuple(benign_train),
        benign_heldout=tuple(benign_heldout),
        strata=tuple(sorted((s.label(), k) for s, k in strata.items())),
    )


__all__ = ["SPLIT_STATE_KEY", "STRATA", "Split", "combination_strata", "compute_split"]
