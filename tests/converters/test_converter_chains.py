"""Stacking: order of application, reverse-order reverting, instructions, benchmark prompts."""

from __future__ import annotations

import base64
import codecs

import pytest

from ares_rlhf.converters import (
    ConverterChain,
    build_converter_chain,
    convert_prompts,
    create_converter,
)
from ares_rlhf.errors import ConfigError


def test_chain_applies_in_order() -> None:
    text = "Hello there"
    rot_then_b64 = build_converter_chain("rot13,base64").convert(text)
    assert rot_then_b64 == base64.b64encode(codecs.encode(text, "rot13").encode()).decode()
    b64_then_rot = build_converter_chain(["base64", "rot13"]).convert(text)
    assert b64_then_rot == codecs.encode(base64.b64encode(text.encode()).decode(), "rot13")
    assert rot_then_b64 != b64_then_rot


def test_chain_reverts_in_reverse_order(texts) -> None:
    chain = build_converter_chain("word_scramble, payload_split:3, rot13, char_scramble, base64")
    assert chain.names == ["word_scramble", "payload_split", "rot13", "char_scramble", "base64"]
    assert chain.spec == "word_scramble,payload_split:3,rot13,char_scramble,base64"
    assert chain.revertible
    for text in texts:
        assert chain.revert(chain.convert(text)) == text


def test_chain_with_a_one_way_member_cannot_revert() -> None:
    chain = build_converter_chain("base64,leetspeak")
    assert not chain.revertible
    with pytest.raises(NotImplementedError, match="leetspeak has no exact inverse"):
        chain.revert(chain.convert("x"))


def test_chain_instruction_lists_decoding_steps_in_reading_order() -> None:
    assert build_converter_chain("base64").instruction == (
        "To read my request, decode it from Base64."
    )
    assert build_converter_chain("rot13,base64").instruction == (
        "To read my request, first decode it from Base64, then decode it from ROT13 "
        "(shift every letter 13 places)."
    )


def test_empty_chain_is_an_error() -> None:
    with pytest.raises(ConfigError, match="empty converter chain; known: base64"):
        build_converter_chain(" , ")


def test_convert_prompts_keeps_order_and_instructs() -> None:
    prompts = ["first prompt", "second prompt"]
    out = convert_prompts(prompts, "rot13")
    assert out == [
        "To read my request, decode it from ROT13 (shift every letter 13 places). Then answer it."
        f"\n\n{codecs.encode(p, 'rot13')}"
        for p in prompts
    ]
    assert convert_prompts(prompts, ["reverse_words"], instruct=False) == [
        "prompt first",
        "prompt second",
    ]
    chain = ConverterChain([create_converter("base64")])
    assert convert_prompts(prompts, chain, instruct=False) == [chain.convert(p) for p in prompts]
