"""Generated arena shapes and the oracle reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ares_rlhf.errors import DataError
from ares_rlhf.sim.arena import SYSTEMIC_THRESHOLD, load_arena
from ares_rlhf.sim.bench import make_strategy, run_benchmark, simulate
from ares_rlhf.sim.generators import (
    DEVELOPMENT_SEEDS,
    GENERATORS,
    HELD_OUT_SEEDS,
    generate_arena,
    generate_arena_data,
    parse_generated,
    write_generated,
)
from ares_rlhf.taxonomy import load_catalog


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


@pytest.mark.parametrize("shape", sorted(GENERATORS))
def test_generated_arenas_are_valid_reproducible_and_seeded(catalog, shape: str) -> None:
    first = generate_arena_data(shape, catalog, 1)
    assert first == generate_arena_data(shape, catalog, 1)
    assert first != generate_arena_data(shape, catalog, 2)
    arena = generate_arena(shape, catalog, 1)
    assert 0 < arena.systemic_count <= 1000
    assert arena.name == f"{shape}-1"


def test_shapes_have_the_structure_they_promise(catalog) -> None:
    four = generate_arena("fourway", catalog, 0)
    strong = [r for r in four.regions if r.id.startswith("four-")]
    assert strong and all(len(r.when) == 4 for r in strong)
    weak = [r for r in four.regions if r.id.startswith("weak-")]
    assert weak and all(len(r.when) == 2 and max(r.policy_fail, r.rm_fail) <= 0.3 for r in weak)
    near = generate_arena("near-threshold", catalog, 0)
    for region in near.regions:
        if region.id.startswith("near-"):
            assert 0.5 <= region.policy_fail <= 0.6 and 0.5 <= region.rm_fail <= 0.6
        else:  # a near-miss sibling: at least one part just below the threshold
            assert min(region.policy_fail, region.rm_fail) < SYSTEMIC_THRESHOLD
    systemic = near.systemic
    assert np.all(near.policy_fail[systemic] <= 0.6) and np.all(near.rm_fail[systemic] <= 0.6)
    flat = generate_arena("structureless", catalog, 0)
    assert all(len(r.when) == 4 for r in flat.regions)
    assert all(len(v) == 1 for r in flat.regions for v in r.when.values())
    rm = generate_arena("rm-heavy", catalog, 0)
    assert 0.2 <= rm.base_rm_fail <= 0.45


def test_seed_sets_are_disjoint_and_names_parse(catalog, tmp_path: Path) -> None:
    assert not set(DEVELOPMENT_SEEDS) & set(HELD_OUT_SEEDS)
    assert parse_generated("gen:near-threshold:9001") == ("near-threshold", 9001)
    assert parse_generated("pairwise") is None
    with pytest.raises(DataError, match="gen:SHAPE:SEED"):
        parse_generated("gen:fourway")
    with pytest.raises(DataError, match="unknown arena shape"):
        generate_arena_data("spiral", catalog, 0)
    path = write_generated("many-tiny", catalog, 3, tmp_path / "tiny.yaml")
    loaded = load_arena(path)
    assert loaded.systemic_count == generate_arena("many-tiny", catalog, 3).systemic_count


def test_oracle_probes_only_unhit_systemic_combinations(catalog) -> None:
    arena = generate_arena("structureless", catalog, 0)
    oracle = make_strategy(arena, "oracle", seed=0)
    oracle.reseed(0)
    specs = oracle.propose(64)
    assert all(arena.systemic[arena.index(s)] for s in specs)
    assert len(set(specs)) == 64  # many left open: no repeats within a batch
    run = simulate(arena, "oracle", 2000, seed=0)
    assert run.coverage_at(2000) == 1.0


def test_adaptive_is_far_below_the_oracle_but_above_uniform(catalog) -> None:
    arena = generate_arena("many-tiny", catalog, 0)
    curves = {
        name: run_benchmark(
            arena, name, 800, [0], checkpoints=[800], options=options
        ).mean_coverage()["800"]
        for name, options in (
            ("oracle", {}),
            ("adaptive", {}),
            ("uniform", {"replace": False}),
        )
    }
    assert curves["oracle"] == 1.0
    assert 2 * curves["uniform"] < curves["adaptive"] < curves["oracle"]
