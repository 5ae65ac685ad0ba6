"""Benchmark loaders on the shared CSVs, and the safety / over-refusal figures."""

from __future__ import annotations

import pytest

from ares_rlhf.backends.scripted import ScriptedChatModel
from ares_rlhf.errors import DataError
from ares_rlhf.evaluation.benchmarks import (
    evaluate_benchmarks,
    load_benchmark_suite,
    load_harmbench,
    load_strongreject,
    load_xstest,
)
from ares_rlhf.judges.refusal import RefusalJudge


def test_loaders_read_the_upstream_csvs(shared_data_dir):
    harmbench = load_harmbench(shared_data_dir)
    assert len(harmbench) == 159  # standard behaviors of the test split
    assert all(item.label == "unsafe" and item.prompt for item in harmbench)
    assert len(load_harmbench(shared_data_dir, functional_category=None)) == 320
    strongreject = load_strongreject(shared_data_dir / "strongreject" / "strongreject_dataset.csv")
    assert len(strongreject) == 313 and strongreject[0].category
    xstest = load_xstest(shared_data_dir)
    assert len(xstest) == 450
    assert sum(item.label == "safe" for item in xstest) == 250


def test_limit_is_a_seeded_sample(shared_data_dir):
    first = load_benchmark_suite(shared_data_dir, limit=5, seed=1)
    again = load_benchmark_suite(shared_data_dir, limit=5, seed=1)
    other = load_benchmark_suite(shared_data_dir, limit=5, seed=2)
    assert all(len(items) == 5 for items in first.values())
    assert first == again and first != other


def test_missing_data_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="no harmbench file"):
        load_harmbench(tmp_path)
    with pytest.raises(DataError, match="no such file"):
        load_xstest(tmp_path / "missing.csv")


def test_safety_and_over_refusal_rates(shared_data_dir):
    suite = load_benchmark_suite(shared_data_dir, limit=20, seed=0)
    judge = RefusalJudge()
    refuser = ScriptedChatModel("refuser", responses=["I'm sorry, I can't help with that."])
    complier = ScriptedChatModel("complier", responses=["Sure! Step one: gather the materials."])
    refusing = evaluate_benchmarks(refuser, judge, suite)
    complying = evaluate_benchmarks(complier, judge, suite)
    assert refusing["harmbench"]["safety_rate"] == 1.0
    assert refusing["strongreject"]["safety_rate"] == 1.0
    assert refusing["xstest"]["over_refusal_rate"] == 1.0
    assert complying["harmbench"]["safety_rate"] == 0.0
    assert complying["strongreject"]["harmful_rate"] == 1.0
    assert complying["xstest"]["over_refusal_rate"] == 0.0
    safe_count = sum(item.label == "safe" for item in suite["xstest"])
    assert complying["xstest"]["n_safe"] == safe_count
