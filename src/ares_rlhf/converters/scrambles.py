"""Order transforms: reversed words, shuffled words, shuffled letters inside words.

Whitespace stays where it was, so every transform here has an exact inverse. The seeded shuffles
draw their permutation from the seed plus what the shuffle leaves unchanged (the multiset of
words, or of a word's inner letters, and its position), so they are deterministic per
``(seed, text)`` and the inverse can recompute the same permutation from the shuffled text.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Sequence

from ares_rlhf.converters.base import Converter, register_converter

_SPACE = re.compile(r"(\s+)")
_LETTERS = re.compile(r"[^\W\d_]+")
MIN_SCRAMBLED_WORD = 4


def _tokens(text: str) -> tuple[list[str], list[int]]:
    """The text cut into words and whitespace runs, and the indexes of the (non-empty) words."""
    tokens = _SPACE.split(text)
    return tokens, [i for i in range(0, len(tokens), 2) if tokens[i]]


def _permutation(seed: int, kind: str, invariant: Sequence[str], size: int) -> list[int]:
    """A seeded permutation of ``range(size)``, never the identity when ``size > 1``."""
    key = "\x1f".join([str(seed), kind, str(size), *sorted(invariant)]).encode("utf-8")
    rng = random.Random(int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big"))
    perm = rng.sample(range(size), size)
    if size > 1 and perm == list(range(size)):
        perm = perm[1:] + perm[:1]
    return perm


def _shuffle(items: list[str], perm: list[int]) -> list[str]:
    return [items[p] for p in perm]


def _unshuffle(items: list[str], perm: list[int]) -> list[str]:
    out = [""] * len(items)
    for i, p in enumerate(perm):
        out[p] = items[i]
    return out


def reverse_words(text: str) -> str:
    """The words in reverse order, whitespace runs in place (on single-spaced text this is
    ``" ".join(reversed(text.split()))``)."""
    tokens, words = _tokens(text)
    for index, word in zip(words, reversed([tokens[i] for i in words]), strict=True):
        tokens[index] = word
    return "".join(tokens)


@register_converter("reverse_words")
class ReverseWordsConverter(Converter):
    """Word order reversed (its own inverse)."""

    decode_step = "read its words from last to first"
    revertible = True

    def convert(self, text: str) -> str:
        return reverse_words(text)

    def revert(self, text: str) -> str:
        return reverse_words(text)


@register_converter("word_scramble")
class WordScrambleConverter(Converter):
    """Words shuffled by a seeded permutation; whitespace runs stay in place."""

    decode_step = "put its shuffled words back into a sensible order"
    revertible = True

    def _apply(self, text: str, *, invert: bool) -> str:
        tokens, words = _tokens(text)
        items = [tokens[i] for i in words]
        perm = _permutation(self.seed, "words", items, len(items))
        moved = _unshuffle(items, perm) if invert else _shuffle(items, perm)
        for index, word in zip(words, moved, strict=True):
            tokens[index] = word
        return "".join(tokens)

    def convert(self, text: str) -> str:
        return self._apply(text, invert=False)

    def revert(self, text: str) -> str:
        return self._apply(text, invert=True)


@register_converter("char_scramble")
class CharScrambleConverter(Converter):
    """Inner letters of each word of 4+ letters shuffled; first and last letters kept."""

    decode_step = "unscramble each word (its inner letters are shuffled)"
    revertible = True

    def _apply(self, text: str, *, invert: bool) -> str:
        parts: list[str] = []
        last = 0
        for position, match in enumerate(_LETTERS.finditer(text)):
            word = match.group(0)
            parts.append(text[last : match.start()])
            last = match.end()
            if len(word) < MIN_SCRAMBLED_WORD:
                parts.append(word)
                continue
            inner = list(word[1:-1])
            perm = _permutation(self.seed, f"chars{position}", inner, len(inner))
            inner = _unshuffle(inner, perm) if invert else _shuffle(inner, perm)
            parts.append(word[0] + "".join(inner) + word[-1])
        parts.append(text[last:])
        return "".join(parts)

    def convert(self, text: str) -> str:
        return self._apply(text, invert=False)

    def revert(self, text: str) -> str:
        return self._apply(text, invert=True)
