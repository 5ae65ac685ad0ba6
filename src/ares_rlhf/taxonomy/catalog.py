"""The component catalog: topics, personas, tactics and goals, loaded from YAML files.

A catalog is built from one or more sources merged in order (``builtin`` = the shipped file).
Within one file ids must be unique; a later file may add entries, replace an entry by listing
its id under ``override: true`` entries, or start afresh with ``replace: true`` at the top.

A tactic frames the request in one user turn (``frames``) or plans a conversation (``turns``:
2 to :data:`MAX_TURNS` user turns, each a frame or a list of alternative frames; the last turn
carries the request).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from ares_rlhf.errors import CatalogError, ConfigError
from ares_rlhf.inputs import MAX_CATALOG_BYTES, parse_yaml, read_text
from ares_rlhf.records import COMPONENT_TYPES, ComponentSpec

SECTION_OF_TYPE = {"topic": "topics", "persona": "personas", "tactic": "tactics", "goal": "goals"}
TYPE_OF_SECTION = {section: ctype for ctype, section in SECTION_OF_TYPE.items()}

# Frame slots that only a tactic with a ``converters`` chain can fill.
CONVERTER_SLOTS = frozenset({"request_converted", "converter_instruction"})
# The text fragments each component type carries, and the {slots} each fragment may use.
FRAGMENT_SLOTS: dict[str, dict[str, frozenset[str]]] = {
    "topic": {"subjects": frozenset(), "redirects": frozenset()},
    "persona": {"intros": frozenset()},
    "tactic": {
        "frames": frozenset({"intro", "request", "request_a", "request_b", "request_encoded"})
        | CONVERTER_SLOTS
    },
    "goal": {
        "asks": frozenset({"subject"}),
        "malicious": frozenset({"subject"}),
        "safe": frozenset({"subject", "redirect"}),
    },
}
OPTIONAL_LIST_FIELDS = {"topic": ("categories",), "tactic": ("converters",)}
TURN_SLOTS = FRAGMENT_SLOTS["tactic"]["frames"] | {"subject"}
"""Slots of a multi-turn tactic's turns: a frame's slots, plus ``{subject}`` (the topic subject
without the goal's ask, for turns that approach the topic before asking)."""
REQUEST_SLOTS = frozenset(
    {"request", "request_a", "request_b", "request_encoded", "request_converted"}
)
MIN_TURNS = 2
MAX_TURNS = 6
"""User turns in one multi-turn tactic's plan."""
_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_\-]*$")
_SLOT_PATTERN = re.compile(r"\{([^{}]*)\}")
BUILTIN = "builtin"
MAX_FRAGMENT_CHARS = 4000
"""Characters in one text fragment (the shipped catalog's longest has 231)."""
MAX_DESCRIPTION_CHARS = 1000
MAX_FRAGMENTS = 500
"""Fragments in one list of one component."""
MAX_COMPONENTS_PER_TYPE = 2000
MAX_COMBINATIONS = 5_000_000
"""Combinations of the merged catalog (the shipped one has 11,934)."""


@dataclass(frozen=True)
class Component:
    """One catalog entry."""

    type: str
    id: str
    description: str
    fragments: dict[str, tuple[str, ...]]
    categories: tuple[str, ...] = ()
    source: str = ""
    converters: tuple[str, ...] = ()
    """A tactic's converter chain (specs such as ``base64``), applied to the request in order."""
    turns: tuple[tuple[str, ...], ...] = ()
    """A multi-turn tactic's plan: per user turn, its alternative frames (empty: single-turn)."""

    def fragment(self, name: str) -> tuple[str, ...]:
        return self.fragments[name]

    @property
    def multi_turn(self) -> bool:
        return bool(self.turns)


@dataclass
class Catalog:
    """The merged component catalog: an ordered id -> Component mapping per type."""

    components: dict[str, dict[str, Component]] = field(
        default_factory=lambda: {t: {} for t in COMPONENT_TYPES}
    )
    sources: list[str] = field(default_factory=list)

    def ids(self, component_type: str) -> list[str]:
        return list(self.components[component_type])

    def get(self, component_type: str, component_id: str) -> Component:
        try:
            return self.components[component_type][component_id]
        except KeyError:
            known = ", ".join(self.ids(component_type)) if component_type in self.components else ""
            raise CatalogError(
                f"unknown {component_type} id {component_id!r}; known: {known}"
            ) from None

    def sizes(self) -> dict[str, int]:
        return {t: len(self.components[t]) for t in COMPONENT_TYPES}

    @property
    def combination_count(self) -> int:
        count = 1
        for size in self.sizes().values():
            count *= size
        return count

    def all_specs(self) -> Iterator[ComponentSpec]:
        """Every combination, in catalog order (topic-major)."""
        for key in itertools.product(*(self.ids(t) for t in COMPONENT_TYPES)):
            yield ComponentSpec(*key)

    def validate_spec(self, spec: ComponentSpec) -> None:
        for ctype in COMPONENT_TYPES:
            self.get(ctype, spec.get(ctype))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for ctype, section in SECTION_OF_TYPE.items():
            out[section] = [
                {
                    "id": c.id,
                    "description": c.description,
                    **({"categories": list(c.categories)} if c.categories else {}),
                    **({"converters": list(c.converters)} if c.converters else {}),
                    **{k: list(v) for k, v in c.fragments.items()},
                    **({"turns": [_turn_entry(t) for t in c.turns]} if c.turns else {}),
                }
                for c in self.components[ctype].values()
            ]
        return out


def _turn_entry(alternatives: tuple[str, ...]) -> str | list[str]:
    return alternatives[0] if len(alternatives) == 1 else list(alternatives)


def _builtin_text() -> tuple[str, str]:
    path = resources.files("ares_rlhf.taxonomy").joinpath("data/builtin.yaml")
    return path.read_text(encoding="utf-8"), "builtin"


def _read_source(source: str | Path) -> tuple[Any, str]:
    if str(source) == BUILTIN:
        text, name = _builtin_text()
    else:
        path = Path(source)
        text = read_text(path, what="catalog file", error=CatalogError, max_bytes=MAX_CATALOG_BYTES)
        name = str(path)
    return parse_yaml(text, name, CatalogError), name


def _check_length(text: str, limit: int, name: str, where: str) -> None:
    if len(text) > limit:
        raise CatalogError(
            f"{name}: {where}: {len(text):,} characters is over the limit of {limit:,} "
            "(fragments are composed into prompts; keep them short)"
        )


def _parse_component(ctype: str, entry: Any, where: str, name: str) -> tuple[Component, bool]:
    if not isinstance(entry, dict):
        raise CatalogError(
            f"{name}: {where}: expected a mapping with id, description and fragments"
        )
    allowed = {
        "id",
        "description",
        "override",
        *FRAGMENT_SLOTS[ctype],
        *OPTIONAL_LIST_FIELDS.get(ctype, ()),
        *(("turns",) if ctype == "tactic" else ()),
    }
    unknown = sorted(set(entry) - allowed)
    if unknown:
        raise CatalogError(
            f"{name}: {where}: unknown field {unknown[0]!r} for a {ctype}; allowed: {', '.join(sorted(allowed))}"
        )
    cid = entry.get("id")
    if not isinstance(cid, str) or not cid.strip():
        raise CatalogError(f"{name}: {where}.id: must be a non-empty string")
    if not _ID_PATTERN.match(cid):
        raise CatalogError(
            f"{name}: {where}.id: {cid!r} must use lower-case letters, digits, '_' or '-'"
        )
    where = f"{where} ({cid})"
    description = entry.get("description")
    if not isinstance(description, str) or not description.strip():
        raise CatalogError(f"{name}: {where}.description: must be a non-empty string")
    _check_length(description, MAX_DESCRIPTION_CHARS, name, f"{where}.description")
    fragments: dict[str, tuple[str, ...]] = {}
    turns: tuple[tuple[str, ...], ...] = ()
    if ctype == "tactic" and "turns" in entry:
        if "frames" in entry:
            raise CatalogError(
                f"{name}: {where}: a tactic has frames (one turn) or turns (a conversation), "
                "not both"
            )
        turns = _parse_turns(entry, where, name)
    for fname, slots in FRAGMENT_SLOTS[ctype].items():
        if turns and fname == "frames":
            continue
        values = entry.get(fname)
        if not isinstance(values, list) or not values:
            raise CatalogError(
                f"{name}: {where}.{fname}: must be a non-empty list of text fragments"
            )
        if len(values) > MAX_FRAGMENTS:
            raise CatalogError(
                f"{name}: {where}.{fname}: {len(values):,} fragments is over the limit of "
                f"{MAX_FRAGMENTS:,}"
            )
        for i, value in enumerate(values):
            if not isinstance(value, str) or not value.strip():
                raise CatalogError(f"{name}: {where}.{fname}[{i}]: must be a non-empty string")
            _check_length(value, MAX_FRAGMENT_CHARS, name, f"{where}.{fname}[{i}]")
            for slot in _SLOT_PATTERN.findall(value):
                if slot not in slots:
                    allowed_slots = ", ".join("{" + s + "}" for s in sorted(slots)) or "none"
                    raise CatalogError(
                        f"{name}: {where}.{fname}[{i}]: unknown reference {{{slot}}}; allowed here: {allowed_slots}"
                    )
        fragments[fname] = tuple(values)
    categories = entry.get("categories", [])
    if not isinstance(categories, list) or any(
        not isinstance(c, str) or not c.strip() for c in categories
    ):
        raise CatalogError(f"{name}: {where}.categories: must be a list of non-empty strings")
    converters = (
        _parse_converters(entry, fragments, turns, where, name) if ctype == "tactic" else ()
    )
    override = entry.get("override", False)
    if not isinstance(override, bool):
        raise CatalogError(f"{name}: {where}.override: must be true or false")
    component = Component(
        ctype, cid, description.strip(), fragments, tuple(categories), name, converters, turns
    )
    return component, override


def _parse_turns(entry: dict, where: str, name: str) -> tuple[tuple[str, ...], ...]:
    """A multi-turn tactic's ``turns``: 2..MAX_TURNS turns, each a frame or a list of them."""
    values = entry["turns"]
    if not isinstance(values, list) or not MIN_TURNS <= len(values) <= MAX_TURNS:
        raise CatalogError(
            f"{name}: {where}.turns: must be a list of {MIN_TURNS} to {MAX_TURNS} user turns"
        )
    turns = []
    for t, value in enumerate(values):
        alternatives = value if isinstance(value, list) else [value]
        if not alternatives:
            raise CatalogError(f"{name}: {where}.turns[{t}]: an empty list of alternatives")
        if len(alternatives) > MAX_FRAGMENTS:
            raise CatalogError(
                f"{name}: {where}.turns[{t}]: {len(alternatives):,} alternatives is over the "
                f"limit of {MAX_FRAGMENTS:,}"
            )
        for a, text in enumerate(alternatives):
            at = f"{where}.turns[{t}]" + (f"[{a}]" if isinstance(value, list) else "")
            if not isinstance(text, str) or not text.strip():
                raise CatalogError(f"{name}: {at}: must be a non-empty string")
            _check_length(text, MAX_FRAGMENT_CHARS, name, at)
            used = set(_SLOT_PATTERN.findall(text))
            for slot in sorted(used - TURN_SLOTS):
                allowed_slots = ", ".join("{" + s + "}" for s in sorted(TURN_SLOTS))
                raise CatalogError(
                    f"{name}: {at}: unknown reference {{{slot}}}; allowed here: {allowed_slots}"
                )
            if t == len(values) - 1 and not used & REQUEST_SLOTS:
                raise CatalogError(
                    f"{name}: {at}: the last turn must carry the request ({{request}} or one of "
                    "its forms)"
                )
        turns.append(tuple(alternatives))
    return tuple(turns)


def _parse_converters(
    entry: dict,
    fragments: dict[str, tuple[str, ...]],
    turns: tuple[tuple[str, ...], ...],
    where: str,
    name: str,
) -> tuple[str, ...]:
    """A tactic's ``converters`` list, checked against the converter registry and its frames
    (or, on a multi-turn tactic, its turns: the last one must place the converted request)."""
    from ares_rlhf.converters import check_chain

    specs = entry.get("converters", [])
    if not isinstance(specs, list) or any(not isinstance(c, str) or not c.strip() for c in specs):
        raise CatalogError(f"{name}: {where}.converters: must be a list of converter names")
    for i, spec in enumerate(specs):
        if "," in spec:
            raise CatalogError(
                f"{name}: {where}.converters[{i}]: one converter per item (got {spec!r})"
            )
        try:
            check_chain([spec])
        except ConfigError as error:
            raise CatalogError(f"{name}: {where}.converters[{i}]: {error}") from None
    if turns:
        texts = [
            (f"turns[{t}]", text, t == len(turns) - 1)
            for t, alternatives in enumerate(turns)
            for text in alternatives
        ]
        what = "in every alternative of its last turn"
    else:
        texts = [(f"frames[{i}]", frame, True) for i, frame in enumerate(fragments["frames"])]
        what = "in every frame"
    for at, text, carries_request in texts:
        used = set(_SLOT_PATTERN.findall(text))
        if specs and carries_request and "request_converted" not in used:
            raise CatalogError(
                f"{name}: {where}.{at}: a tactic with converters must place "
                f"{{request_converted}} {what}"
            )
        if not specs and used & CONVERTER_SLOTS:
            slot = sorted(used & CONVERTER_SLOTS)[0]
            raise CatalogError(
                f"{name}: {where}.{at}: {{{slot}}} needs a 'converters' list on the tactic"
            )
    return tuple(s.strip() for s in specs)


def _merge_file(catalog: Catalog, data: Any, name: str) -> None:
    if not isinstance(data, dict):
        raise CatalogError(f"{name}: expected a mapping with topics, personas, tactics and goals")
    unknown = sorted(set(data) - {*TYPE_OF_SECTION, "version", "replace", "description"})
    if unknown:
        raise CatalogError(
            f"{name}: unknown section {unknown[0]!r}; expected topics, personas, tactics, goals"
        )
    if data.get("replace", False):
        catalog.components = {t: {} for t in COMPONENT_TYPES}
    for section, ctype in TYPE_OF_SECTION.items():
        entries = data.get(section, [])
        if entries is None:
            entries = []
        if not isinstance(entries, list):
            raise CatalogError(f"{name}: {section}: must be a list")
        if len(entries) > MAX_COMPONENTS_PER_TYPE:
            raise CatalogError(
                f"{name}: {section}: {len(entries):,} entries is over the limit of "
                f"{MAX_COMPONENTS_PER_TYPE:,}"
            )
        seen: set[str] = set()
        for index, entry in enumerate(entries):
            component, override = _parse_component(ctype, entry, f"{section}[{index}]", name)
            if component.id in seen:
                raise CatalogError(f"{name}: {section}[{index}]: duplicate id {component.id!r}")
            seen.add(component.id)
            existing = catalog.components[ctype]
            if override and component.id not in existing:
                raise CatalogError(
                    f"{name}: {section}[{index}]: override of unknown {ctype} id {component.id!r} (nothing to replace)"
                )
            if not override and component.id in existing:
                raise CatalogError(
                    f"{name}: {section}[{index}]: duplicate id {component.id!r} (already defined in "
                    f"{existing[component.id].source}); set 'override: true' to replace it"
                )
            existing[component.id] = component


def load_catalog(sources: Sequence[str | Path] = (BUILTIN,)) -> Catalog:
    """Load and merge catalog sources in order; raises ``CatalogError`` on any invalid entry."""
    if isinstance(sources, str | Path):
        sources = [sources]
    catalog = Catalog()
    for source in sources:
        data, name = _read_source(source)
        _merge_file(catalog, data, name)
        catalog.sources.append(name)
    for ctype in COMPONENT_TYPES:
        if not catalog.components[ctype]:
            raise CatalogError(
                f"{', '.join(catalog.sources)}: the merged catalog has no {SECTION_OF_TYPE[ctype]}; every type needs at least one"
            )
    if catalog.combination_count > MAX_COMBINATIONS:
        raise CatalogError(
            f"{', '.join(catalog.sources)}: the merged catalog has {catalog.combination_count:,} "
            f"combinations, over the limit of {MAX_COMBINATIONS:,} (search keeps a table per "
            "combination); use fewer components"
        )
    return catalog
