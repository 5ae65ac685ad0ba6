"""Prompt converters: a registry of transforms that stack (base64, rot13, leetspeak, ...).

``build_converter_chain("rot13,base64")`` applies ROT13 then Base64; ``chain.revert`` undoes a
chain whose members all have an exact inverse; ``convert_prompts`` runs benchmark prompts
through a chain. Catalog tactics name a chain in their ``converters`` field.
"""

from ares_rlhf.converters import encodings, scrambles, splitting, translation  # noqa: F401
from ares_rlhf.converters.base import (
    CONVERTER_MODEL_FIELD,
    Converter,
    ConverterChain,
    build_converter_chain,
    check_chain,
    convert_prompts,
    converter_class,
    create_converter,
    example_spec,
    known_converters,
    register_converter,
    standalone_prompt,
)
from ares_rlhf.converters.scrambles import reverse_words

__all__ = [
    "CONVERTER_MODEL_FIELD",
    "Converter",
    "ConverterChain",
    "build_converter_chain",
    "check_chain",
    "convert_prompts",
    "converter_class",
    "create_converter",
    "example_spec",
    "known_converters",
    "register_converter",
    "reverse_words",
    "standalone_prompt",
]
