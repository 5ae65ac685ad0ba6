"""``uniform``: every combination equally likely, independent of failures (the baseline).

With ``replace`` (the default) each spec is an independent uniform draw. With ``replace: false``
it samples **without replacement**: each batch draws distinct combinations uniformly among those
probed least often so far (all untried ones first, then a second pass...). The probe counts come
from :meth:`observe`, so a resumed run proposes the same specs (the contract in ``base.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ares_rlhf.errors import ConfigError
from ares_rlhf.records import COMPONENT_TYPES, ComponentSpec
from ares_rlhf.search.base import Outcome, SearchStrategy, register_strategy
from ares_rlhf.taxonomy import Catalog


def least_probed_draw(probed: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` flat indices drawn uniformly without replacement, least-probed combinations first."""
    flat = probed.ravel()
    order = rng.permutation(flat.size)
    # stable sort of a random permutation by count: uniform within each count level
    ranked = order[np.argsort(flat[order], kind="stable")]
    if n <= flat.size:
        return ranked[:n]
    return np.concatenate([ranked, rng.integers(0, flat.size, size=n - flat.size)])


@register_strategy("uniform")
class UniformStrategy(SearchStrategy):
    name = "uniform"

    def __init__(
        self, catalog: Catalog, seed: int = 0, *, replace: bool | float = True, **options: Any
    ) -> None:
        super().__init__(catalog, seed)
        if options:
            raise ConfigError(
                f"uniform search: unknown option {sorted(options)[0]!r}; known: replace"
            )
        if replace not in (True, False, 0, 1):
            raise ConfigError(f"uniform search: replace must be true or false, got {replace!r}")
        self.replace = bool(replace)
        self._ids = [catalog.ids(t) for t in COMPONENT_TYPES]
        self._position = [{cid: i for i, cid in enumerate(ids)} for ids in self._ids]
        self.sizes = tuple(len(ids) for ids in self._ids)
        self.probed = np.zeros(self.sizes, dtype=np.int64)

    def propose(self, n: int) -> list[ComponentSpec]:
        if n <= 0:
            return []
        if self.replace:
            picks = [self.rng.integers(0, len(ids), size=n) for ids in self._ids]
            return [
                ComponentSpec(*(ids[p[i]] for ids, p in zip(self._ids, picks, strict=True)))
                for i in range(n)
            ]
        chosen = least_probed_draw(self.probed, n, self.rng)
        parts = np.unravel_index(chosen, self.sizes)
        return [
            ComponentSpec(*(ids[int(p[i])] for ids, p in zip(self._ids, parts, strict=True)))
            for i in range(len(chosen))
        ]

    def observe(self, outcomes: Sequence[Outcome]) -> None:
        """Counts probes per combination (used only without replacement)."""
        for outcome in outcomes:
            try:
                coords = tuple(
                    self._position[t][outcome.spec.get(c)] for t, c in enumerate(COMPONENT_TYPES)
                )
            except KeyError:
                continue
            self.probed[coords] += 1
