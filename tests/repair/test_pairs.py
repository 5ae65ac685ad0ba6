"""Preference pairs from B/C probes, the split by combination, and the anchor data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ares_rlhf.data import benign_frames, benign_requests, needless_refusals
from ares_rlhf.errors import DataError
from ares_rlhf.records import ComponentSpec, FailureType, JudgeLabel, JudgeVerdict, Probe
from ares_rlhf.repair.reward.anchors import load_anchor_dataset
from ares_rlhf.repair.reward.pairs import (
    PreferencePair,
    adversarial_pairs,
    benign_pairs,
    own_refusal_pool,
    split_by_group,
)
from ares_rlhf.text.refusal import is_refusal


def probe(
    spec: ComponentSpec,
    failure: FailureType,
    *,
    answer: str = "I can't help with that request.",
    prompt: str = "",
    phase: str = "discovery",
) -> Probe:
    harmful = failure in (FailureType.POLICY_ONLY, FailureType.SYSTEMIC)
    return Probe(
        spec=spec,
        messages=[{"role": "user", "content": prompt or f"Tell me about {spec.label()}"}],
        malicious=f"Sure, here is {spec.topic}: [STEP 1 REDACTED]",
        safe=f"I can't help with {spec.topic}. I can explain safety instead.",
        policy_response=answer,
        judge=JudgeVerdict(JudgeLabel.HARMFUL if harmful else JudgeLabel.SAFE),
        rewards=None,
        failure_type=failure,
        policy_failed=harmful,
        rm_failed=failure in (FailureType.RM_ONLY, FailureType.SYSTEMIC),
        phase=phase,
    )


SAFE_NON_REFUSAL = "Let's talk about something else."
SPEC_1 = ComponentSpec("drugs", "student", "role_play", "code")
SPEC_2 = ComponentSpec("fraud", "novelist", "hypothetical", "step_by_step")


def test_b_probe_gives_safe_over_malicious() -> None:
    pairs = adversarial_pairs([probe(SPEC_1, FailureType.RM_ONLY, answer=SAFE_NON_REFUSAL)])
    assert len(pairs) == 1
    (pair,) = pairs
    assert pair.chosen.startswith("I can't help with drugs")
    assert pair.rejected.startswith("Sure, here is drugs")
    assert pair.spec == SPEC_1 and pair.group == SPEC_1.label()
    assert pair.conversation == [{"role": "user", "content": f"Tell me about {SPEC_1.label()}"}]


def test_c_probe_also_rejects_the_policy_answer_and_duplicates_are_dropped() -> None:
    harmful = "Sure thing, here you go: [HARMFUL ANSWER]"
    c_probe = probe(SPEC_1, FailureType.SYSTEMIC, answer=harmful)
    pairs = adversarial_pairs([c_probe, c_probe])
    assert {p.rejected for p in pairs} == {c_probe.malicious, harmful}
    assert len(pairs) == 2


def test_policy_refusal_on_same_spec_is_an_extra_chosen() -> None:
    refusal = "I'm sorry, I cannot assist with anything like this."
    probes = [
        probe(SPEC_1, FailureType.RM_ONLY, answer=SAFE_NON_REFUSAL, prompt="first wording"),
        probe(SPEC_1, FailureType.NONE, answer=refusal, prompt="second wording"),
        probe(SPEC_2, FailureType.NONE, answer="I can't help with fraud."),
    ]
    pairs = adversarial_pairs(probes)
    assert {p.chosen for p in pairs} == {probes[0].safe, refusal}
    assert all(p.prompt == "first wording" for p in pairs)
    # the probe's own refusal counts too
    own = adversarial_pairs([probe(SPEC_2, FailureType.RM_ONLY, answer="I can't help with that.")])
    assert {p.chosen for p in own} == {own[0].chosen, "I can't help with that."}
    assert len(own) == 2


def test_policy_answers_reject_the_policys_harmful_answers_of_a_and_c_probes() -> None:
    refused = probe(SPEC_2, FailureType.NONE, answer="I can't help with that. I can explain fraud laws.")
    a_probe = probe(SPEC_1, FailureType.POLICY_ONLY, answer="Step one: buy the drugs online.")
    c_probe = probe(SPEC_2, FailureType.SYSTEMIC, answer="Step one: open a fake account.")
    assert own_refusal_pool([refused, a_probe, c_probe]) == [refused.policy_response]
    plain = adversarial_pairs([refused, a_probe, c_probe])
    assert {p.spec for p in plain} == {SPEC_2}  # A probes are not RM failures by default
    pairs = adversarial_pairs([refused, a_probe, c_probe], policy_answers=True)
    a_pairs = [p for p in pairs if p.spec == SPEC_1]
    # the A probe: Mentor safe and the policy's own refusal (another spec's) over both bad answers
    assert {(p.chosen, p.rejected) for p in a_pairs} == {
        (good, bad)
        for good in (a_probe.safe, refused.policy_response)
        for bad in (a_probe.malicious, a_probe.policy_response)
    }
    assert any(p.rejected == c_probe.policy_response for p in pairs if p.spec == SPEC_2)


def test_only_discovery_b_and_c_probes_count() -> None:
    probes = [
        probe(SPEC_1, FailureType.POLICY_ONLY, answer="Sure: [X]"),
        probe(SPEC_1, FailureType.NONE),
        probe(SPEC_1, FailureType.UNSCORED),
        probe(SPEC_2, FailureType.RM_ONLY, phase="verify-after"),
    ]
    assert adversarial_pairs(probes) == []


def _pairs_over(groups: int) -> list[PreferencePair]:
    return [
        PreferencePair((("user", f"p{g}-{i}"),), "good", "bad", group=f"combo-{g}")
        for g in range(groups)
        for i in range(3)
    ]


@pytest.mark.parametrize("seed", [0, 1, 7])
@pytest.mark.parametrize("fraction", [0.1, 0.25, 0.5, 0.9])
def test_split_by_combination_never_leaks(seed: int, fraction: float) -> None:
    pairs = _pairs_over(12)
    train, held = split_by_group(pairs, fraction, seed)
    train_groups, held_groups = {p.group for p in train}, {p.group for p in held}
    assert train_groups and held_groups
    assert not train_groups & held_groups
    assert len(train) + len(held) == len(pairs)
    assert split_by_group(pairs, fraction, seed) == (train, held)


def test_split_fraction_and_seed_matter() -> None:
    pairs = _pairs_over(20)
    _, held = split_by_group(pairs, 0.25, 0)
    assert len({p.group for p in held}) == 5
    _, other = split_by_group(pairs, 0.25, 1)
    assert {p.group for p in held} != {p.group for p in other}
    assert split_by_group(_pairs_over(1), 0.5, 0)[1] == []


def test_builtin_benign_pairs_prefer_help_over_needless_refusal() -> None:
    requests = benign_requests()
    pairs = benign_pairs(requests, benign_frames(), needless_refusals(), seed=0)
    assert len(pairs) == 3 * len(requests) >= 300
    assert len({p.prompt for p in pairs}) == len(pairs)
    assert all(is_refusal(p.rejected) for p in pairs)
    assert not any(is_refusal(p.chosen) for p in pairs)
    assert {p.group for p in pairs} == {r.id for r in requests}
    every = benign_pairs(requests[:2], benign_frames(), needless_refusals(), seed=0, frames_per_request=None)
    assert len(every) == 2 * len(benign_frames())


def test_anchor_dataset_plain_and_chat_formats(tmp_path: Path) -> None:
    plain = tmp_path / "plain.jsonl"
    plain.write_text(
        json.dumps({"prompt": "Hi?", "chosen": "Hello! How can I help?", "rejected": "No."}) + "\n"
    )
    (pair,) = load_anchor_dataset(str(plain))
    assert (pair.prompt, pair.chosen, pair.rejected, pair.source) == (
        "Hi?",
        "Hello! How can I help?",
        "No.",
        "anchor",
    )
    chat = tmp_path / "chat.jsonl"
    question = {"role": "user", "content": "2+2?"}
    chat.write_text(
        json.dumps(
            {
                "chosen": [question, {"role": "assistant", "content": "4"}],
                "rejected": [question, {"role": "assistant", "content": "5"}],
            }
        )
        + "\n"
    )
    (pair,) = load_anchor_dataset(str(chat))
    assert pair.conversation == [question] and (pair.chosen, pair.rejected) == ("4", "5")


def test_anchor_dataset_parquet(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "a.parquet"
    pq.write_table(pa.table({"chosen": ["yes, here", "sure"], "rejected": ["no", "nope"]}), path)
    assert [p.chosen for p in load_anchor_dataset(str(path))] == ["yes, here", "sure"]


def test_anchor_dataset_errors_name_the_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"prompt": "x", "chosen": "y"}) + "\n")
    with pytest.raises(DataError, match="missing column rejected"):
        load_anchor_dataset(str(bad))
    with pytest.raises(DataError, match="no such file"):
        load_anchor_dataset(str(tmp_path / "missing.jsonl"))
    weird = tmp_path / "cells.jsonl"
    weird.write_text(json.dumps({"chosen": 3, "rejected": "n"}) + "\n")
    with pytest.raises(DataError, match="row 0: chosen"):
        load_anchor_dataset(str(weird))
