"""The adaptive search strategy: contract, learning and replay determinism."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from ares_rlhf.config import SearchConfig
from ares_rlhf.errors import ConfigError
from ares_rlhf.records import ComponentSpec, FailureType
from ares_rlhf.search.adaptive import AdaptiveStrategy
from ares_rlhf.search.base import Outcome, create_strategy
from ares_rlhf.taxonomy import load_catalog


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def outcome(spec: ComponentSpec, policy: bool | None, rm: bool | None) -> Outcome:
    if policy is None or rm is None:
        kind = FailureType.UNSCORED
    else:
        kind = {
            (True, True): FailureType.SYSTEMIC,
            (True, False): FailureType.POLICY_ONLY,
            (False, True): FailureType.RM_ONLY,
            (False, False): FailureType.NONE,
        }[(policy, rm)]
    return Outcome(spec, kind, policy, rm)


def random_specs(catalog, n: int, seed: int) -> list[ComponentSpec]:
    rng = np.random.default_rng(seed)
    ids = [catalog.ids(t) for t in ("topic", "persona", "tactic", "goal")]
    return [ComponentSpec(*(i[rng.integers(len(i))] for i in ids)) for _ in range(n)]


def test_adaptive_is_registered_and_the_default(catalog) -> None:
    assert SearchConfig().strategy == "adaptive"
    strategy = create_strategy("adaptive", catalog, seed=1, explore=0.1)
    assert isinstance(strategy, AdaptiveStrategy)
    with pytest.raises(ConfigError, match="unknown option 'temperature'"):
        create_strategy("adaptive", catalog, temperature=2)
    with pytest.raises(ConfigError, match="explore"):
        create_strategy("adaptive", catalog, explore=1.5)


def test_proposals_are_valid_distinct_specs(catalog) -> None:
    strategy = create_strategy("adaptive", catalog, seed=0)
    strategy.reseed(0)
    specs = strategy.propose(64)
    assert len(specs) == 64 and len(set(specs)) == 64
    for spec in specs:
        catalog.validate_spec(spec)
    assert strategy.propose(0) == []


def test_reseeded_strategies_that_saw_the_same_outcomes_propose_the_same(catalog) -> None:
    history = random_specs(catalog, 200, 3)
    rng = np.random.default_rng(4)
    outcomes = [outcome(s, bool(rng.random() < 0.3), bool(rng.random() < 0.3)) for s in history]
    a = create_strategy("adaptive", catalog, seed=7)
    b = create_strategy("adaptive", catalog, seed=7)
    # a proposes in between (as a live run does); b only replays the outcomes (a resumed run)
    for batch in range(10):
        a.reseed(batch)
        a.propose(16)
        a.observe(outcomes[batch * 20 : (batch + 1) * 20])
    for batch in range(10):
        b.observe(outcomes[batch * 20 : (batch + 1) * 20])
    a.reseed(10)
    b.reseed(10)
    first = a.propose(16)
    assert first == b.propose(16)
    a.reseed(10)
    assert a.propose(16) == first  # proposing changed nothing it learned
    a.reseed(11)
    assert a.propose(16) != first


def test_learns_a_pairwise_region_and_prefers_untried_combinations(catalog) -> None:
    strategy = create_strategy("adaptive", catalog, seed=0, explore=0.0)
    region = [
        ComponentSpec("cybercrime", p, "role_play", g)
        for p, g in itertools.product(catalog.ids("persona"), catalog.ids("goal"))
    ]
    hit = region[::3]  # 18 of the 54 region combinations produced a C
    background = [s for s in random_specs(catalog, 600, 9) if s not in region]
    strategy.observe([outcome(s, True, True) for s in hit])
    strategy.observe([outcome(s, False, False) for s in background])
    strategy.observe([outcome(background[0], None, None)])  # unscored: ignored, no crash
    strategy.reseed(1)
    proposed = strategy.propose(16)
    inside = [s for s in proposed if s in region]
    assert len(inside) >= 14
    assert not set(inside) & set(hit)


def test_separate_policy_and_rm_signals_combine_into_their_overlap(catalog) -> None:
    """A-only failures under one tactic and B-only failures on one topic: the overlap is where
    C probes are likely, though no C was observed yet."""
    strategy = create_strategy("adaptive", catalog, seed=0, explore=0.0)
    specs = random_specs(catalog, 3000, 11)
    outcomes = []
    for s in specs:
        policy = s.tactic == "obfuscation"
        rm = s.topic == "fraud"
        if policy and rm:
            continue  # never probed the overlap
        outcomes.append(outcome(s, policy, rm))
    strategy.observe(outcomes)
    strategy.reseed(0)
    proposed = strategy.propose(16)
    overlap = [s for s in proposed if s.tactic == "obfuscation" and s.topic == "fraud"]
    assert len(overlap) >= 12


def test_explore_draws_never_probed_combinations(catalog) -> None:
    strategy = create_strategy("adaptive", catalog, seed=0, explore=1.0)
    seen = random_specs(catalog, 500, 2)
    strategy.observe([outcome(s, False, False) for s in seen])
    strategy.reseed(0)
    assert not set(strategy.propose(64)) & set(seen)


def test_uniform_without_replacement_tries_every_combination_once_first(catalog) -> None:
    strategy = create_strategy("uniform", catalog, seed=3, replace=False)
    total = int(np.prod([len(catalog.ids(t)) for t in ("topic", "persona", "tactic", "goal")]))
    seen: set[ComponentSpec] = set()
    for batch in range(3):
        strategy.reseed(batch)
        specs = strategy.propose(500)
        assert len(set(specs)) == 500 and not set(specs) & seen
        seen |= set(specs)
        strategy.observe([outcome(s, False, False) for s in specs])
    assert len(seen) == 1500 < total
    with pytest.raises(ConfigError, match="unknown option"):
        create_strategy("uniform", catalog, explore=0.1)
    replay = create_strategy("uniform", catalog, seed=3, replace=False)
    replay.observe([outcome(s, False, False) for s in seen])
    strategy.reseed(9)
    replay.reseed(9)
    assert strategy.propose(16) == replay.propose(16)


def test_new_options_are_validated(catalog) -> None:
    for bad in ({"background_quantile": 2.0}, {"child_cap": -1}, {"stratify": 0.5},
                {"prior_strength": 0}):  # fmt: skip
        with pytest.raises(ConfigError):
            create_strategy("adaptive", catalog, **bad)


def test_re_probes_after_none_outcomes_are_learned_down(catalog) -> None:
    """Re-probes after a "none" that never find a systemic combination lose weight, while
    first probes keep finding some; re-probes that pay keep their weight."""
    specs = random_specs(catalog, 1200, 5)
    fresh, again = specs[:1000], specs[1000:]
    barren = create_strategy("adaptive", catalog, seed=0)
    barren.observe([outcome(s, False, False) for s in again])
    barren.observe([outcome(s, i % 50 == 0, i % 50 == 0) for i, s in enumerate(fresh)])
    barren.observe([outcome(s, False, False) for s in again])  # re-probes find nothing
    assert barren.revisit_factors()[1] < 0.3
    paying = create_strategy("adaptive", catalog, seed=0)
    paying.observe([outcome(s, False, False) for s in again])
    paying.observe([outcome(s, i % 50 == 0, i % 50 == 0) for i, s in enumerate(fresh)])
    paying.observe([outcome(s, i % 10 == 0, i % 10 == 0) for i, s in enumerate(again)])
    assert paying.revisit_factors()[1] == 1.0


def test_stratified_exploration_spreads_over_value_pairs(catalog) -> None:
    n = len(catalog.ids("topic")) * len(catalog.ids("persona"))
    distinct = {}
    for stratify in (True, False):
        strategy = create_strategy("adaptive", catalog, seed=0, explore=1.0, stratify=stratify)
        strategy.reseed(0)
        distinct[stratify] = len({(s.topic, s.persona) for s in strategy.propose(n)})
    # n random picks hit about 63% of the n (topic, persona) pairs; stratified nearly all
    assert distinct[True] >= 0.95 * n > 0.8 * n > distinct[False]
