"""Converters: prompt transforms that stack, behind one registry.

A converter spec is ``NAME`` or ``NAME:ARGUMENT`` (``translate:French``, ``payload_split:3``); a
chain is a comma-separated string or a list of specs, applied in order (``"rot13,base64"``
ROT13-encodes, then Base64-encodes the result). Reverting a chain reverts its members in reverse
order, and is possible only when every member has an exact inverse.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from ares_rlhf.errors import ConfigError

if TYPE_CHECKING:
    from ares_rlhf.backends.base import ChatModel

# The run-config field that gives converters their chat model (named in error messages).
CONVERTER_MODEL_FIELD = "converters.model"

# How a converted prompt is presented on its own (benchmark prompts, the LLM Mentor's prompts).
STANDALONE_TEMPLATE = "{instruction} Then answer it.\n\n{converted}"


class Converter:
    """One prompt transform.

    Subclasses set ``decode_step`` (a clause telling the reader how to undo the transform, e.g.
    ``"decode it from Base64"``), implement :meth:`convert`, and, when an exact inverse exists,
    set ``revertible = True`` and implement :meth:`revert`.
    """

    name: str = ""
    decode_step: str = ""
    revertible: bool = False
    needs_model: bool = False
    takes_argument: bool = False
    requires_argument: bool = False
    argument_help: str = ""
    example_argument: str | None = None
    """An argument that works, for help texts and tests (``French`` for ``translate``)."""

    def __init__(
        self, argument: str | None = None, *, seed: int = 0, model: ChatModel | None = None
    ) -> None:
        self.argument = argument
        self.seed = seed
        self.model = model

    @property
    def spec(self) -> str:
        return f"{self.name}:{self.argument}" if self.argument is not None else self.name

    @property
    def instruction(self) -> str:
        """A sentence telling the reader how to decode this converter's output."""
        return f"To read my request, {self.decode_step}."

    def convert(self, text: str) -> str:
        raise NotImplementedError

    def convert_many(self, texts: Sequence[str]) -> list[str]:
        """Convert a batch (model-backed converters override this to batch their calls)."""
        return [self.convert(t) for t in texts]

    def revert(self, text: str) -> str:
        """The exact inverse of :meth:`convert`; only where ``revertible`` is true."""
        raise NotImplementedError(f"converter {self.name!r} has no exact inverse")


_REGISTRY: dict[str, type[Converter]] = {}


def register_converter(name: str) -> Callable[[type[Converter]], type[Converter]]:
    """Class decorator: make a :class:`Converter` subclass available under ``name``."""

    def wrap(cls: type[Converter]) -> type[Converter]:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"converter {name!r} is already registered")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return wrap


def known_converters() -> list[str]:
    """Registered converter names, sorted."""
    return sorted(_REGISTRY)


def example_spec(name: str) -> str:
    """A working spec for a registered converter (``translate:French``, ``base64``)."""
    cls = converter_class(name)
    return f"{name}:{cls.example_argument}" if cls.requires_argument else name


def converter_class(name: str) -> type[Converter]:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(
            f"unknown converter {name!r}; known: {', '.join(known_converters())}"
        ) from None


def split_chain(chain: str | Sequence[str]) -> list[str]:
    """The member specs of a chain given as ``"a,b"`` or ``["a", "b"]`` (blanks dropped)."""
    items = chain.split(",") if isinstance(chain, str) else [str(c) for c in chain]
    return [item.strip() for item in items if item.strip()]


def parse_converter_spec(spec: str) -> tuple[type[Converter], str | None]:
    """``NAME[:ARGUMENT]`` -> (converter class, argument); ``ConfigError`` if invalid."""
    name, sep, argument = spec.strip().partition(":")
    cls = converter_class(name.strip())
    value = argument.strip() if sep else None
    if sep and not value:
        raise ConfigError(f"converter {spec!r}: empty argument after ':'")
    if value is not None and not cls.takes_argument:
        raise ConfigError(f"converter {name!r} takes no argument (got {spec!r})")
    if value is None and cls.requires_argument:
        raise ConfigError(f"converter {name!r} needs an argument: {cls.argument_help}")
    return cls, value


def create_converter(spec: str, *, seed: int = 0, model: ChatModel | None = None) -> Converter:
    """Build one converter from its spec."""
    cls, argument = parse_converter_spec(spec)
    return cls(argument, seed=seed, model=model)


class ConverterChain:
    """Converters applied in order; reverted in reverse order."""

    def __init__(self, members: Sequence[Converter]) -> None:
        self.members = list(members)

    @property
    def spec(self) -> str:
        return ",".join(m.spec for m in self.members)

    @property
    def names(self) -> list[str]:
        return [m.name for m in self.members]

    @property
    def revertible(self) -> bool:
        return all(m.revertible for m in self.members)

    @property
    def needs_model(self) -> bool:
        return any(m.needs_model for m in self.members)

    @property
    def instruction(self) -> str:
        """A sentence giving the decoding steps in the order a reader applies them."""
        steps = [m.decode_step for m in reversed(self.members)]
        if not steps:
            return ""
        if len(steps) == 1:
            return f"To read my request, {steps[0]}."
        return f"To read my request, first {steps[0]}, then " + ", then ".join(steps[1:]) + "."

    def convert(self, text: str) -> str:
        for member in self.members:
            text = member.convert(text)
        return text

    def convert_many(self, texts: Sequence[str]) -> list[str]:
        out = list(texts)
        for member in self.members:
            out = member.convert_many(out)
        return out

    def revert(self, text: str) -> str:
        blocked = [m.name for m in self.members if not m.revertible]
        if blocked:
            raise NotImplementedError(
                f"converter chain {self.spec!r} cannot be reverted: {', '.join(blocked)} "
                "has no exact inverse"
            )
        for member in reversed(self.members):
            text = member.revert(text)
        return text


def check_chain(chain: str | Sequence[str]) -> list[str]:
    """Validate a chain's specs (names and arguments; no model needed); returns the specs."""
    specs = split_chain(chain)
    if not specs:
        raise ConfigError("empty converter chain; known: " + ", ".join(known_converters()))
    for spec in specs:
        create_converter(spec)
    return specs


def build_converter_chain(
    chain: str | Sequence[str],
    *,
    seed: int = 0,
    model: ChatModel | None = None,
    model_field: str = CONVERTER_MODEL_FIELD,
) -> ConverterChain:
    """Build a chain from ``"a,b"`` or ``["a", "b"]``.

    A member that needs a chat model raises ``ConfigError`` naming ``model_field`` when
    ``model`` is None.
    """
    members = [create_converter(s, seed=seed, model=model) for s in check_chain(chain)]
    for member in members:
        if member.needs_model and model is None:
            raise ConfigError(
                f"converter {member.spec!r} needs a chat model: set {model_field} "
                "(a model spec, e.g. openai:http://127.0.0.1:8000/v1#NAME)"
            )
    return ConverterChain(members)


def standalone_prompt(chain: ConverterChain, converted: str) -> str:
    """A converted text presented on its own: the decoding instruction, then the text."""
    return STANDALONE_TEMPLATE.format(instruction=chain.instruction, converted=converted)


def convert_prompts(
    prompts: Sequence[str],
    chain: ConverterChain | str | Sequence[str],
    *,
    instruct: bool = True,
    seed: int = 0,
    model: ChatModel | None = None,
) -> list[str]:
    """Benchmark prompts through a chain, in order (batched per converter).

    With ``instruct`` each prompt is preceded by the chain's decoding instruction (a bare
    Base64 blob asks nothing); ``instruct=False`` gives the converted texts alone.
    """
    if not isinstance(chain, ConverterChain):
        chain = build_converter_chain(chain, seed=seed, model=model)
    converted = chain.convert_many(prompts)
    if not instruct:
        return converted
    return [standalone_prompt(chain, c) for c in converted]
