"""The search-strategy interface: which component combinations to probe next."""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

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

    Strategies must be deterministic for a given seed and sequence of observed outcomes, so a
    resumed run that replays the stored outcomes continues exactly where it stopped.
    """

    name: str = ""

    def __init__(self, catalog: Catalog, seed: int = 0, **options: Any) -> None:
        self.catalog = catalog
        self.seed = seed

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
