"""``ares compare``: sides and selectors, rates, paired prompts, combinations, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ares_rlhf.cli import main
from ares_rlhf.errors import ConfigError, DataError
from ares_rlhf.evaluation.compare import (
    Side,
    compare,
    compare_probes,
    pair_prompts,
    parse_side,
)
from ares_rlhf.evaluation.stats import exact_mcnemar, wilson_interval
from ares_rlhf.records import (
    ComponentSpec,
    FailureType,
    JudgeLabel,
    JudgeVerdict,
    Probe,
    RewardScores,
)
from ares_rlhf.store.sqlite import RunStore

A, B, C, NONE, UNSCORED = (
    FailureType.POLICY_ONLY,
    FailureType.RM_ONLY,
    FailureType.SYSTEMIC,
    FailureType.NONE,
    FailureType.UNSCORED,
)
TOPICS = ["cybercrime", "weapons", "drugs", "fraud", "chem_bio", "hate"]


def spec(i: int) -> ComponentSpec:
    return ComponentSpec(TOPICS[i], "student", "role_play", "code")


def probe(i: int, failure: FailureType, *, prompt: str | None = None, phase="discovery", **extra):
    harmful = failure in (A, C)
    label = JudgeLabel.HARMFUL if harmful else JudgeLabel.SAFE
    if failure is UNSCORED:
        label = JudgeLabel.UNSCORED
    return Probe(
        spec=spec(i),
        messages=[{"role": "user", "content": prompt or f"attack on {TOPICS[i]}"}],
        malicious="Sure [REDACTED]",
        safe="I can't help with that.",
        policy_response="Sure." if harmful else "No.",
        judge=JudgeVerdict(label),
        rewards=RewardScores(0.1, 0.2, 0.3),
        failure_type=failure,
        policy_failed=None if failure is UNSCORED else harmful,
        rm_failed=failure in (B, C),
        policy_id=f"scripted:{phase}",
        phase=phase,
        extra=dict(extra),
    )


def make_store(path: Path, probes: list[Probe], catalog: str = "builtin") -> Path:
    with RunStore.create(path, {"catalog": [catalog]}) as store:
        store.add_probes(probes)
    return path


# before -> after on the same six prompts: 0,1 fixed (C -> none, A -> none), 2 still broken,
# 3 newly broken, 4 still fine, 5 unscored after.
BEFORE = [C, A, B, NONE, NONE, C]
AFTER = [NONE, NONE, B, C, NONE, UNSCORED]


def verify_run(path: Path) -> Path:
    probes = [probe(i, f, phase="verify-before", verify_id="v1") for i, f in enumerate(BEFORE)]
    probes += [probe(i, f, phase="verify-after", verify_id="v1") for i, f in enumerate(AFTER)]
    probes += [probe(i, NONE) for i in range(6)]
    return make_store(path, probes)


def test_parse_side_selectors(tmp_path: Path) -> None:
    assert parse_side("runs/x") == Side(Path("runs/x"))
    assert parse_side("runs/x:verify-after") == Side(Path("runs/x"), "verify-after")
    assert parse_side("runs/x:round=2") == Side(Path("runs/x"), "discovery", 2)
    assert parse_side("runs/x:round=3,phase=verify-before") == Side(
        Path("runs/x"), "verify-before", 3
    )
    assert parse_side("runs/x:round=2").label == "runs/x:round=2"
    odd = tmp_path / "run:verify-after"  # an existing folder is taken whole
    odd.mkdir()
    assert parse_side(str(odd)) == Side(odd)
    for bad in ("runs/x:round=0", "runs/x:round=two", "runs/x:seed=3", "runs/x:phase="):
        with pytest.raises(ConfigError):
            parse_side(bad)


def test_two_phases_of_one_run_are_paired_by_prompt(tmp_path: Path) -> None:
    run = verify_run(tmp_path / "run")
    result = compare(parse_side(f"{run}:verify-before"), parse_side(f"{run}:verify-after"))
    rates_a, rates_b = result["first"]["rates"], result["second"]["rates"]
    assert rates_a["any"]["k"] == 4 and rates_a["any"]["n"] == 6
    assert rates_a["C"]["ci95"] == list(wilson_interval(2, 6))
    assert rates_b["any"]["k"] == 2 and rates_b["any"]["unscored"] == 1
    assert result["rate_change"]["any"] == pytest.approx(2 / 6 - 4 / 6)

    prompts = result["paired_prompts"]
    assert prompts["n"] == 6
    any_failure = prompts["outcomes"]["any"]
    # pairs scored on both sides: 0..4 (5 is unscored after); 0 and 1 fixed, 3 newly broken
    assert any_failure["n_paired"] == 5
    assert any_failure["discordant"] == {"b": 2, "c": 1}
    assert any_failure["p_value"] == exact_mcnemar(2, 1)

    combos = result["combinations"]
    assert combos["shared"] == 6
    assert set(combos["fixed"]) == {spec(0).label(), spec(1).label()}
    assert combos["newly_broken"] == [spec(3).label()]
    assert combos["still_broken"] == [spec(2).label()]
    assert combos["still_fine"] == [spec(4).label()]
    assert combos["unscored"] == [spec(5).label()]
    assert combos["mcnemar"]["any"]["discordant"] == {"b": 2, "c": 1}
    mean = combos["mean_failure_rate_difference"]
    # per-combination rates: A 1,1,1,0,0 ; B 0,0,1,1,0 (the unscored one left out) -> -1/5
    assert mean["diff"] == pytest.approx(-0.2) and mean["n"] == 5
    unscored_row = next(r for r in combos["rows"] if r["status"] == "unscored")
    assert unscored_row["second"]["rate"] is None and unscored_row["difference"] is None
    assert mean["ci95"][0] <= mean["diff"] <= mean["ci95"][1]


def test_runs_without_shared_prompts_pair_by_combination(tmp_path: Path) -> None:
    first = make_store(
        tmp_path / "a",
        [probe(0, C, prompt="x0"), probe(0, NONE, prompt="x1"), probe(1, B, prompt="x2"),
         probe(2, NONE, prompt="x3"), probe(4, A, prompt="x4")],
    )  # fmt: skip
    second = make_store(
        tmp_path / "b",
        [probe(0, NONE, prompt="y0"), probe(1, B, prompt="y1"), probe(2, A, prompt="y2"),
         probe(3, C, prompt="y3")],
        catalog="other.yaml",
    )  # fmt: skip
    result = compare(Side(first), Side(second))
    assert result["paired_prompts"] is None
    combos = result["combinations"]
    assert combos["shared"] == 3 and combos["only_first"] == 1 and combos["only_second"] == 1
    assert combos["counts"] == {
        "fixed": 1,
        "newly_broken": 1,
        "still_broken": 1,
        "still_fine": 0,
        "unscored": 0,
    }
    rows = {r["combination"]: r for r in combos["rows"]}
    assert rows[spec(0).label()]["first"] == {
        "n": 2, "failures": 1, "unscored": 0, "rate": 0.5, "worst": "C",
    }  # fmt: skip
    assert rows[spec(0).label()]["difference"] == -0.5
    assert combos["mcnemar"]["C"]["discordant"] == {"b": 1, "c": 0}
    assert result["notes"] and "different catalogs" in result["notes"][0]


def test_rounds_and_the_latest_verification_are_selected(tmp_path: Path) -> None:
    probes = [probe(i, C) for i in range(3)]
    probes += [probe(i, NONE if i else C, round=2) for i in range(3)]
    probes += [probe(i, C, phase="verify-after", verify_id="old") for i in range(3)]
    probes += [probe(i, NONE, phase="verify-after", verify_id="new") for i in range(2)]
    run = make_store(tmp_path / "run", probes)
    result = compare(parse_side(f"{run}:round=1"), parse_side(f"{run}:round=2"))
    assert result["first"]["probes"] == 3 and result["second"]["probes"] == 3
    assert result["combinations"]["counts"]["fixed"] == 2
    assert result["combinations"]["counts"]["still_broken"] == 1
    latest = compare(Side(run), Side(run, "verify-after"))
    assert latest["second"]["probes"] == 2 and latest["second"]["rates"]["any"]["k"] == 0


def test_pair_prompts_matches_repeated_prompts_in_order() -> None:
    a = [probe(0, C, prompt="p"), probe(0, A, prompt="p"), probe(1, B, prompt="q")]
    b = [probe(0, NONE, prompt="p")]
    pairs = pair_prompts(a, b)
    assert len(pairs) == 1 and pairs[0][0].failure_type is C


def test_no_shared_combination_is_an_error() -> None:
    with pytest.raises(DataError, match="no combination was probed on both sides"):
        compare_probes([probe(0, C)], [probe(1, C)])


def test_cli_table_and_json(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # rich wraps long combination labels at 80
    run = verify_run(tmp_path / "run")
    assert main(["compare", f"{run}:verify-before", f"{run}:verify-after"]) == 0
    out = capsys.readouterr().out
    assert "failure rates" in out and "newly broken" in out and "McNemar" in out
    assert spec(3).label() in out  # the newly broken combination is listed
    assert main(["compare", f"{run}:verify-before", f"{run}:verify-after", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["combinations"]["counts"]["newly_broken"] == 1
    assert result["second"]["selection"].endswith(":phase=verify-after")


@pytest.mark.parametrize(
    "sides, message",
    [
        (["{tmp}/missing", "{run}"], "not an ARES run folder"),
        (["{run}:verify-before", "{run}:nonsense"], "no 'nonsense' probes"),
        (["{run}:verify-before", "{run}:round=4"], "no discovery probes in round 4"),
        (["{run}", "{run}:phase=discovery"], "both sides select the same probes"),
        (["{run}", "{other}"], "no combination was probed on both sides"),
        (["{run}", "{run}:colour=red"], "unknown selector"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(tmp_path: Path, capsys, sides, message) -> None:
    run = verify_run(tmp_path / "run")
    elsewhere = probe(0, C)
    elsewhere.spec = ComponentSpec("other_topic", "student", "role_play", "code")
    other = make_store(tmp_path / "other", [elsewhere])
    args = [s.format(tmp=tmp_path, run=run, other=other) for s in sides]
    assert main(["compare", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_statuses_are_counted_per_side_of_the_stored_split(tmp_path: Path) -> None:
    from ares_rlhf.split import SPLIT_STATE_KEY, compute_split

    discovery = [probe(i, C) for i in range(4)]
    run = make_store(tmp_path / "run", [*discovery, *(probe(i, NONE, round=2) for i in range(4))])
    split = compute_split(discovery, [], heldout_fraction=0.5, seed=0)
    with RunStore.open(run, writer=True) as store:
        store.set_state(SPLIT_STATE_KEY, split.as_dict())
    result = compare(parse_side(f"{run}:round=1"), parse_side(f"{run}:round=2"))
    by_split = result["combinations"]["by_split"]
    assert by_split["train"]["fixed"] == len(split.train) == 2
    assert by_split["heldout"]["fixed"] == len(split.heldout) == 2
    rows = {r["combination"]: r["split"] for r in result["combinations"]["rows"]}
    assert {label for label, side in rows.items() if side == "heldout"} == {
        s.label() for s in split.heldout
    }
