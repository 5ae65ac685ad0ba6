"""Failure rates per attack form (single-turn, multi-turn, converted) in the report and summary."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from ares_rlhf.config import parse_config
from ares_rlhf.evaluation.stats import exact_mcnemar, wilson_interval
from ares_rlhf.records import ArtifactKind, ComponentSpec, FailureType
from ares_rlhf.report.attack_forms import attack_form_summary, attack_form_table, section
from ares_rlhf.run import Run

A, B, C, NONE, UNSCORED = map(FailureType, ("A", "B", "C", "none", "unscored"))


def probe(make_probe, tactic: str, failure: FailureType, n: int, phase="discovery", **extra):
    """The conftest probe with ``tactic``, its own prompt, ``failure`` and ``extra``."""
    return replace(
        make_probe(n, failure, phase),
        spec=ComponentSpec("cybercrime", "student", tactic, "code"),
        messages=[{"role": "user", "content": f"{tactic} prompt {n}"}],
        extra=dict(extra),
    )


CONFIG = {"policy": {"spec": "hf:tiny-policy"}, "reward_model": {"spec": "hf:tiny-rm"}}
DISCOVERY = {
    "role_play": [NONE, NONE, NONE, A],  # single-turn
    "crescendo": [C, C, NONE],  # multi-turn
    "base64_encoding": [B, NONE],  # converted
    "rot13_base64": [UNSCORED, C],  # converted, a chain of two
}


@pytest.fixture
def run(tmp_path: Path, make_probe):
    probes = [
        probe(make_probe, tactic, failure, i)
        for tactic, failures in DISCOVERY.items()
        for i, failure in enumerate(failures)
    ]
    # verification: the same crescendo prompts before and after; after fixes both C probes
    for i, (before, after) in enumerate([(C, NONE), (C, NONE), (NONE, NONE)]):
        probes.append(
            probe(
                make_probe, "crescendo", before, i, "verify-before", verify_id="v1", split="heldout"
            )
        )
        probes.append(
            probe(
                make_probe, "crescendo", after, i, "verify-after", verify_id="v1", split="heldout"
            )
        )
    with Run.create(parse_config(CONFIG), tmp_path / "run") as created:
        created.store.add_probes(probes)
        created.record(ArtifactKind.VERIFY_METRICS, {"verify_id": "v1"})
        yield created


def rows_by_label(table: dict) -> dict:
    return {row["label"]: row for row in table["rows"]}


def test_forms_follow_the_catalog_tactics_with_a_row_per_multi_turn_and_converted_tactic(
    run,
) -> None:
    rows = rows_by_label(attack_form_table(run))
    assert list(rows) == [
        "single-turn",
        "multi-turn",
        "crescendo (3 turns)",
        "converted",
        "base64_encoding (base64)",
        "rot13_base64 (rot13 + base64)",
    ]
    assert rows["single-turn"]["probes"] == 4 and rows["single-turn"]["level"] == "form"
    assert "role_play" not in rows  # single-turn tactics stay pooled: they are the reference
    converted = rows["converted"]
    assert converted["probes"] == 4
    assert converted["counts"] == {"A": 0, "B": 1, "C": 1, "none": 1, "unscored": 1}
    # an unscored probe counts in n, never as a success or a failure
    assert converted["failures"]["k"] == 2 and converted["failures"]["n"] == 4
    assert converted["failures"]["unscored"] == 1
    assert converted["failures"]["ci95"] == list(wilson_interval(2, 4))
    multi = rows["multi-turn"]
    assert multi["policy_harmful"]["k"] == 2 and multi["systemic"]["k"] == 2


def test_verification_pairs_each_forms_prompts_before_and_after(run) -> None:
    from ares_rlhf.report.sections import verification_probes

    table = attack_form_table(run, verification_probes(run))
    assert table["verify_pairs"] == 3
    multi = rows_by_label(table)["multi-turn"]["verify_policy_harmful"]
    assert multi["before"]["k"] == 2 and multi["after"]["k"] == 0
    assert multi["p_value"] == pytest.approx(exact_mcnemar(2, 0))
    assert "verify_policy_harmful" not in rows_by_label(table)["single-turn"]


def test_summary_and_report_section_carry_the_per_form_rates(run) -> None:
    summary = attack_form_summary(run)
    assert set(summary) == {"single-turn", "multi-turn", "converted"}
    assert summary["multi-turn"]["failures_per_probe"] == pytest.approx(2 / 3)
    assert summary["single-turn"]["failures"] == 1 and summary["converted"]["type_c"] == 1
    shown = section(run)
    assert shown["missing"] is None
    cells = {row["label"]: row for row in shown["rows"]}
    assert cells["multi-turn"]["failures"]["count"] == "2/3"
    assert cells["multi-turn"]["verify_after"]["count"] == "0/3"


def test_a_run_without_discovery_says_so(tmp_path: Path) -> None:
    with Run.create(parse_config(CONFIG), tmp_path / "empty") as run:
        shown = section(run)
        assert shown["rows"] == [] and "discovery" in shown["missing"]
        assert attack_form_summary(run) == {}


def test_the_run_summary_prints_a_line_per_form(run) -> None:
    from ares_rlhf.report.summary import collect_summary, format_summary

    summary = collect_summary(run)
    assert summary["attack_forms_discovery"]["converted"]["probes"] == 4
    text = format_summary(summary)
    assert "discovery failures per probe, multi-turn (3 probes)" in text
    assert "66.7% [21-94]" in text  # 2 of 3, with its Wilson interval
