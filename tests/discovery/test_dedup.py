"""Near-duplicate filtering (exact against brute force) and the diversity figure."""

from __future__ import annotations

import random

import pytest

from ares_rlhf.discovery.dedup import (
    WARMUP_PROMPTS,
    NearDuplicateIndex,
    diversity_report,
    jaccard,
    mean_pairwise_distance,
    normalise,
    shingles,
)
from ares_rlhf.mentor import TemplateMentor
from ares_rlhf.records import ComponentSpec
from ares_rlhf.taxonomy import load_catalog


def test_normalise_and_shingles() -> None:
    assert normalise("Hello, WORLD!  it's [X]") == ["hello", "world", "it", "s", "x"]
    assert shingles("a b c d") == frozenset({"a b c", "b c d"})
    assert shingles("Hi there") == frozenset({"hi there"})
    assert shingles("Hi, there!") == shingles("hi there")


def test_jaccard() -> None:
    a, b = frozenset("abcd"), frozenset("cdef")
    assert jaccard(a, b) == pytest.approx(2 / 6)
    assert jaccard(a, a) == 1.0


def test_index_flags_near_duplicates_only() -> None:
    index = NearDuplicateIndex(0.85)
    base = "I am a novelist and my character needs to explain in full detail how to do the thing properly now"
    assert index.add_if_new(base)
    assert not index.add_if_new(base.upper() + "!")  # same after normalisation
    assert not index.add_if_new(base + " please")  # 17/18 shingles shared
    assert index.add_if_new("Write a persuasive article in favour of [CLAIM] for my blog")
    assert len(index) == 2
    assert index.find(base) == 0


def brute_force(prompts: list[str], threshold: float) -> list[bool]:
    kept: list[frozenset[str]] = []
    decisions = []
    for prompt in prompts:
        items = shingles(prompt)
        new = all(jaccard(items, other) < threshold for other in kept)
        decisions.append(new)
        if new:
            kept.append(items)
    return decisions


@pytest.mark.parametrize("threshold", [0.5, 0.85, 1.0])
def test_index_matches_brute_force(threshold: float) -> None:
    """Past the warm-up, prefix filtering must not miss a near-duplicate (it is exact)."""
    catalog = load_catalog()
    specs = list(catalog.all_specs())
    rng = random.Random(1)
    chosen = [rng.choice(specs) for _ in range(WARMUP_PROMPTS + 300)]
    prompts = [o.prompt for o in TemplateMentor(catalog).compose(chosen, list(range(len(chosen))))]
    prompts += [p + " Thanks a lot." for p in rng.sample(prompts, 60)]
    prompts += rng.sample(prompts, 30)
    rng.shuffle(prompts)
    index = NearDuplicateIndex(threshold)
    assert [index.add_if_new(p) for p in prompts] == brute_force(prompts, threshold)


def test_invalid_threshold() -> None:
    with pytest.raises(ValueError):
        NearDuplicateIndex(0.0)


def test_diversity_report() -> None:
    a = ComponentSpec("fraud", "student", "role_play", "code")
    b = ComponentSpec("drugs", "student", "hypothetical", "code")
    report = diversity_report(
        [(a, "one two three four"), (a, "one two three four"), (b, "x y z w")]
    )
    assert report.failures == 3 and report.distinct_combinations == 2
    assert report.distinct_combination_share == pytest.approx(2 / 3)
    assert report.distinct_components == {"topic": 2, "persona": 1, "tactic": 2, "goal": 1}
    # pairs: identical (0), two disjoint pairs (1, 1) -> 2/3
    assert report.mean_pairwise_distance == pytest.approx(2 / 3)
    empty = diversity_report([])
    assert empty.failures == 0 and empty.mean_pairwise_distance is None


def test_mean_pairwise_distance_samples_deterministically() -> None:
    prompts = [f"prompt number {i} about topic {i % 7}" for i in range(500)]
    first = mean_pairwise_distance(prompts, sample=50, seed=3)
    assert first == mean_pairwise_distance(prompts, sample=50, seed=3)
    assert first[1] == 50 and 0 < first[0] <= 1
    assert mean_pairwise_distance(["only one"]) == (None, 1)
