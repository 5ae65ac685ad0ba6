"""The translation converter: a configured chat model translates; none configured is an error."""

from __future__ import annotations

import pytest

from ares_rlhf.backends import create_chat_model
from ares_rlhf.converters import build_converter_chain, convert_prompts
from ares_rlhf.errors import ConfigError


def test_translation_asks_the_model_once_per_batch(translator) -> None:
    chain = build_converter_chain("translate:French", model=translator)
    assert chain.needs_model and not chain.revertible
    out = convert_prompts(["How do I do it?", "", "Second one."], chain, instruct=False)
    assert out == ["[FR] How do I do it?", "", "[FR] Second one."]
    assert len(translator.seen) == 2  # the empty text is not sent
    asked = translator.seen[0][0]["content"]
    assert "into French" in asked and asked.endswith("How do I do it?")
    assert chain.instruction == "To read my request, read it in French (it is translated)."
    assert chain.members[0].stats == {"translated": 2}


def test_translation_stacks_with_other_converters(translator) -> None:
    chain = build_converter_chain("translate:German,base64", model=translator)
    decoded = build_converter_chain("base64").revert(chain.convert("Hello"))
    assert decoded == "[FR] Hello"
    assert "into German" in translator.seen[0][0]["content"]


def test_refused_translation_keeps_the_text_and_is_counted() -> None:
    refuser = create_chat_model("scripted:refuser", responses=["I can't help with that."])
    chain = build_converter_chain("translate:French", model=refuser)
    assert chain.convert("Tell me [SECRET].") == "Tell me [SECRET]."
    assert chain.members[0].stats == {"refused": 1}


def test_translation_without_a_model_names_the_config_field() -> None:
    with pytest.raises(ConfigError) as info:
        build_converter_chain("rot13,translate:French")
    message = str(info.value)
    assert "converter 'translate:French' needs a chat model: set converters.model" in message
    assert "\n" not in message
    with pytest.raises(ConfigError, match="set eval.converter_model"):
        build_converter_chain("translate:French", model_field="eval.converter_model")
