"""``benchmarks/system_eval.py``: per-seed overrides and pooled capability figures."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def system_eval(import_benchmark):
    return import_benchmark("system_eval")


def test_overrides_reach_every_seed_config(system_eval) -> None:
    args = system_eval.parse_args(
        [
            "--seeds",
            "3",
            "--vary-samples",
            "--set",
            "repair_policy.recombine=1",
            "--set",
            "repair_policy.framed_benign=0.25",
            "--capability-limit",
            "7",
        ]
    )
    config = system_eval.seed_config(args, 3)
    assert config.repair_policy.recombine == 1
    assert config.repair_policy.framed_benign == 0.25
    assert config.evaluate.sample_seed == 3 and config.evaluate.capability_limit == 7
    assert config.seed == 3


def test_an_override_without_a_value_is_refused(system_eval) -> None:
    with pytest.raises(SystemExit, match="SECTION.KEY=VALUE"):
        system_eval.apply_overrides({}, ["repair_policy.recombine"])


def _store(
    folder: Path, before: list[int], after: list[int], ids: list[str], *, flip=False
) -> dict:
    folder.mkdir()
    state = {
        system: {"arc_easy": {"item_ids": ids, "correct": [bool(v) for v in values]}}
        for system, values in (("before", before), ("after", after))
    }
    if flip:  # the after-run lists its items in another order
        after_result = state["after"]["arc_easy"]
        after_result["item_ids"] = after_result["item_ids"][::-1]
        after_result["correct"] = after_result["correct"][::-1]
    with sqlite3.connect(folder / "ares.db") as db:
        db.execute("CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT, updated REAL)")
        db.execute("INSERT INTO state VALUES ('evaluate.capability', ?, 0)", (json.dumps(state),))
    return {"run_dir": str(folder)}


def test_capability_is_pooled_item_by_item_over_seeds(system_eval, tmp_path: Path) -> None:
    seeds = [
        _store(tmp_path / "s0", [1, 1, 0, 0], [1, 0, 0, 0], ["a", "b", "c", "d"]),
        _store(tmp_path / "s1", [1, 0, 1, 1], [1, 0, 1, 1], ["e", "f", "g", "h"], flip=True),
    ]
    pooled = system_eval.pool_capability(seeds)["arc_easy"]
    assert pooled["n"] == 8
    assert pooled["before"] == pytest.approx(5 / 8) and pooled["after"] == pytest.approx(4 / 8)
    assert pooled["change_points"] == pytest.approx(-12.5)
    low, high = pooled["change_ci95"]
    assert low <= -12.5 <= high
    assert pooled["discordant"] == {"b": 1, "c": 0}  # only item b changed (right -> wrong)
    assert pooled["p_value"] == pytest.approx(1.0)


def test_paired_held_out_benign_refusal_is_pooled_over_seeds(system_eval) -> None:
    def seed(b: int, c: int, n: int = 30) -> dict:
        side = {"n": n, "k": 0, "unscored": 0}
        benign = {"before": {**side, "k": b}, "after": {**side, "k": c}, "discordant": {"b": b, "c": c}}
        return {"eval": {"heldout": {"benign_refusal": benign}}}

    pooled = system_eval.pool([seed(1, 4), seed(0, 3)])["heldout_benign_refusal"]
    assert pooled["before"]["n"] == pooled["after"]["n"] == 60
    assert pooled["discordant"] == {"b": 1, "c": 7}
    assert pooled["p_value"] == pytest.approx(0.0703125)
    # an older run's unpaired rates (no per-prompt outcomes) are not pooled as if paired
    unpaired = {"eval": {"heldout": {"benign_refusal": {"before": {"n": 30, "k": 1}, "after": None}}}}
    assert "heldout_benign_refusal" not in system_eval.pool([unpaired])
