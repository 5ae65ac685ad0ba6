"""The oracle: a reference search that knows an arena's systemic set (the limit of any search).

It probes only systemic combinations not yet hit by a type-C probe. Within a batch it spends each
probe where the expected number of new hits grows most, knowing every combination's C chance
``r = policy_fail * rm_fail``: the k-th probe of one combination in the batch adds
``r * (1 - r) ** (k - 1)`` (so the likeliest go first, and with few left they are probed
several times per batch). Once every systemic combination is hit, it proposes uniform draws.
Like any strategy, its randomness comes from ``self.rng`` and its state from :meth:`observe`.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from typing import Any

import numpy as np

from ares_rlhf.records import FailureType
from ares_rlhf.search.base import Outcome, SearchStrategy
from ares_rlhf.sim.arena import Arena


class OracleStrategy(SearchStrategy):
    """Greedy expected-new-hits search over the arena's known systemic combinations."""

    name = "oracle"

    def __init__(self, arena: Arena, seed: int = 0, **options: Any) -> None:
        super().__init__(arena.catalog, seed)
        self.arena = arena
        self.chance = arena.policy_fail * arena.rm_fail
        self.hit = np.zeros(arena.combination_count, dtype=bool)

    def propose(self, n: int) -> list[Any]:
        if n <= 0:
            return []
        open_ = np.flatnonzero(self.arena.systemic & ~self.hit)
        if len(open_) == 0:
            picks = self.rng.integers(0, self.arena.combination_count, size=n)
            return [self.arena.spec_at(int(i)) for i in picks]
        # random order first so that equal chances are broken at random
        open_ = open_[self.rng.permutation(len(open_))]
        heap = [(-float(self.chance[i]), k, int(i), 1) for k, i in enumerate(open_)]
        heapq.heapify(heap)
        chosen: list[int] = []
        while len(chosen) < n:
            gain, key, index, count = heapq.heappop(heap)
            chosen.append(index)
            r = float(self.chance[index])
            heapq.heappush(heap, (-r * (1.0 - r) ** count, key, index, count + 1))
        return [self.arena.spec_at(i) for i in chosen]

    def observe(self, outcomes: Sequence[Outcome]) -> None:
        for outcome in outcomes:
            if outcome.failure_type is FailureType.SYSTEMIC:
                self.hit[self.arena.index(outcome.spec)] = True
