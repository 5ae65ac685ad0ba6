"""Reading user-supplied files safely: size limits, UTF-8 (BOM accepted), one-line YAML errors.

Every loader of a user file (run config, catalog, arena, labels CSV) reads through
:func:`read_text` and :func:`parse_yaml`, so a missing, binary, oversized or non-UTF-8 file, or
bad YAML, becomes one line naming the file and the problem, raised as the caller's
``AresUserError`` subclass.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ares_rlhf.errors import AresUserError

MiB = 1024 * 1024
MAX_CONFIG_BYTES = 1 * MiB
"""A run config (or a repair settings file)."""
MAX_CATALOG_BYTES = 4 * MiB
"""One catalog file (the shipped one is 18 KB)."""
MAX_ARENA_BYTES = 4 * MiB
"""One arena file (the shipped ones are 1-2 KB)."""
MAX_LABELS_BYTES = 64 * MiB
"""A labelled CSV for ``ares judge eval``."""
MAX_YAML_VALUES = 200_000
"""Values a YAML document may expand to (aliases count at every use: no alias bombs)."""
EXCERPT_CHARS = 80
"""How much of a bad value an error message quotes."""


def excerpt(value: Any, limit: int = EXCERPT_CHARS) -> str:
    """``repr(value)`` on one line, cut to ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def one_line(text: str) -> str:
    """Collapse whitespace (newlines included) so a message stays on one line."""
    return " ".join(str(text).split())


def _size_text(size: int) -> str:
    return f"{size / MiB:.1f} MiB" if size >= MiB else f"{size:,} bytes"


def read_text(path: str | Path, *, what: str, error: type[AresUserError], max_bytes: int) -> str:
    """The file's text (UTF-8, a leading BOM dropped); ``error`` for anything else.

    Refuses a missing path, a folder, a file over ``max_bytes``, binary data (NUL bytes) and
    text that is not UTF-8.
    """
    path = Path(path)
    if not path.exists():
        raise error(f"{path}: no such {what}")
    if path.is_dir():
        raise error(f"{path}: is a folder; expected the {what}")
    try:
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as problem:
        raise error(f"{path}: cannot read the {what} ({problem.strerror or problem})") from None
    if len(data) > max_bytes:
        raise error(
            f"{path}: the {what} is larger than the {_size_text(max_bytes)} limit for such files"
        )
    if b"\x00" in data:
        raise error(f"{path}: the {what} holds binary data (NUL bytes), not text")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as problem:
        raise error(
            f"{path}: not UTF-8 text (byte 0x{data[problem.start]:02x} at offset {problem.start}); "
            "save the file as UTF-8"
        ) from None
    return text[1:] if text.startswith("\ufeff") else text


def _count_values(data: Any, limit: int) -> int:
    """How many values ``data`` expands to, stopping once past ``limit``."""
    count, stack = 0, [data]
    while stack and count <= limit:
        value = stack.pop()
        count += 1
        if isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list | tuple | set):
            stack.extend(value)
    return count


def parse_yaml(
    text: str, source: str, error: type[AresUserError], *, max_values: int = MAX_YAML_VALUES
) -> Any:
    """``yaml.safe_load`` with every failure as one line ``SOURCE: not valid YAML at line L ...``."""
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as problem:
        mark = getattr(problem, "problem_mark", None) or getattr(problem, "context_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        reason = getattr(problem, "problem", None) or getattr(problem, "context", None) or problem
        raise error(f"{source}: not valid YAML{where}: {one_line(str(reason))}") from None
    except RecursionError:
        raise error(f"{source}: not valid YAML: nested too deeply") from None
    if _count_values(data, max_values) > max_values:
        raise error(
            f"{source}: the YAML expands to more than {max_values:,} values (YAML aliases?); "
            "write the values out"
        )
    return data
