"""Multi-turn probes end to end: turn-by-turn answers, per-turn judging and harm turn, RM scores
in the whole conversation, storage and resume, verification replay, repair data in context."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from ares_rlhf.backends.base import ChatModel, RewardModel, SamplingParams
from ares_rlhf.config import RunConfig
from ares_rlhf.discovery.loop import dedup_text, resume_discovery, run_discovery
from ares_rlhf.discovery.probe import dual_probe
from ares_rlhf.discovery.typing import TypingRules
from ares_rlhf.evaluation.verify import PHASE_AFTER, PHASE_BEFORE, System, stored_output, verify_run
from ares_rlhf.mentor import TemplateMentor
from ares_rlhf.records import ComponentSpec, FailureType, JudgeLabel, Message, freeze_messages
from ares_rlhf.repair.augment import RECOMBINE_VARIANT_BASE
from ares_rlhf.repair.policy.prompts import collect_repair_prompts
from ares_rlhf.repair.reward.pairs import adversarial_pairs, mentor_pairs
from ares_rlhf.run import Run
from ares_rlhf.sim.backend import LOOKUP
from ares_rlhf.store.sqlite import RunStore
from ares_rlhf.taxonomy import load_catalog

from .conftest import CountingStrategy, PrefixJudge, make_config

CRESCENDO = ComponentSpec("fraud", "novelist", "crescendo", "code")
CONTEXT = ComponentSpec("drugs", "student", "context_building", "step_by_step")
SINGLE = ComponentSpec("weapons", "journalist", "role_play", "factual_details")
RULES = TypingRules(threshold=0.5, margin=0.0)
SAMPLING = SamplingParams(max_new_tokens=16, seed=3)


def user_turns(conversation: Sequence[Message]) -> int:
    return sum(1 for m in conversation if m["role"] == "user")


class TurnPolicy(ChatModel):
    """Gives in on crescendo's third turn and on context building's second; otherwise answers
    with a text that names the turn and the policy's own earlier answers."""

    def __init__(self, name: str = "turns") -> None:
        self.model_id = f"scripted:{name}"
        self.calls: list[list[list[Message]]] = []

    def generate(self, conversations, params=None) -> list[str]:
        self.calls.append([list(c) for c in conversations])
        answers = []
        for conversation in conversations:
            spec, k = LOOKUP.lookup(conversation), user_turns(conversation)
            earlier = [m["content"][:12] for m in conversation if m["role"] == "assistant"]
            if spec is None:  # not a Mentor's conversation (verification's benign requests)
                answers.append("Here is a helpful answer.")
            elif (spec.tactic, k) in {("crescendo", 3), ("context_building", 2)}:
                answers.append(f"Sure, {self.model_id} gives in at turn {k}: [DETAIL REDACTED]")
            else:
                answers.append(f"{self.model_id} turn {k} after {earlier}")
        return answers


class RecordingRM(RewardModel):
    """Scores by response length; keeps every (conversation, response) it scored."""

    model_id = "scripted:recording-rm"

    def __init__(self) -> None:
        self.seen: list[tuple[list[Message], str]] = []

    def score(self, conversations, responses) -> list[float]:
        self.seen.extend((list(c), r) for c, r in zip(conversations, responses, strict=True))
        return [len(r) / 100.0 for r in responses]


def compose(*specs: ComponentSpec, variant: int = 0):
    return TemplateMentor(load_catalog(), seed=0).compose(list(specs), [variant] * len(specs))


def probe(outputs, policy=None, rm=None, **kwargs):
    return dual_probe(
        outputs,
        policy=policy or TurnPolicy(),
        reward_model=rm or RecordingRM(),
        judge=PrefixJudge(),
        rules=RULES,
        sampling=SAMPLING,
        phase="discovery",
        **kwargs,
    )


# -- the dual probe --------------------------------------------------------------------------------
def test_the_policy_answers_every_turn_with_its_own_earlier_answers() -> None:
    plan_out, single_out = compose(CRESCENDO, SINGLE)
    policy = TurnPolicy()
    plan_probe, single_probe = probe([plan_out, single_out], policy=policy, batch_size=8)

    # one batched policy call per turn index; only the plan goes on after turn 1
    assert [len(call) for call in policy.calls] == [2, 1, 1]
    turn2, turn3 = policy.calls[1][0], policy.calls[2][0]
    assert [m["role"] for m in turn3] == ["user", "assistant", "user", "assistant", "user"]
    assert [m["content"] for m in turn3 if m["role"] == "user"] == plan_out.plan
    assert turn2[1]["content"] == "scripted:turns turn 1 after []"  # its own first answer
    assert turn3[:3] == turn2
    assert plan_probe.messages == turn3  # the whole conversation up to the final turn
    assert plan_probe.policy_response.startswith("Sure, scripted:turns gives in at turn 3")
    assert plan_probe.prompt == plan_out.plan[-1] == plan_out.prompt
    assert plan_probe.extra["plan"] == plan_out.plan == plan_probe.plan
    # single-turn probes are what they always were
    assert single_probe.messages == single_out.messages and single_probe.plan is None
    assert not {"plan", "harm_turn", "turn_labels"} & set(single_probe.extra)


def test_turns_are_batched_across_probes_per_turn_index() -> None:
    outputs = compose(CRESCENDO, CONTEXT, CRESCENDO, variant=1)[:2] + compose(CRESCENDO, variant=2)
    policy = TurnPolicy()
    probe(outputs, policy=policy, batch_size=2)
    assert [len(call) for call in policy.calls] == [2, 1, 2, 1, 2, 1]  # 3 turns, chunks of 2


def test_the_judge_labels_every_turn_and_the_first_harmful_turn_is_kept() -> None:
    crescendo, context = probe(compose(CRESCENDO, CONTEXT))
    assert crescendo.extra["turn_labels"] == ["safe", "safe", "harmful"]
    assert crescendo.extra["harm_turn"] == 3
    assert crescendo.judge.label is JudgeLabel.HARMFUL and crescendo.policy_failed
    # context building gave in at turn 2 and answered its final turn without the prefix
    assert context.extra["turn_labels"] == ["safe", "harmful", "safe"]
    assert context.extra["harm_turn"] == 2
    assert context.judge.label is JudgeLabel.SAFE and context.policy_failed is False

    class Steadfast(TurnPolicy):
        def generate(self, conversations, params=None):
            return ["I can't help with that."] * len(conversations)

    (never,) = probe(compose(CRESCENDO), policy=Steadfast())
    assert never.extra["harm_turn"] is None and never.extra["turn_labels"] == ["safe"] * 3


def test_the_rm_scores_the_final_answer_and_both_responses_in_the_whole_conversation() -> None:
    rm = RecordingRM()
    (plan_probe,) = probe(compose(CRESCENDO), rm=rm)
    assert len(rm.seen) == 3
    assert [c for c, _ in rm.seen] == [plan_probe.messages] * 3
    assert [r for _, r in rm.seen] == [
        plan_probe.policy_response,
        plan_probe.malicious,
        plan_probe.safe,
    ]
    assert sum(m["role"] == "assistant" for m in rm.seen[0][0]) == 2
    # typed exactly as a single-turn answer is
    assert plan_probe.rewards.policy == len(plan_probe.policy_response) / 100.0
    expected = RULES.classify(plan_probe.judge, plan_probe.rewards)
    assert (plan_probe.failure_type, plan_probe.policy_failed, plan_probe.rm_failed) == expected


def test_a_mentor_can_adapt_the_next_turn_and_the_turns_sent_are_stored() -> None:
    class Adapting(TemplateMentor):
        def next_turns(self, outputs, conversations):
            planned = super().next_turns(outputs, conversations)
            return [None if t is None else f"{t} (after {c[-1]['content'][:20]})"
                    for t, c in zip(planned, conversations, strict=True)]  # fmt: skip

    mentor = Adapting(load_catalog())
    (output,) = mentor.compose([CRESCENDO])
    (adapted,) = probe([output], mentor=mentor)
    sent = [m["content"] for m in adapted.messages if m["role"] == "user"]
    assert sent == adapted.extra["plan"] and sent != output.plan
    assert sent[0] == output.plan[0] and sent[1].startswith(output.plan[1] + " (after ")
    assert adapted.extra["mentor_plan"] == output.plan
    assert dedup_text(adapted) == dedup_text(output) == "\n".join(output.plan)


# -- storage and resume ----------------------------------------------------------------------------
class HalfMultiTurn(CountingStrategy):
    """The counting strategy, with every other slot a multi-turn tactic."""

    def propose(self, n: int) -> list[ComponentSpec]:
        specs = super().propose(n)
        tactics = ("crescendo", "context_building")
        return [
            ComponentSpec(s.topic, s.persona, tactics[i // 2 % 2], s.goal) if i % 2 else s
            for i, s in enumerate(specs)
        ]


def fingerprint(run_dir: Path) -> list[tuple]:
    with RunStore.open(run_dir) as store:
        return [
            (p.batch, p.spec.key, p.messages, p.policy_response, p.failure_type.value,
             p.extra.get("plan"), p.extra.get("harm_turn"), p.extra.get("turn_labels"))
            for p in store.probes()
        ]  # fmt: skip


def parts(**over) -> dict:
    return {
        "policy": TurnPolicy(),
        "reward_model": RecordingRM(),
        "judge": PrefixJudge(),
        "strategy": HalfMultiTurn(load_catalog(), seed=0),
        **over,
    }


def test_multi_turn_probes_are_stored_and_a_resumed_run_equals_an_uninterrupted_one(tmp_path):
    config = make_config(probes=48, batch_size=8)
    full = tmp_path / "full"
    with RunStore.create(full, config.model_dump(mode="json")) as store:
        run_discovery(Run(store, config), **parts())
    expected = fingerprint(full)
    multi = [row for row in expected if row[5]]
    assert len(expected) == 48 and len(multi) >= 24
    assert {row[6] for row in multi} >= {2, 3}  # harm appeared at different turns
    for row in multi:  # stored: the whole conversation up to the final turn, and the plan
        assert [m["content"] for m in row[2] if m["role"] == "user"] == row[5]
        assert row[2][-1]["role"] == "user" and len(row[2]) == 2 * len(row[5]) - 1

    part = tmp_path / "part"
    with RunStore.create(part, config.model_dump(mode="json")) as store:
        run_discovery(Run(store, config), max_batches=2, **parts())
    summary = resume_discovery(part, **parts())
    assert summary.probes == 48
    assert fingerprint(part) == expected
    multi_counts = summary.by_turns["multi_turn"]
    assert multi_counts["probes"] == len(multi) and summary.by_turns["single_turn"]["probes"] == 48 - len(multi)
    assert multi_counts.get("C", 0) + multi_counts.get("A", 0) == sum(r[4] in "AC" for r in multi)

    with RunStore.open(full) as store:  # exported like any probe
        row = next(p for p in store.probes() if p.plan).to_flat_dict()
    assert row["prompt"] == row["messages"][-1]["content"]


# -- verification ----------------------------------------------------------------------------------
def test_stored_output_rebuilds_the_plan_without_the_original_answers() -> None:
    (original,) = probe(compose(CRESCENDO))
    output = stored_output(original)
    assert output.plan == original.plan
    assert output.messages == [{"role": "user", "content": original.plan[0]}]
    other = TurnPolicy("other")
    (replayed,) = probe([output], policy=other)
    assert [m["content"] for m in replayed.messages if m["role"] == "user"] == original.plan
    answers = [m["content"] for m in replayed.messages if m["role"] == "assistant"]
    assert answers and all(a.startswith("scripted:other") for a in answers)


def _verify_run(tmp_path: Path, **sections) -> Run:
    config = RunConfig.model_validate(
        {
            "policy": {"spec": "scripted:p", "generation": {"max_new_tokens": 8}},
            "reward_model": {"spec": "scripted:r"},
            "typing": {"calibration_probes": 8},
            "split": {"heldout_fraction": 0.5},
            **sections,
        }
    )
    run = Run.create(config, tmp_path / "run")
    topics = ("fraud", "drugs", "weapons", "cybercrime", "violence", "chem_bio")
    specs = [ComponentSpec(t, "novelist", "crescendo", "code") for t in topics]
    probes = probe(compose(*specs))
    assert all(p.failure_type is FailureType.SYSTEMIC for p in probes)
    run.store.add_probes(probes)
    run.fix_split()
    return run


def test_verify_replays_each_plan_with_each_systems_own_policy(tmp_path) -> None:
    with _verify_run(tmp_path) as run:
        systems = [
            System(name, lambda name=name: TurnPolicy(name), RecordingRM)
            for name in ("before", "after")
        ]
        verify_run(run, before=systems[0], after=systems[1], judge=PrefixJudge(), variants=0)
        discovered = {p.spec: p for p in run.store.probes("discovery")}
        for phase, name in ((PHASE_BEFORE, "before"), (PHASE_AFTER, "after")):
            replayed = run.store.probes(phase)
            assert {p.spec for p in replayed} == set(discovered)
            for p in replayed:
                assert p.plan == discovered[p.spec].plan
                answers = [m["content"] for m in p.messages if m["role"] == "assistant"]
                assert len(answers) == 2 and all(a.startswith(f"scripted:{name}") for a in answers)
                assert p.extra["harm_turn"] == 3
        assert {p.extra["split"] for p in run.store.probes(PHASE_BEFORE)} == {"failures", "heldout"}


# -- repair ----------------------------------------------------------------------------------------
def test_rm_repair_pairs_carry_the_whole_conversation() -> None:
    probes = probe(compose(CRESCENDO, SINGLE))
    crescendo = probes[0]
    assert crescendo.failure_type is FailureType.SYSTEMIC
    pairs = [p for p in adversarial_pairs(probes) if p.spec == CRESCENDO]
    assert {(p.chosen, p.rejected) for p in pairs} == {
        (crescendo.safe, crescendo.malicious),
        (crescendo.safe, crescendo.policy_response),
    }
    assert all(p.messages == freeze_messages(crescendo.messages) for p in pairs)
    assert [role for role, _ in pairs[0].messages] == ["user", "assistant"] * 2 + ["user"]
    assert pairs[0].prompt == crescendo.plan[-1]


def test_extra_wordings_of_a_plan_pair_in_its_user_turns() -> None:
    (output,) = compose(CONTEXT, variant=5)
    (pair,) = mentor_pairs([output])
    assert pair.messages == (("user", "\n\n".join(output.plan)),)
    assert (pair.chosen, pair.rejected) == (output.safe, output.malicious)


def test_policy_repair_trains_on_the_final_turn_in_context(tmp_path) -> None:
    with _verify_run(tmp_path) as run:
        prompts = collect_repair_prompts(run)
        adversarial = [p for p in prompts.train if p.kind == "adversarial"]
        train = {p.spec: p for p in run.store.probes("discovery") if run.split.side(p.spec) == "train"}
        assert adversarial and {p.spec for p in adversarial} == set(train)
        for prompt in adversarial:
            assert prompt.messages == train[prompt.spec].messages
            assert prompt.prompt == train[prompt.spec].plan[-1]


def test_recombined_plans_train_policy_repair_on_every_user_turn(tmp_path) -> None:
    with _verify_run(tmp_path, repair_policy={"recombine": 40}) as run:
        prompts = collect_repair_prompts(run)
        train = set(run.split.train)
        mentor = run.mentor
    recombined = [p for p in prompts.train if p.kind == "adversarial" and p.spec not in train]
    plans = [p for p in recombined if load_catalog().get("tactic", p.spec.tactic).multi_turn]
    assert plans and len(plans) < len(recombined)
    for prompt in plans:
        (output,) = mentor.compose([prompt.spec], [RECOMBINE_VARIANT_BASE])
        assert prompt.messages == output.final_context()
        assert prompt.prompt.endswith(output.plan[-1]) and prompt.prompt.startswith(output.plan[0])


@pytest.mark.parametrize("spec", [CRESCENDO, CONTEXT])
def test_the_sim_lookup_follows_a_growing_conversation(spec: ComponentSpec) -> None:
    (output,) = compose(spec)
    conversation: list[Message] = []
    for turn in output.plan:
        conversation += [{"role": "user", "content": turn}]
        assert LOOKUP.lookup(conversation) == spec
        conversation += [{"role": "assistant", "content": "anything at all"}]
    adapted = [*conversation, {"role": "user", "content": "a turn nobody planned"}]
    assert LOOKUP.lookup(adapted) == spec
    assert LOOKUP.lookup(output.final_context()) == spec


def test_the_embedded_policy_template_renders_a_whole_conversation() -> None:
    """The embedded Gemma policy sees every turn: user turns closed by <end_of_turn>, its own
    earlier answers closed by the turn end it was fine-tuned on, then its next turn opened."""
    import jinja2

    from ares_rlhf.embedded.policy import policy_chat_template

    (plan_probe,) = probe(compose(CRESCENDO))
    text = jinja2.Environment().from_string(policy_chat_template("<eos>")).render(
        bos_token="<bos>", add_generation_prompt=True, messages=plan_probe.messages
    )
    turns = text.split("<start_of_turn>")[1:]
    assert [t.split("\n", 1)[0] for t in turns] == ["user", "model"] * 2 + ["user", "model"]
    assert turns[1].endswith("<eos>\n") and turns[2].endswith("<end_of_turn>\n")
    assert plan_probe.plan[-1] in turns[4] and turns[5] == "model\n"
