"""Wilson intervals, exact McNemar and the paired bootstrap against scipy's own implementations."""

from __future__ import annotations

import random

import pytest

from ares_rlhf.evaluation.stats import (
    Rate,
    exact_mcnemar,
    paired_bootstrap_ci,
    paired_rates,
    wilson_interval,
)

scipy_stats = pytest.importorskip("scipy.stats")


@pytest.mark.parametrize(
    ("k", "n"), [(0, 1), (1, 1), (0, 10), (3, 10), (10, 10), (7, 28), (150, 313), (1, 500)]
)
@pytest.mark.parametrize("confidence", [0.95, 0.9, 0.99])
def test_wilson_interval_matches_scipy(k, n, confidence):
    expected = scipy_stats.binomtest(k, n).proportion_ci(confidence, method="wilson")
    low, high = wilson_interval(k, n, confidence)
    assert low == pytest.approx(expected.low, abs=1e-12)
    assert high == pytest.approx(expected.high, abs=1e-12)


def test_wilson_interval_edge_cases():
    assert wilson_interval(0, 0) == (None, None)
    low, high = wilson_interval(0, 20)
    assert low == 0.0 and 0.0 < high < 0.2
    with pytest.raises(ValueError):
        wilson_interval(3, 2)
    with pytest.raises(ValueError):
        wilson_interval(1, 2, confidence=1.0)


@pytest.mark.parametrize(
    ("b", "c"), [(1, 0), (0, 5), (5, 5), (3, 9), (12, 4), (20, 21), (0, 40), (150, 110)]
)
def test_exact_mcnemar_matches_binomial_test(b, c):
    expected = scipy_stats.binomtest(b, b + c, 0.5).pvalue
    assert exact_mcnemar(b, c) == pytest.approx(expected, rel=1e-9)
    assert exact_mcnemar(b, c) == exact_mcnemar(c, b)


def test_exact_mcnemar_without_discordant_pairs_is_one():
    assert exact_mcnemar(0, 0) == 1.0
    with pytest.raises(ValueError):
        exact_mcnemar(-1, 2)


def _paired_scores(n: int, seed: int, p_before: float, p_after: float):
    rng = random.Random(seed)
    before = [float(rng.random() < p_before) for _ in range(n)]
    after = [float(rng.random() < p_after) for _ in range(n)]
    return before, after


@pytest.mark.parametrize(("n", "seed"), [(60, 0), (300, 1)])
def test_paired_bootstrap_agrees_with_scipy(n, seed):
    import numpy as np

    before, after = _paired_scores(n, seed, 0.6, 0.5)
    diff, low, high = paired_bootstrap_ci(before, after, n_resamples=4000, seed=seed)
    assert diff == pytest.approx(np.mean(after) - np.mean(before))
    expected = scipy_stats.bootstrap(
        (np.array(before), np.array(after)),
        lambda x, y, axis=-1: np.mean(y - x, axis=axis),
        paired=True,
        vectorized=True,
        n_resamples=4000,
        method="percentile",
        random_state=np.random.default_rng(seed + 100),
    ).confidence_interval
    # two independent Monte Carlo estimates of the same percentiles
    width = expected.high - expected.low
    assert low == pytest.approx(expected.low, abs=0.08 * width + 1e-9)
    assert high == pytest.approx(expected.high, abs=0.08 * width + 1e-9)
    assert low <= diff <= high


def test_paired_bootstrap_is_seeded_and_handles_edge_cases():
    before, after = _paired_scores(80, 3, 0.5, 0.5)
    assert paired_bootstrap_ci(before, after, seed=7) == paired_bootstrap_ci(before, after, seed=7)
    assert paired_bootstrap_ci([], []) == (None, None, None)
    assert paired_bootstrap_ci([1.0, 0.0], [1.0, 0.0]) == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError):
        paired_bootstrap_ci([1.0], [1.0, 0.0])


def test_rate_counts_unscored_in_n_never_as_success():
    rate = Rate.from_outcomes([True, True, False, None])
    assert (rate.n, rate.k, rate.unscored, rate.rate) == (4, 2, 1, 0.5)
    low, high = wilson_interval(2, 4)
    assert rate.as_dict() == {"n": 4, "k": 2, "rate": 0.5, "ci95": [low, high], "unscored": 1}
    assert Rate.from_outcomes([]).as_dict()["rate"] is None


def test_paired_rates_pair_only_items_scored_on_both_sides():
    before = [True, True, True, False, False, None, True, False]
    after = [True, False, False, True, False, True, None, True]
    paired = paired_rates(before, after)
    assert paired.before.as_dict()["k"] == 4 and paired.before.n == 8
    assert paired.before.unscored == 1 and paired.after.unscored == 1
    assert paired.after.k == 4
    # scored on both: items 0-4 and 7; b = True->False (1, 2), c = False->True (3, 7)
    assert (paired.b, paired.c, paired.n_paired) == (2, 2, 6)
    assert paired.p_value == pytest.approx(scipy_stats.binomtest(2, 4, 0.5).pvalue)
    assert paired.change == 0.0
    figures = paired.as_dict()
    assert figures["p_value"] == paired.p_value and figures["discordant"] == {"b": 2, "c": 2}
    with pytest.raises(ValueError):
        paired_rates([True], [])
