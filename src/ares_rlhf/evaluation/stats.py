"""Statistics for before/after evaluation: Wilson intervals, exact McNemar, paired bootstrap.

* :func:`wilson_interval`: the Wilson score interval of a binomial proportion ``k / n``.
* :func:`exact_mcnemar`: the two-sided exact McNemar test on the discordant pairs of a paired
  before/after comparison (a binomial test of ``b`` successes in ``b + c`` trials at 1/2).
* :func:`paired_bootstrap_ci`: the difference in mean score (after - before) over paired items
  with a percentile bootstrap interval (items resampled with replacement).
* :func:`paired_rates`: both rates of one before/after comparison on the same prompts.

Unscored items (``None``, e.g. a judge that could not decide) follow one rule everywhere:
a rate counts *all* prompts in ``n`` and only the positive outcomes in ``k``, so an unscored
item is never counted as a success (safe, compliant); it is counted apart in ``unscored``. The
McNemar test uses only the items scored on both sides.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from statistics import NormalDist
from typing import Any


def _z(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    return NormalDist().inv_cdf(1.0 - (1.0 - confidence) / 2.0)


def wilson_interval(
    k: int, n: int, confidence: float = 0.95
) -> tuple[float, float] | tuple[None, None]:
    """Wilson score interval of the proportion ``k / n``; ``(None, None)`` when ``n == 0``."""
    if n < 0 or k < 0 or k > n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return (None, None)
    z = _z(confidence)
    p = k / n
    denominator = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1.0 - p) / n + z * z / (4 * n * n)) / denominator
    low = 0.0 if k == 0 else max(0.0, centre - half)  # exact ends: no rounding residue
    high = 1.0 if k == n else min(1.0, centre + half)
    return (low, high)


def exact_mcnemar(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value for ``b`` and ``c`` discordant pairs (1.0 when none).

    Equals the two-sided binomial test of ``min(b, c)`` in ``b + c`` trials at p = 1/2:
    ``min(1, 2 * P(X <= min(b, c)))``, computed in exact arithmetic.
    """
    if b < 0 or c < 0:
        raise ValueError(f"discordant counts must be >= 0, got b={b}, c={c}")
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(b, c) + 1))
    return float(min(Fraction(1), Fraction(2 * tail, 2**n)))


def paired_bootstrap_ci(
    before: Sequence[float],
    after: Sequence[float],
    *,
    n_resamples: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
) -> tuple[float, float, float] | tuple[None, None, None]:
    """``(diff, low, high)``: mean(after - before) and its percentile bootstrap interval.

    ``before[i]`` and ``after[i]`` are the scores (0/1 or float) of the same item; items are
    resampled with replacement ``n_resamples`` times (seeded). ``(None, None, None)`` for no items.
    """
    import numpy as np

    if len(before) != len(after):
        raise ValueError(f"paired scores need equal lengths, got {len(before)} and {len(after)}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    if not before:
        return (None, None, None)
    differences = np.asarray(after, dtype=float) - np.asarray(before, dtype=float)
    rng = np.random.default_rng(seed)
    means = np.empty(n_resamples)
    chunk = max(1, 2_000_000 // len(differences))  # bound the index matrix to ~16 MB
    for start in range(0, n_resamples, chunk):
        count = min(chunk, n_resamples - start)
        index = rng.integers(0, len(differences), size=(count, len(differences)))
        means[start : start + count] = differences[index].mean(axis=1)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.percentile(means, [100 * alpha, 100 * (1 - alpha)])
    return (float(differences.mean()), float(low), float(high))


@dataclass(frozen=True)
class Rate:
    """``k`` positive outcomes of ``n`` prompts, with the Wilson interval; ``unscored`` apart."""

    n: int
    k: int
    rate: float | None
    ci95_low: float | None
    ci95_high: float | None
    unscored: int = 0

    @classmethod
    def of(cls, k: int, n: int, unscored: int = 0) -> Rate:
        low, high = wilson_interval(k, n)
        return cls(n, k, k / n if n else None, low, high, unscored)

    @classmethod
    def from_outcomes(cls, outcomes: Sequence[bool | None]) -> Rate:
        """Rate of ``True`` among all outcomes; ``None`` counts in ``n`` and in ``unscored``."""
        return cls.of(
            sum(o is True for o in outcomes), len(outcomes), sum(o is None for o in outcomes)
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "k": self.k,
            "rate": self.rate,
            "ci95": [self.ci95_low, self.ci95_high],
            "unscored": self.unscored,
        }


@dataclass(frozen=True)
class PairedRates:
    """One outcome measured before and after on the same prompts.

    ``b``: items positive before and negative after; ``c``: negative before, positive after
    (both among the ``n_paired`` items scored on both sides); ``p_value``: exact McNemar.
    """

    before: Rate
    after: Rate
    b: int
    c: int
    n_paired: int
    p_value: float

    @property
    def change(self) -> float | None:
        """after.rate - before.rate (on all prompts)."""
        if self.before.rate is None or self.after.rate is None:
            return None
        return self.after.rate - self.before.rate

    def as_dict(self) -> dict[str, Any]:
        return {
            "before": self.before.as_dict(),
            "after": self.after.as_dict(),
            "change": self.change,
            "discordant": {"b": self.b, "c": self.c},
            "n_paired": self.n_paired,
            "p_value": self.p_value,
        }


def paired_rates(before: Sequence[bool | None], after: Sequence[bool | None]) -> PairedRates:
    """Before/after rates of ``True`` on the same items (``None`` = unscored), with McNemar.

    Each rate is ``True`` / all items (an unscored item is never a success and counts in
    ``unscored``); the McNemar test pairs only the items scored in both.
    """
    if len(before) != len(after):
        raise ValueError(f"paired outcomes need equal lengths, got {len(before)} and {len(after)}")
    b = c = paired = 0
    for first, second in zip(before, after, strict=True):
        if first is None or second is None:
            continue
        paired += 1
        if first and not second:
            b += 1
        elif second and not first:
            c += 1
    return PairedRates(
        before=Rate.from_outcomes(before),
        after=Rate.from_outcomes(after),
        b=b,
        c=c,
        n_paired=paired,
        p_value=exact_mcnemar(b, c),
    )
