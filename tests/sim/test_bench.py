"""The discovery benchmark: fast simulator, adaptive vs uniform, the CLI, the real-loop mode."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from ares_rlhf.cli import main
from ares_rlhf.sim.arena import load_arena, parse_arena, random_arena
from ares_rlhf.sim.bench import run_benchmark, simulate
from ares_rlhf.taxonomy import load_catalog


def test_simulation_is_deterministic_per_seed() -> None:
    arena = load_arena("pairwise")
    a = simulate(arena, "adaptive", 320, seed=3)
    b = simulate(arena, "adaptive", 320, seed=3)
    assert a.coverage == b.coverage and a.probes[-1] == 320
    assert a.probes == list(range(16, 321, 16))
    assert all(x <= y for x, y in zip(a.coverage, a.coverage[1:], strict=False))


@pytest.mark.parametrize("arena_name", ["pairwise", "held-out"])
def test_adaptive_beats_uniform(arena_name: str) -> None:
    if arena_name == "held-out":
        catalog = load_catalog()
        arena = parse_arena(random_arena(catalog, 12345), catalog=catalog)
    else:
        arena = load_arena(arena_name)
    adaptive = run_benchmark(arena, "adaptive", 1000, [0], checkpoints=[1000])
    uniform = run_benchmark(arena, "uniform", 1000, [0], checkpoints=[1000])
    a, u = adaptive.mean_coverage()["1000"], uniform.mean_coverage()["1000"]
    assert a > 3 * u
    assert a > 0.3


def test_bench_cli_json(tmp_path: Path, capsys) -> None:
    code = main(
        [
            "bench", "discovery", "--arena", "threeway", "--strategy", "uniform",
            "--budget", "96", "--seeds", "2", "--checkpoints", "32,64",
            "--out", str(tmp_path), "--json",
        ]
    )  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    payload = json.loads(out[0])
    assert payload["strategy"] == "uniform" and payload["arena"] == "threeway"
    assert payload["systemic_combinations"] == load_arena("threeway").systemic_count
    assert set(payload["mean_coverage"]) == {"32", "64", "96"}
    assert set(payload["per_seed_coverage"]) == {"0", "1"}
    assert Path(payload["csv"]).is_file() and Path(payload["plot"]).is_file()
    rows = Path(payload["csv"]).read_text().splitlines()
    assert rows[0].startswith("arena,strategy,seed,probes,coverage")
    assert len(rows) == 1 + 2 * 6


def test_bench_cli_table_and_errors(tmp_path: Path, capsys) -> None:
    assert main(["bench", "discovery", "--arena", "single", "--budget", "64", "--seeds", "1",
                 "--out", str(tmp_path), "--no-plot"]) == 0  # fmt: skip
    text = capsys.readouterr().out
    assert "probes" in text and "adaptive (single)" in text and "756 systemic" in text
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"name": "bad", "regions": [{"id": "x", "when": {"tactic": "nope"},
                                   "policy_fail": 0.5, "rm_fail": 0.5}]}))  # fmt: skip
    assert main(["bench", "discovery", "--arena", str(bad), "--budget", "16"]) == 2
    assert "unknown tactic id 'nope'" in capsys.readouterr().err
    assert main(["bench", "discovery", "--arena", "no-such-arena", "--budget", "16"]) == 2
    assert main(["bench", "discovery", "--arena", "single", "--strategy", "psychic",
                 "--budget", "16", "--out", str(tmp_path)]) == 2  # fmt: skip
    assert "unknown search strategy" in capsys.readouterr().err


def test_bench_cli_full_loop(tmp_path: Path, capsys) -> None:
    code = main(
        [
            "bench", "discovery", "--arena", "pairwise", "--budget", "64", "--seeds", "1",
            "--full-loop", "--out", str(tmp_path), "--json", "--no-plot",
        ]
    )  # fmt: skip
    assert code == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["mode"] == "full-loop"
    assert payload["probes_per_second"] > 0
    assert 0.0 <= payload["mean_coverage"]["64"] <= 1.0


def test_adaptive_resumes_exactly_in_the_real_loop(tmp_path: Path) -> None:
    """sim: backends + adaptive search: an interrupted-then-resumed run equals an uninterrupted one."""
    from ares_rlhf.config import parse_config
    from ares_rlhf.discovery.loop import run_discovery
    from ares_rlhf.run import Run
    from ares_rlhf.store.sqlite import RunStore

    arena_file = load_arena("threeway").source
    data = {
        "name": "resume",
        "seed": 5,
        "policy": {"spec": f"sim:{arena_file}"},
        "reward_model": {"spec": f"sim:{arena_file}"},
        "budget": {"probes": 160, "batch_size": 16},
    }
    config = parse_config(data)

    def probes(store):
        return [(p.spec, p.failure_type, p.prompt) for p in store.iter_probes("discovery")]

    whole = RunStore.create(tmp_path / "whole", data)
    run_discovery(Run(whole, config))
    parted = RunStore.create(tmp_path / "parted", data)
    run_discovery(Run(parted, config), max_batches=4)
    assert len(probes(parted)) == 64
    parted.close()
    parted = RunStore.open(tmp_path / "parted")
    run_discovery(Run(parted, config))
    assert probes(parted) == probes(whole)
    assert any(t.value == "C" for _, t, _ in probes(whole))


def test_bench_reports_uniform_and_oracle_references(tmp_path: Path, capsys) -> None:
    args = ["bench", "discovery", "--arena", "gen:structureless:1", "--budget", "64",
            "--seeds", "2", "--checkpoints", "32", "--out", str(tmp_path), "--no-plot"]  # fmt: skip
    assert main([*args, "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["arena"] == "structureless-1"
    assert set(payload["reference"]) == {"uniform", "oracle"}
    oracle = payload["reference"]["oracle"]
    assert oracle["64"] > payload["reference"]["uniform"]["64"]
    assert set(payload["ratio_to_oracle"]) == {"32", "64"}
    mine = payload["mean_coverage"]["64"]
    assert payload["ratio_to_oracle"]["64"] == pytest.approx(mine / oracle["64"])
    assert (tmp_path / "arenas" / "structureless-1.yaml").is_file()
    assert main([*args, "--no-reference"]) == 0
    text = capsys.readouterr().out
    assert "/ oracle" not in text and "structureless-1" in text
    assert main(args) == 0
    assert "/ oracle" in capsys.readouterr().out
