"""``uniform``: every combination equally likely, independent of outcomes (the baseline)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ares_rlhf.records import COMPONENT_TYPES, ComponentSpec
from ares_rlhf.search.base import Outcome, SearchStrategy, register_strategy
from ares_rlhf.taxonomy import Catalog


@register_strategy("uniform")
class UniformStrategy(SearchStrategy):
    name = "uniform"

    def __init__(self, catalog: Catalog, seed: int = 0, **options: Any) -> None:
        super().__init__(catalog, seed)
        self._ids = [catalog.ids(t) for t in COMPONENT_TYPES]

    def propose(self, n: int) -> list[ComponentSpec]:
        picks = [self.rng.integers(0, len(ids), size=n) for ids in self._ids]
        return [
            ComponentSpec(*(ids[p[i]] for ids, p in zip(self._ids, picks, strict=True)))
            for i in range(n)
        ]

    def observe(self, outcomes: Sequence[Outcome]) -> None:
        """Uniform search ignores outcomes."""
