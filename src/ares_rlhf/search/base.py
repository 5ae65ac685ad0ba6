"""The search-strategy interface: which component combinations to probe next."""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ares_rlhf.errors import ConfigError
from ares_rlhf.records import ComponentSpec, FailureType
from ares_rlhf.taxonomy import Catalog


@dataclass(frozen=True)
class Outcome:
    """What one probe of a spec showed: the signal a strategy learns from."""

    spec: ComponentSpec
    failure_type: FailureType
    policy_failed: bool | None
    rm_failed: bool | None


class SearchStrategy(ABC):
    """Proposes batches of specs and learns from their outcomes.

    Contract (it makes resumed runs continue exactly where they stopped):

    * all randomness in :meth:`propose` comes from ``self.rng``, which the discovery loop resets
      with :meth:`reseed` before each batch;
    * what the strategy has *learned* depends only on the outcomes passed to :meth:`observe`,
      in order; ``propose`` never changes it. A resumed run replays the stored outcomes through
      ``observe`` and continues with the next batch index.
    """

    name: str = ""

    def __init__(self, catalog: Catalog, seed: int = 0, **options: Any) -> None:
        self.catalog = catalog
        self.seed = seed
        self.rng = np.random.default_rng([seed, 0])

    def reseed(self, batch_index: int) -> None:
        """Derive this batch's random generator from (seed, batch index)."""
        self.rng = np.random.default_rng([self.seed, batch_index])

    @abstractmethod
    def propose(self, n: int) -> list[ComponentSpec]:
        """The next ``n`` specs to probe."""

    @abstractmethod
    def observe(self, outcomes: Sequence[Outcome]) -> None:
        """Learn from completed probes (called in probe order, also when replaying a resumed run)."""


StrategyFactory = Callable[..., SearchStrategy]
_STRATEGIES: dict[str, StrategyFactory] = {}
_STRATEGY_MODULES = {"uniform": "ares_rlhf.search.uniform", "adaptive": "ares_rlhf.search.adaptive"}


def register_strategy(name: str) -> Callable[[StrategyFactory], StrategyFactory]:
    def wrap(factory: StrategyFactory) -> StrategyFactory:
        _STRATEGIES[name] = factory
        return factory

    return wrap


def create_strategy(name: str, catalog: Catalog, seed: int = 0, **options: Any) -> SearchStrategy:
    if name not in _STRATEGIES and name in _STRATEGY_MODULES:
        importlib.import_module(_STRATEGY_MODULES[name])
    if name not in _STRATEGIES:
        raise ConfigError(f"unknown search strategy {name!r}; known: {', '.join(strategy_names())}")
    return _STRATEGIES[name](catalog, seed=seed, **options)


def strategy_names() -> list[str]:
    return sorted(set(_STRATEGY_MODULES) | set(_STRATEGIES))
