"""``adaptive`` (the default): Thompson sampling over a hierarchy of component-value cells.

Real failures live in *interactions* of two or three component values, so the strategy keeps
policy-failure and RM-failure counts for every *cell*: each single value, each pair, each triple
and each full combination (15 tables, one per subset of the four component types). Each batch,
per part (policy, RM), it computes cell posterior means coarse to fine, each shrunk (strength
``prior_strength``) towards the **largest mean among its parent cells** (one value fewer), then
draws every combination's rate from a Beta whose prior mean is the largest of its four triples
(strength ``combo_strength``; the triples' counts leave that combination's own probes out, so
one chance failure is not counted twice). An untried combination thus inherits the strongest
signal of any pair or triple it belongs to (the way failure regions combine); a probed one is
pulled towards its own outcomes. Score = ``rate_policy * rate_rm`` (the chance of a type-C
probe); combinations that already produced a C are down-weighted by ``revisit_weight`` because
coverage counts distinct combinations. The top scores fill the batch, except a Binomial share
``explore`` drawn uniformly among never-probed combinations (hidden regions leak no signal until
one of their combinations is probed); ties go to untried combinations in random order.

All randomness comes from ``self.rng`` (reseeded per batch by the loop); the counts depend only on
the outcomes passed to :meth:`observe`, so a resumed run that replays them proposes the same specs.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from ares_rlhf.errors import ConfigError
from ares_rlhf.records import COMPONENT_TYPES, ComponentSpec, FailureType
from ares_rlhf.search.base import Outcome, SearchStrategy, register_strategy
from ares_rlhf.taxonomy import Catalog

_SUBSETS: list[tuple[int, ...]] = [
    s for k in range(1, len(COMPONENT_TYPES) + 1) for s in itertools.combinations(range(4), k)
]
"""Every non-empty subset of component types (axes), coarse to fine; the last is the full combo."""


class _Counts:
    """Trials and failures per cell for one part (policy or RM), one table per subset."""

    def __init__(self, sizes: tuple[int, ...]) -> None:
        self.trials = {s: np.zeros([sizes[a] for a in s]) for s in _SUBSETS}
        self.fails = {s: np.zeros([sizes[a] for a in s]) for s in _SUBSETS}
        self.total_trials = 0.0
        self.total_fails = 0.0
        self._priors: dict[tuple[int, ...], Any] = {}

    def add(self, coords: np.ndarray, failed: np.ndarray) -> None:
        """``coords``: (k, 4) component positions; ``failed``: (k,) 0/1."""
        self.total_trials += len(failed)
        self.total_fails += float(failed.sum())
        for s in _SUBSETS:
            where = tuple(coords[:, a] for a in s)
            np.add.at(self.trials[s], where, 1.0)
            np.add.at(self.fails[s], where, failed)

    def sample(
        self, rng: np.random.Generator, strength: float, combo_strength: float
    ) -> np.ndarray:
        """One Thompson draw of every full combination's failure rate (shape = catalog sizes).

        Coarser cells give posterior means, each shrunk towards the largest mean among its
        parents; only the full-combination level is sampled (sampling every level compounds
        noise through the max and drowns real signal). A combination's prior comes from its
        triples *without its own probes* (else one chance failure would count twice and keep
        a false lead alive).
        """
        top = (1.0 + self.total_fails) / (2.0 + self.total_trials)
        means: dict[tuple[int, ...], np.ndarray] = {}
        prior: Any = top
        full = _SUBSETS[-1]
        own_fails, own_trials = self.fails[full], self.trials[full]
        for s in _SUBSETS:
            if len(s) == len(full):
                prior = None
                for drop in range(len(s)):
                    parent = s[:drop] + s[drop + 1 :]
                    cell_prior = np.expand_dims(self._priors[parent], drop)
                    fails = np.expand_dims(self.fails[parent], drop) - own_fails
                    trials = np.expand_dims(self.trials[parent], drop) - own_trials
                    view = (strength * cell_prior + fails) / (strength + trials)
                    prior = view if prior is None else np.maximum(prior, view)
                alpha = combo_strength * prior + own_fails
                beta = combo_strength * (1.0 - prior) + own_trials - own_fails
                return rng.beta(np.maximum(alpha, 1e-3), np.maximum(beta, 1e-3))
            if len(s) > 1:
                prior = None
                for drop in range(len(s)):
                    view = np.expand_dims(means[s[:drop] + s[drop + 1 :]], drop)
                    prior = view if prior is None else np.maximum(prior, view)
            self._priors[s] = prior
            means[s] = (strength * prior + self.fails[s]) / (strength + self.trials[s])
        raise AssertionError("unreachable")


@register_strategy("adaptive")
class AdaptiveStrategy(SearchStrategy):
    """Hierarchical Thompson sampling for systemic (type C) failures; see the module docstring."""

    name = "adaptive"

    def __init__(
        self,
        catalog: Catalog,
        seed: int = 0,
        *,
        explore: float = 0.2,
        prior_strength: float = 2.0,
        combo_strength: float = 10.0,
        revisit_weight: float = 0.05,
        **options: Any,
    ) -> None:
        super().__init__(catalog, seed)
        if options:
            raise ConfigError(
                f"adaptive search: unknown option {sorted(options)[0]!r}; "
                "known: explore, prior_strength, combo_strength, revisit_weight"
            )
        if not 0.0 <= explore <= 1.0:
            raise ConfigError(f"adaptive search: explore must be in [0, 1], got {explore}")
        if prior_strength <= 0 or combo_strength <= 0:
            raise ConfigError("adaptive search: prior_strength and combo_strength must be > 0")
        if not 0.0 <= revisit_weight <= 1.0:
            raise ConfigError(
                f"adaptive search: revisit_weight must be in [0, 1], got {revisit_weight}"
            )
        self.explore = float(explore)
        self.prior_strength = float(prior_strength)
        self.combo_strength = float(combo_strength)
        self.revisit_weight = float(revisit_weight)
        self._ids = [catalog.ids(t) for t in COMPONENT_TYPES]
        self._position = [{cid: i for i, cid in enumerate(ids)} for ids in self._ids]
        self.sizes = tuple(len(ids) for ids in self._ids)
        self._policy = _Counts(self.sizes)
        self._rm = _Counts(self.sizes)
        self.hit = np.zeros(self.sizes, dtype=bool)
        """Combinations that produced at least one type-C probe."""
        self.probed = np.zeros(self.sizes, dtype=np.int64)
        """Probes per combination (scored or not)."""

    # -- learning ----------------------------------------------------------------------------
    def _coords(self, spec: ComponentSpec) -> tuple[int, ...] | None:
        try:
            return tuple(self._position[t][spec.get(c)] for t, c in enumerate(COMPONENT_TYPES))
        except KeyError:
            return None  # a spec from another catalog version: nothing to learn about it here

    def observe(self, outcomes: Sequence[Outcome]) -> None:
        rows: list[tuple[tuple[int, ...], bool | None, bool | None]] = []
        for outcome in outcomes:
            coords = self._coords(outcome.spec)
            if coords is None:
                continue
            rows.append((coords, outcome.policy_failed, outcome.rm_failed))
            self.probed[coords] += 1
            if outcome.failure_type is FailureType.SYSTEMIC:
                self.hit[coords] = True
        for counts, column in ((self._policy, 1), (self._rm, 2)):
            known = [r for r in rows if r[column] is not None]
            if known:
                coords = np.array([r[0] for r in known], dtype=np.int64)
                failed = np.array([float(bool(r[column])) for r in known])
                counts.add(coords, failed)

    # -- proposing ---------------------------------------------------------------------------
    def scores(self) -> np.ndarray:
        """One Thompson draw of P(type C) per combination (catalog-shaped), hits down-weighted."""
        rate_policy = self._policy.sample(self.rng, self.prior_strength, self.combo_strength)
        rate_rm = self._rm.sample(self.rng, self.prior_strength, self.combo_strength)
        score = rate_policy * rate_rm
        score = np.where(self.hit, score * self.revisit_weight, score)
        # ties (e.g. all zero): untried combinations first, in random order
        return score + 1e-9 * (self.probed == 0) * self.rng.random(score.shape)

    def propose(self, n: int) -> list[ComponentSpec]:
        if n <= 0:
            return []
        total = int(np.prod(self.sizes))
        n_explore = int(self.rng.binomial(n, self.explore)) if self.explore > 0 else 0
        chosen: list[int] = []
        if n - n_explore > 0:
            flat = self.scores().ravel()
            k = min(n - n_explore, total)
            top = np.argpartition(-flat, k - 1)[:k]
            chosen.extend(int(i) for i in top[np.argsort(-flat[top], kind="stable")])
        if n_explore:
            untried = self.probed.ravel() == 0
            untried[chosen] = False
            pool = np.flatnonzero(untried)
            if len(pool) < n_explore:
                pool = np.setdiff1d(np.arange(total), chosen)
            take = min(n_explore, len(pool))
            chosen.extend(int(i) for i in self.rng.choice(pool, size=take, replace=False))
        while len(chosen) < n:  # more specs asked than combinations: repeat random ones
            chosen.append(int(self.rng.integers(total)))
        return [self._spec(i) for i in chosen]

    def _spec(self, flat_index: int) -> ComponentSpec:
        parts = np.unravel_index(flat_index, self.sizes)
        return ComponentSpec(*(ids[p] for ids, p in zip(self._ids, parts, strict=True)))
