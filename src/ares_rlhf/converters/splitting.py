"""Payload splitting: the text cut into named parts the reader must join."""

from __future__ import annotations

import json
import re

from ares_rlhf.converters.base import Converter, register_converter
from ares_rlhf.errors import ConfigError

_SEGMENT = re.compile(r"\S+\s*")
_LINE = re.compile(r'^([A-Z]) = (".*")$')
MAX_PARTS = 26


def _names(count: int) -> list[str]:
    return [chr(ord("A") + i) for i in range(count)]


@register_converter("payload_split")
class PayloadSplitConverter(Converter):
    """``A = "..."`` / ``B = "..."`` lines (JSON strings) whose concatenation is the text.

    The cuts fall at word boundaries with near-equal word counts per part (whitespace stays
    with the word before it), so the inverse is exact. ``payload_split:N`` gives N parts
    (2 to 26; default 2).
    """

    revertible = True
    takes_argument = True
    argument_help = "payload_split:N, the number of parts (2 to 26)"
    example_argument = "3"

    def __init__(self, argument: str | None = None, **kwargs) -> None:
        super().__init__(argument, **kwargs)
        try:
            self.parts = int(argument) if argument is not None else 2
        except ValueError:
            self.parts = 0
        if not 2 <= self.parts <= MAX_PARTS:
            raise ConfigError(f"converter {self.spec!r}: {self.argument_help}")

    @property
    def decode_step(self) -> str:  # type: ignore[override]
        names = _names(self.parts)
        listed = ", ".join(names[:-1]) + " and " + names[-1]
        return f"join the parts {listed} in order ({' + '.join(names)})"

    def convert(self, text: str) -> str:
        segments = _SEGMENT.findall(text)
        lead = text[: len(text) - len(text.lstrip())] if text.strip() else text
        size, extra = divmod(len(segments), self.parts)
        values, start = [], 0
        for i in range(self.parts):
            end = start + size + (1 if i < extra else 0)
            values.append("".join(segments[start:end]))
            start = end
        values[0] = lead + values[0]
        return "\n".join(
            f"{name} = {json.dumps(value, ensure_ascii=False)}"
            for name, value in zip(_names(self.parts), values, strict=True)
        )

    def revert(self, text: str) -> str:
        lines = text.split("\n")
        names = _names(self.parts)
        if len(lines) != len(names):
            raise ValueError(f'expected {len(names)} lines A = "...", got {len(lines)}')
        values = []
        for name, line in zip(names, lines, strict=True):
            match = _LINE.match(line)
            if match is None or match.group(1) != name:
                raise ValueError(f'expected a line {name} = "...", got {line[:40]!r}')
            values.append(json.loads(match.group(2)))
        return "".join(values)
