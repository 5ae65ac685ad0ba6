"""Near-duplicate filtering of prompts, and the diversity of what discovery found.

**Similarity.** A prompt is normalised (lower case, every run of non-alphanumeric characters
becomes one space) and cut into word 3-shingles (a prompt of fewer than three words is one
shingle). Two prompts are near-duplicates when the Jaccard similarity of their shingle sets is
at or above ``search.dedup_threshold`` (default 0.85).

**Speed.** :class:`NearDuplicateIndex` finds near-duplicates *exactly* (no false negatives, no
approximation) with prefix filtering: under one global order of shingles, two sets with
Jaccard >= t must share a shingle among the first ``|x| - ceil(t * |x|) + 1`` of each, so only
prompts sharing such a prefix shingle (and of compatible size) are compared exactly. The order
puts rare shingles first (document frequency over the first 256 prompts, then a stable CRC-32
hash), so prefixes hold the distinctive words and few candidates need a check. Decisions are
exact Jaccard comparisons whatever the order, so a resumed run makes the same decisions.

**Diversity** (:func:`diversity_report`): over the failures (types A, B, C) it gives the number
of distinct component combinations and their share of the failures, the number of distinct
components per type, and the mean pairwise shingle Jaccard *distance* (1 - similarity) of failure
prompts over a seeded sample of at most 200 prompts (0 = all identical, 1 = no shared shingle).
"""

from __future__ import annotations

import math
import re
import zlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ares_rlhf.records import COMPONENT_TYPES, ComponentSpec

SHINGLE_WORDS = 3
_NON_WORD = re.compile(r"[^0-9a-z]+")


def normalise(text: str) -> list[str]:
    """Lower-case words with punctuation removed."""
    return _NON_WORD.sub(" ", text.lower()).split()


def shingles(text: str, k: int = SHINGLE_WORDS) -> frozenset[str]:
    """The set of word k-shingles of a normalised text."""
    words = normalise(text)
    if len(words) <= k:
        return frozenset([" ".join(words)])
    return frozenset(" ".join(words[i : i + k]) for i in range(len(words) - k + 1))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a and not b:
        return 1.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


WARMUP_PROMPTS = 256
"""Prompts compared by brute force before the rare-first shingle order is fixed."""


class NearDuplicateIndex:
    """The prompts kept so far; answers "is this prompt a near-duplicate of one of them?"."""

    def __init__(self, threshold: float = 0.85, k: int = SHINGLE_WORDS) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"dedup threshold must be in (0, 1], got {threshold}")
        self.threshold = threshold
        self.k = k
        self._sets: list[frozenset[str]] = []
        self._postings: dict[str, list[int]] = defaultdict(list)
        self._rank: dict[str, int] | None = None  # shingle -> warm-up document frequency

    def _order(self, shingle: str) -> tuple[int, int, str]:
        assert self._rank is not None
        return (self._rank.get(shingle, 0), zlib.crc32(shingle.encode()), shingle)

    def _freeze_order(self) -> None:
        """Fix the rare-first order from the warm-up prompts and index them under it."""
        rank: dict[str, int] = defaultdict(int)
        for items in self._sets:
            for shingle in items:
                rank[shingle] += 1
        self._rank = dict(rank)
        self._postings.clear()
        for position, items in enumerate(self._sets):
            for shingle in self._prefix(items):
                self._postings[shingle].append(position)

    def __len__(self) -> int:
        return len(self._sets)

    def _prefix(self, items: frozenset[str]) -> list[str]:
        size = len(items)
        length = size - math.ceil(self.threshold * size - 1e-9) + 1
        return sorted(items, key=self._order)[: max(1, length)]

    def find(self, text: str) -> int | None:
        """The position of a kept prompt that ``text`` nearly duplicates, or ``None``."""
        return self._find(shingles(text, self.k))

    def _find(self, items: frozenset[str]) -> int | None:
        if self._rank is None:  # warm-up: compare with every kept prompt
            for position, other in enumerate(self._sets):
                if jaccard(items, other) >= self.threshold:
                    return position
            return None
        size = len(items)
        seen: set[int] = set()
        for shingle in self._prefix(items):
            for position in self._postings.get(shingle, ()):
                if position in seen:
                    continue
                seen.add(position)
                other = self._sets[position]
                if not (self.threshold * size <= len(other) * (1 + 1e-9)) or not (
                    self.threshold * len(other) <= size * (1 + 1e-9)
                ):
                    continue
                if jaccard(items, other) >= self.threshold:
                    return position
        return None

    def add(self, text: str) -> int:
        """Keep ``text`` (without checking); returns its position."""
        return self._add(shingles(text, self.k))

    def _add(self, items: frozenset[str]) -> int:
        position = len(self._sets)
        self._sets.append(items)
        if self._rank is None:
            if len(self._sets) >= WARMUP_PROMPTS:
                self._freeze_order()
        else:
            for shingle in self._prefix(items):
                self._postings[shingle].append(position)
        return position

    def add_if_new(self, text: str) -> bool:
        """Keep ``text`` unless it nearly duplicates a kept prompt; True when it was kept."""
        items = shingles(text, self.k)
        if self._find(items) is not None:
            return False
        self._add(items)
        return True

    def extend(self, texts: Iterable[str]) -> None:
        for text in texts:
            self.add(text)


@dataclass
class DiversityReport:
    failures: int = 0
    distinct_combinations: int = 0
    distinct_combination_share: float = 0.0
    """Distinct combinations / failures (1.0 = every failure is a different combination)."""
    distinct_components: dict[str, int] = field(default_factory=dict)
    mean_pairwise_distance: float | None = None
    """Mean shingle Jaccard distance between failure prompts (seeded sample of <= 200)."""
    sample_size: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def mean_pairwise_distance(
    prompts: Sequence[str], sample: int = 200, seed: int = 0
) -> tuple[float | None, int]:
    """Mean Jaccard distance over all pairs of a seeded sample of prompts; ``None`` if < 2."""
    if len(prompts) < 2:
        return None, len(prompts)
    rng = np.random.default_rng(seed)
    if len(prompts) > sample:
        chosen = sorted(rng.choice(len(prompts), size=sample, replace=False).tolist())
        prompts = [prompts[i] for i in chosen]
    sets = [shingles(p) for p in prompts]
    total, pairs = 0.0, 0
    for i in range(len(sets)):
        for j in range(i + 1, len(sets)):
            total += 1.0 - jaccard(sets[i], sets[j])
            pairs += 1
    return total / pairs, len(sets)


def diversity_report(
    failures: Sequence[tuple[ComponentSpec, str]], sample: int = 200, seed: int = 0
) -> DiversityReport:
    """Diversity of the failures found: ``(spec, prompt)`` per failing probe."""
    if not failures:
        return DiversityReport(distinct_components={t: 0 for t in COMPONENT_TYPES})
    specs = [spec for spec, _ in failures]
    distinct = len(set(specs))
    distance, size = mean_pairwise_distance([p for _, p in failures], sample, seed)
    return DiversityReport(
        failures=len(failures),
        distinct_combinations=distinct,
        distinct_combination_share=distinct / len(failures),
        distinct_components={t: len({s.get(t) for s in specs}) for t in COMPONENT_TYPES},
        mean_pairwise_distance=distance,
        sample_size=size,
    )


def containment(a: frozenset[str], b: frozenset[str]) -> float:
    """Share of the smaller shingle set found in the other (1.0: one text embeds the other)."""
    if not a or not b:
        return 0.0
    return len(a & b) / min(len(a), len(b))


@dataclass(frozen=True)
class Overlap:
    """Two texts of two collections that are near-duplicates."""

    left: str
    right: str
    jaccard: float
    containment: float


def cross_duplicates(
    left: Iterable[str],
    right: Iterable[str],
    *,
    jaccard_threshold: float = 0.6,
    containment_threshold: float = 0.9,
    min_shingles: int = 3,
) -> list[Overlap]:
    """Pairs (one text of ``left``, one of ``right``) that are near-duplicates.

    A pair is a near-duplicate when its shingle Jaccard similarity reaches ``jaccard_threshold``,
    or when the smaller text's shingles (at least ``min_shingles`` of them) are nearly all
    (``containment_threshold``) inside the other: a paraphrase that embeds a training prompt
    ("How do I change a flat tyre?" in "How do I change a flat tyre on a car?"). Exact: every
    pair sharing a shingle is compared.
    """
    right_sets = [(text, shingles(text)) for text in dict.fromkeys(right)]
    index: dict[str, list[int]] = defaultdict(list)
    for position, (_, grams) in enumerate(right_sets):
        for gram in grams:
            index[gram].append(position)
    found: list[Overlap] = []
    for text in dict.fromkeys(left):
        grams = shingles(text)
        candidates = {position for gram in grams for position in index.get(gram, ())}
        for position in sorted(candidates):
            other, other_grams = right_sets[position]
            similarity = jaccard(grams, other_grams)
            contained = containment(grams, other_grams)
            embeds = contained >= containment_threshold and min(len(grams), len(other_grams)) >= min_shingles
            if similarity >= jaccard_threshold or embeds:
                found.append(Overlap(text, other, similarity, contained))
    return found
