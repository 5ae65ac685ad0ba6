"""``adaptive`` (the default): Thompson sampling over a hierarchy of component-value cells.

Real failures live in *interactions* of component values, so the strategy keeps policy-failure
and RM-failure counts for every *cell*: each single value, each pair, each triple and each full
combination (15 tables, one per subset of the four component types). Each batch, per part
(policy, RM), it computes cell posterior means coarse to fine, each shrunk (strength
``prior_strength``) towards the **largest mean among its parent cells** (one value fewer), then
draws every combination's rate from a Beta whose prior mean is the largest of its four triples
(strength ``combo_strength``; the triples' counts leave that combination's own probes out, so
one chance failure is not counted twice). An untried combination thus inherits the strongest
signal of any pair or triple it belongs to (the way failure regions combine); a probed one is
pulled towards its own outcomes. Score = ``rate_policy * rate_rm`` (the chance of a type-C
probe); combinations that already produced a C are down-weighted by ``revisit_weight`` because
coverage counts distinct combinations.

Three corrections keep the hierarchy honest when the search itself decides where probes go:

* **Background** (``background_quantile``): the top-level prior is the lower of the overall
  failure rate and that quantile of the single-value cells' rates (the overall rate of probes
  the search concentrated on hot regions is no estimate of the space it has not probed).
* **Child-capped cell rates** (``child_cap``): a single-value or pair cell takes its rate from
  its child cells (one value more), each child counted as at most ``child_cap`` probes, so one
  hot child the search probed fifty times does not make the whole value look hot.
* **Learned revisits** (``learn_revisits``): re-probing a combination after 1 or after 2+
  probes where neither part failed is down-weighted by how often such re-probes found a new
  systemic combination compared with first probes (Beta-smoothed, measured on this run). On
  arenas without structure those re-probes find nothing and stop; in near-threshold regions
  (failure rates just above 0.5, so a "none" is common) they keep paying and stay.

The top scores fill the batch, except a Binomial share ``explore`` that is **stratified
exploration** over never-probed combinations: one at a time, the untried combination whose
value pairs were probed least (random ties), so exploration spreads over every pair cell
(regions that leak no signal can only be found by probing inside them). That share is a floor
under the search: whatever the model believes, ``explore`` of the budget is uniform sampling
without replacement, stratified.

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

_AXES = tuple(range(len(COMPONENT_TYPES)))
_SUBSETS: list[tuple[int, ...]] = [
    s for k in range(1, len(_AXES) + 1) for s in itertools.combinations(_AXES, k)
]
"""Every non-empty subset of component types (axes), coarse to fine; the last is the full combo."""
_FULL = _SUBSETS[-1]
_PAIRS = [s for s in _SUBSETS if len(s) == 2]
REVISIT_PSEUDO_PROBES = 20.0
"""Prior weight (in probes) of "re-probes yield as much as first probes" in learned revisits."""


def _expand(values: np.ndarray, subset: tuple[int, ...]) -> np.ndarray:
    """A cell table of ``subset`` broadcastable against the full (combination) table."""
    return values.reshape([values.shape[subset.index(a)] if a in subset else 1 for a in _AXES])


class _Counts:
    """Trials and failures per cell for one part (policy or RM), one table per subset."""

    def __init__(self, sizes: tuple[int, ...]) -> None:
        self.trials = {s: np.zeros([sizes[a] for a in s]) for s in _SUBSETS}
        self.fails = {s: np.zeros([sizes[a] for a in s]) for s in _SUBSETS}
        self.total_trials = 0.0
        self.total_fails = 0.0

    def add(self, coords: np.ndarray, failed: np.ndarray) -> None:
        """``coords``: (k, 4) component positions; ``failed``: (k,) 0/1."""
        self.total_trials += len(failed)
        self.total_fails += float(failed.sum())
        for s in _SUBSETS:
            where = tuple(coords[:, a] for a in s)
            np.add.at(self.trials[s], where, 1.0)
            np.add.at(self.fails[s], where, failed)

    def background(self, quantile: float) -> float:
        """The top-level prior: min(overall rate, ``quantile`` of single-value cell rates)."""
        overall = (1.0 + self.total_fails) / (2.0 + self.total_trials)
        singles = np.concatenate(
            [(1.0 + self.fails[s]) / (2.0 + self.trials[s]) for s in _SUBSETS if len(s) == 1]
        )
        return min(overall, float(np.quantile(singles, quantile)))

    def child_capped(self, s: tuple[int, ...], cap: float) -> tuple[np.ndarray, np.ndarray]:
        """Pseudo (fails, trials) of the cells of ``s`` from their child cells' rates, each
        child counted as at most ``cap`` probes."""
        fails = np.zeros(self.fails[s].shape)
        trials = np.zeros(self.trials[s].shape)
        for a in _AXES:
            if a in s:
                continue
            child = tuple(sorted((*s, a)))
            n = self.trials[child]
            weight = np.minimum(n, cap)
            rate = self.fails[child] / np.maximum(n, 1.0)
            fails += (weight * rate).sum(axis=child.index(a))
            trials += weight.sum(axis=child.index(a))
        return fails, trials

    def sample(
        self,
        rng: np.random.Generator,
        strength: float,
        combo_strength: float,
        background_quantile: float,
        child_cap: float,
    ) -> np.ndarray:
        """One Thompson draw of every full combination's failure rate (shape = catalog sizes).

        Coarser cells give posterior means, each shrunk towards the largest mean among its
        parents; only the full-combination level is sampled (sampling every level compounds
        noise through the max and drowns real signal). A combination's prior comes from its
        triples *without its own probes* (else one chance failure would count twice and keep
        a false lead alive).
        """
        means: dict[tuple[int, ...], np.ndarray] = {}
        priors: dict[tuple[int, ...], Any] = {}
        top = self.background(background_quantile)
        for s in _SUBSETS[:-1]:
            prior: Any = top
            if len(s) > 1:
                prior = None
                for drop in range(len(s)):
                    view = np.expand_dims(means[s[:drop] + s[drop + 1 :]], drop)
                    prior = view if prior is None else np.maximum(prior, view)
            priors[s] = prior
            if child_cap > 0 and len(s) < 3:
                fails, trials = self.child_capped(s, child_cap)
            else:
                fails, trials = self.fails[s], self.trials[s]
            means[s] = (strength * prior + fails) / (strength + trials)
        own_fails, own_trials = self.fails[_FULL], self.trials[_FULL]
        prior = None
        for drop in range(len(_FULL)):
            parent = _FULL[:drop] + _FULL[drop + 1 :]
            cell_prior = np.expand_dims(priors[parent], drop)
            fails = np.expand_dims(self.fails[parent], drop) - own_fails
            trials = np.expand_dims(self.trials[parent], drop) - own_trials
            view = (strength * cell_prior + fails) / (strength + trials)
            prior = view if prior is None else np.maximum(prior, view)
        alpha = np.maximum(combo_strength * prior + own_fails, 1e-3)
        beta = np.maximum(combo_strength * (1.0 - prior) + own_trials - own_fails, 1e-3)
        return rng.beta(alpha, beta)


_OPTIONS = (
    "explore",
    "prior_strength",
    "combo_strength",
    "revisit_weight",
    "stratify",
    "background_quantile",
    "child_cap",
    "learn_revisits",
)


def _flag(value: Any, name: str) -> bool:
    if value not in (True, False, 0, 1):
        raise ConfigError(f"adaptive search: {name} must be true or false, got {value!r}")
    return bool(value)


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
        stratify: bool | float = True,
        background_quantile: float = 0.25,
        child_cap: float = 2.0,
        learn_revisits: bool | float = True,
        **options: Any,
    ) -> None:
        super().__init__(catalog, seed)
        if options:
            raise ConfigError(
                f"adaptive search: unknown option {sorted(options)[0]!r}; "
                f"known: {', '.join(_OPTIONS)}"
            )
        for name, value in (
            ("explore", explore),
            ("revisit_weight", revisit_weight),
            ("background_quantile", background_quantile),
        ):
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"adaptive search: {name} must be in [0, 1], got {value}")
        if prior_strength <= 0 or combo_strength <= 0:
            raise ConfigError("adaptive search: prior_strength and combo_strength must be > 0")
        if child_cap < 0:
            raise ConfigError(f"adaptive search: child_cap must be >= 0, got {child_cap}")
        self.explore = float(explore)
        self.prior_strength = float(prior_strength)
        self.combo_strength = float(combo_strength)
        self.revisit_weight = float(revisit_weight)
        self.stratify = _flag(stratify, "stratify")
        self.background_quantile = float(background_quantile)
        self.child_cap = float(child_cap)
        self.learn_revisits = _flag(learn_revisits, "learn_revisits")
        self._ids = [catalog.ids(t) for t in COMPONENT_TYPES]
        self._position = [{cid: i for i, cid in enumerate(ids)} for ids in self._ids]
        self.sizes = tuple(len(ids) for ids in self._ids)
        self._policy = _Counts(self.sizes)
        self._rm = _Counts(self.sizes)
        self.hit = np.zeros(self.sizes, dtype=bool)
        """Combinations that produced at least one type-C probe."""
        self.probed = np.zeros(self.sizes, dtype=np.int64)
        """Probes per combination (scored or not)."""
        self.nones = np.zeros(self.sizes)
        """Probes per combination where neither part failed."""
        self.revisits = np.zeros((3, 2))
        """(probes, new systemic combinations) of first probes (row 0) and of re-probes after
        1 (row 1) or 2+ (row 2) probes where neither part failed."""

    # -- learning ----------------------------------------------------------------------------
    def _coords(self, spec: ComponentSpec) -> tuple[int, ...] | None:
        try:
            return tuple(self._position[t][spec.get(c)] for t, c in enumerate(COMPONENT_TYPES))
        except KeyError:
            return None  # a spec from another catalog version: nothing to learn about it here

    def observe(self, outcomes: Sequence[Outcome]) -> None:
        rows: list[tuple[tuple[int, ...], bool | None, bool | None, bool]] = []
        for outcome in outcomes:
            coords = self._coords(outcome.spec)
            if coords is not None:
                systemic = outcome.failure_type is FailureType.SYSTEMIC
                rows.append((coords, outcome.policy_failed, outcome.rm_failed, systemic))
        self._count_revisits(rows)
        for coords, policy, rm, systemic in rows:
            self.probed[coords] += 1
            if policy is False and rm is False:
                self.nones[coords] += 1
            if systemic:
                self.hit[coords] = True
        for counts, column in ((self._policy, 1), (self._rm, 2)):
            known = [r for r in rows if r[column] is not None]
            if known:
                coords = np.array([r[0] for r in known], dtype=np.int64)
                failed = np.array([float(bool(r[column])) for r in known])
                counts.add(coords, failed)

    def _count_revisits(self, rows: Sequence[tuple[tuple[int, ...], Any, Any, bool]]) -> None:
        """Yield of first probes and of re-probes after "none" outcomes, by the combination's
        history before this batch (so a resumed run counts the same)."""
        gained = np.zeros(self.sizes, dtype=bool)
        for coords, _, _, systemic in rows:
            if self.hit[coords]:
                continue
            if self.probed[coords] == 0:
                level = 0
            elif self.nones[coords] > 0:
                level = int(min(self.nones[coords], 2))
            else:
                continue
            new = systemic and not gained[coords]
            gained[coords] |= systemic
            self.revisits[level] += (1.0, float(new))

    def revisit_factors(self) -> np.ndarray:
        """Down-weights for re-probing after 1 / 2+ "none" outcomes (index 1 / 2; 0 unused):
        the Beta-smoothed yield of such re-probes over that of first probes, in [0.001, 1]."""
        probes, gains = self.revisits[:, 0], self.revisits[:, 1]
        first = (gains[0] + 1.0) / (probes[0] + 2.0)
        rate = (gains + REVISIT_PSEUDO_PROBES * first) / (probes + REVISIT_PSEUDO_PROBES)
        return np.clip(rate / first, 1e-3, 1.0)

    # -- proposing ---------------------------------------------------------------------------
    def scores(self) -> np.ndarray:
        """One Thompson draw of P(type C) per combination (catalog-shaped), hits down-weighted."""
        draw = (
            self.rng,
            self.prior_strength,
            self.combo_strength,
            self.background_quantile,
            self.child_cap,
        )
        score = self._policy.sample(*draw) * self._rm.sample(*draw)
        if self.learn_revisits:
            level = np.minimum(self.nones, 2).astype(np.int64)
            score = score * np.where(level > 0, self.revisit_factors()[level], 1.0)
        score = np.where(self.hit, score * self.revisit_weight, score)
        # ties (e.g. all zero): untried combinations first, in random order
        return score + 1e-9 * (self.probed == 0) * self.rng.random(score.shape)

    def _explore(self, n: int, exclude: list[int]) -> list[int]:
        """``n`` never-probed combinations (any, once every one was probed), stratified: each
        pick is the one whose value pairs hold the fewest probes so far (random ties)."""
        untried = (self.probed == 0).ravel()
        untried[exclude] = False
        if not untried.any():
            untried = np.ones(untried.shape, dtype=bool)
            untried[exclude] = False
        if not self.stratify:
            pool = np.flatnonzero(untried)
            return [int(i) for i in self.rng.choice(pool, size=min(n, len(pool)), replace=False)]
        load = self.rng.random(self.sizes)
        for s in _PAIRS:
            load = load + _expand(self._policy.trials[s] + self._rm.trials[s], s)
        chosen: list[int] = []
        for _ in range(min(n, int(untried.sum()))):
            best = int(np.argmin(np.where(untried, load.ravel(), np.inf)))
            chosen.append(best)
            untried[best] = False
            coords = np.unravel_index(best, self.sizes)
            for s in _PAIRS:
                load[tuple(coords[a] if a in s else slice(None) for a in _AXES)] += 2.0
        return chosen

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
            chosen.extend(self._explore(n_explore, chosen))
        while len(chosen) < n:  # more specs asked than combinations: repeat random ones
            chosen.append(int(self.rng.integers(total)))
        return [self._spec(i) for i in chosen]

    def _spec(self, flat_index: int) -> ComponentSpec:
        parts = np.unravel_index(flat_index, self.sizes)
        return ComponentSpec(*(ids[p] for ids, p in zip(self._ids, parts, strict=True)))
