"""Arena generators for shapes the shipped arenas do not contain (held-out checks of search).

Each generator returns an arena mapping (the file format of :mod:`ares_rlhf.sim.arena`) drawn
from a seed; :func:`generate_arena` parses it. The shapes:

* ``fourway``: 2-4 systemic regions that need all FOUR component types (1-3 values per type,
  8-36 combinations each); around each only weak (0.1-0.3) pair-level regions on 1-3 of its six
  type pairs.
* ``near-threshold``: 2-4 regions of order 2 or 3 whose failure probabilities sit just above the
  0.5 threshold (0.50-0.60 each), each next to 1-2 near-miss siblings (the same region with one
  value changed) just below it (at least one part 0.40-0.49, so not systemic).
* ``structureless``: 40-150 isolated systemic combinations (order 4, one value per type) with
  no surrounding signal, plus as many isolated policy-only or RM-only combinations.
* ``many-tiny``: 15-30 order-3 regions (6-17 combinations each), weak pair surroundings around
  about half of them.
* ``rm-heavy``: a high RM base rate (0.20-0.45) and broad RM-only regions (order 1-2, 0.6-0.95),
  sparse policy-only regions (order 2-3); systemic where they overlap, plus 1-2 small full
  regions.

Draws are repeated (same seed stream) until the arena holds 1..``max_systemic`` systemic
combinations. :data:`DEVELOPMENT_SEEDS` were used while developing the search strategy;
:data:`HELD_OUT_SEEDS` only for the final check (docs/search.md). ``ares bench discovery
--arena gen:SHAPE:SEED`` runs a generated arena.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ares_rlhf.errors import DataError
from ares_rlhf.records import COMPONENT_TYPES
from ares_rlhf.sim.arena import Arena, parse_arena
from ares_rlhf.taxonomy import BUILTIN, Catalog

Mapping = dict[str, Any]
DEVELOPMENT_SEEDS = tuple(range(8))
"""Generator seeds used while developing the search strategy."""
HELD_OUT_SEEDS = tuple(range(9000, 9006))
"""Generator seeds used only for the final check (never while tuning)."""


class _Draw:
    """Seeded helpers shared by the generators."""

    def __init__(self, catalog: Catalog, seed: int, salt: int) -> None:
        self.rng = np.random.default_rng([seed, salt])
        self.ids = {t: catalog.ids(t) for t in COMPONENT_TYPES}

    def p(self, low: float, high: float) -> float:
        return round(float(self.rng.uniform(low, high)), 3)

    def values(self, ctype: str, count: int) -> list[str]:
        ids = self.ids[ctype]
        return sorted(
            str(v) for v in self.rng.choice(ids, size=min(count, len(ids)), replace=False)
        )

    def when(self, order: int, values_per_type: int = 1) -> dict[str, list[str]]:
        types = sorted(self.rng.choice(len(COMPONENT_TYPES), size=order, replace=False))
        return {COMPONENT_TYPES[t]: self.values(COMPONENT_TYPES[t], values_per_type) for t in types}

    def other_value(self, ctype: str, taken: list[str]) -> str:
        free = [v for v in self.ids[ctype] if v not in taken]
        return str(free[int(self.rng.integers(len(free)))])

    def base(
        self, policy: tuple[float, float] = (0.0, 0.05), rm: tuple[float, float] = (0.0, 0.08)
    ):
        return {"policy_fail": self.p(*policy), "rm_fail": self.p(*rm)}


def _region(rid: str, when: dict[str, list[str]], policy: float, rm: float) -> Mapping:
    return {"id": rid, "when": when, "policy_fail": policy, "rm_fail": rm}


def fourway_arena(draw: _Draw) -> Mapping:
    regions: list[Mapping] = []
    for r in range(int(draw.rng.integers(2, 5))):
        while True:
            counts = [int(c) for c in draw.rng.integers(1, 4, size=4)]
            if 8 <= int(np.prod(counts)) <= 36:
                break
        when = {t: draw.values(t, c) for t, c in zip(COMPONENT_TYPES, counts, strict=True)}
        regions.append(_region(f"four-{r}", when, draw.p(0.6, 0.95), draw.p(0.6, 0.95)))
        pairs = [(a, b) for a in range(4) for b in range(a + 1, 4)]
        for k in draw.rng.choice(len(pairs), size=int(draw.rng.integers(1, 4)), replace=False):
            a, b = pairs[int(k)]
            sub = {
                COMPONENT_TYPES[a]: when[COMPONENT_TYPES[a]],
                COMPONENT_TYPES[b]: when[COMPONENT_TYPES[b]],
            }
            regions.append(_region(f"weak-{r}-{a}{b}", sub, draw.p(0.1, 0.3), draw.p(0.1, 0.3)))
    return {"base": draw.base(), "regions": regions}


def near_threshold_arena(draw: _Draw) -> Mapping:
    regions: list[Mapping] = []
    for r in range(int(draw.rng.integers(2, 5))):
        when = draw.when(int(draw.rng.choice([2, 3])))
        regions.append(_region(f"near-{r}", when, draw.p(0.5, 0.6), draw.p(0.5, 0.6)))
        for s in range(int(draw.rng.integers(1, 3))):
            ctype = sorted(when)[int(draw.rng.integers(len(when)))]
            sibling = {**when, ctype: [draw.other_value(ctype, when[ctype])]}
            low_part = int(draw.rng.integers(3))  # 0: policy below, 1: RM below, 2: both below
            policy = draw.p(0.4, 0.49) if low_part in (0, 2) else draw.p(0.5, 0.6)
            rm = draw.p(0.4, 0.49) if low_part in (1, 2) else draw.p(0.5, 0.6)
            regions.append(_region(f"miss-{r}-{s}", sibling, policy, rm))
    return {"base": draw.base(), "regions": regions}


def structureless_arena(draw: _Draw) -> Mapping:
    regions: list[Mapping] = []
    for r in range(int(draw.rng.integers(40, 151))):
        regions.append(_region(f"iso-{r}", draw.when(4), draw.p(0.6, 0.95), draw.p(0.6, 0.95)))
    for d in range(int(draw.rng.integers(40, 151))):
        high, low = draw.p(0.6, 0.95), draw.p(0.0, 0.2)
        policy_side = bool(draw.rng.random() < 0.5)
        regions.append(
            _region(
                f"decoy-{d}",
                draw.when(4),
                high if policy_side else low,
                low if policy_side else high,
            )
        )
    return {"base": draw.base(), "regions": regions}


def many_tiny_arena(draw: _Draw) -> Mapping:
    regions: list[Mapping] = []
    for r in range(int(draw.rng.integers(15, 31))):
        when = draw.when(3)
        regions.append(_region(f"tiny-{r}", when, draw.p(0.6, 0.95), draw.p(0.6, 0.95)))
        if draw.rng.random() < 0.5:
            for k, ctype in enumerate(sorted(when)):
                sub = {t: v for t, v in when.items() if t != ctype}
                regions.append(_region(f"weak-{r}-{k}", sub, draw.p(0.1, 0.3), draw.p(0.1, 0.3)))
    return {"base": draw.base(), "regions": regions}


def rm_heavy_arena(draw: _Draw) -> Mapping:
    regions: list[Mapping] = []
    for r in range(int(draw.rng.integers(2, 5))):
        when = draw.when(int(draw.rng.choice([1, 2])))
        regions.append(_region(f"rm-{r}", when, draw.p(0.0, 0.05), draw.p(0.6, 0.95)))
    for r in range(int(draw.rng.integers(3, 7))):
        when = draw.when(int(draw.rng.choice([2, 3])))
        regions.append(_region(f"policy-{r}", when, draw.p(0.6, 0.95), draw.p(0.0, 0.2)))
    for r in range(int(draw.rng.integers(1, 3))):
        regions.append(_region(f"full-{r}", draw.when(3), draw.p(0.6, 0.95), draw.p(0.6, 0.95)))
    return {"base": draw.base((0.0, 0.03), (0.2, 0.45)), "regions": regions}


GENERATORS: dict[str, Callable[[_Draw], Mapping]] = {
    "fourway": fourway_arena,
    "near-threshold": near_threshold_arena,
    "structureless": structureless_arena,
    "many-tiny": many_tiny_arena,
    "rm-heavy": rm_heavy_arena,
}
"""Shape name -> generator."""


def generate_arena_data(
    shape: str, catalog: Catalog, seed: int, *, max_systemic: int = 1000
) -> Mapping:
    """The arena mapping of one shape and seed (redrawn until 1..max_systemic are systemic)."""
    if shape not in GENERATORS:
        raise DataError(f"unknown arena shape {shape!r}; known: {', '.join(GENERATORS)}")
    salt = sorted(GENERATORS).index(shape) + 5501
    draw = _Draw(catalog, seed, salt)
    for _ in range(1000):
        body = GENERATORS[shape](draw)
        data = {"name": f"{shape}-{seed}", "seed": seed, "catalog": BUILTIN, **body}
        systemic = parse_arena(data, data["name"], catalog=catalog).systemic_count
        if 0 < systemic <= max_systemic:
            return data
    raise DataError(f"arena shape {shape!r}, seed {seed}: no draw with 1..{max_systemic} systemic")


def generate_arena(shape: str, catalog: Catalog, seed: int, *, max_systemic: int = 1000) -> Arena:
    """A parsed generated arena (see :func:`generate_arena_data`)."""
    data = generate_arena_data(shape, catalog, seed, max_systemic=max_systemic)
    return parse_arena(data, data["name"], catalog=catalog)


GENERATED_PREFIX = "gen:"


def parse_generated(name: str) -> tuple[str, int] | None:
    """``gen:SHAPE:SEED`` -> ``(shape, seed)``; None for other names (files, shipped arenas)."""
    if not name.startswith(GENERATED_PREFIX):
        return None
    shape, sep, seed = name[len(GENERATED_PREFIX) :].rpartition(":")
    if not sep or not seed.isdigit():
        raise DataError(f"{name}: expected gen:SHAPE:SEED, e.g. gen:fourway:9000")
    return shape, int(seed)


def write_generated(shape: str, catalog: Catalog, seed: int, path: Path) -> Path:
    """Write a generated arena as a YAML file (what the ``sim:`` backends load)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = generate_arena_data(shape, catalog, seed)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path
