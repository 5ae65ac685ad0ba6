"""Paired before/after safety evaluation: figures, pairing, unscored answers, the answer cache
(resume after a crash, re-judging when the judge changes), prompt transforms and batching."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from ares_rlhf.backends import SamplingParams
from ares_rlhf.backends.scripted import ScriptedChatModel
from ares_rlhf.errors import DataError
from ares_rlhf.evaluation.benchmarks import BenchmarkPrompt
from ares_rlhf.evaluation.safety import (
    PolicySystem,
    answer_suite,
    evaluate_safety,
    policy_fingerprint,
    sampling_key,
)
from ares_rlhf.evaluation.stats import exact_mcnemar, wilson_interval
from ares_rlhf.judges.base import HarmJudge
from ares_rlhf.judges.refusal import RefusalJudge
from ares_rlhf.records import JudgeLabel, JudgeVerdict
from ares_rlhf.store.sqlite import RunStore

REFUSE = "I'm sorry, but I can't help with that."
COMPLY = "Sure, here is exactly how to do it."
PARTIAL = (
    "I can't give exact instructions, but here is a general overview: "
    + "first you research the topic in depth and consult the documentation carefully. " * 2
)
SAMPLING = SamplingParams(max_new_tokens=16)


def _suite() -> dict[str, list[BenchmarkPrompt]]:
    harmful = [
        BenchmarkPrompt("harm", f"h{i}", f"harmful request {'x' * i} {i}", "c", "unsafe")
        for i in range(6)
    ]
    xstest = [
        BenchmarkPrompt("xs", f"s{i}", f"benign question {i}", "homonyms", "safe") for i in range(4)
    ] + [
        BenchmarkPrompt("xs", f"u{i}", f"contrast request {i}", "contrast", "unsafe")
        for i in range(2)
    ]
    return {"harm": harmful, "xs": xstest}


def _answers(table: dict[str, str], default: str):
    def respond(conversation):
        prompt = conversation[-1]["content"]
        return next((a for key, a in table.items() if prompt.endswith(key)), default)

    return respond


class ClosingModel(ScriptedChatModel):
    """A scripted model that records its generate calls and whether it was closed."""

    def __init__(self, name, respond, fail_on_call: int | None = None):
        super().__init__(name, respond=respond)
        self.calls: list[list[str]] = []
        self.closed = False
        self.fail_on_call = fail_on_call

    def generate(self, conversations, params=None):
        if self.fail_on_call is not None and len(self.calls) + 1 == self.fail_on_call:
            raise RuntimeError("simulated crash")
        self.calls.append([c[-1]["content"] for c in conversations])
        return super().generate(conversations, params)

    def close(self):
        self.closed = True


class CountingJudge(HarmJudge):
    """Labels harmful unless the answer refuses; ``UNSCORED`` for answers containing '??'."""

    def __init__(self, judge_id: str = "counting"):
        self.judge_id = judge_id
        self.seen_prompts: list[str] = []

    def judge(self, prompts: Sequence[str], responses: Sequence[str]) -> list[JudgeVerdict]:
        self.seen_prompts.extend(prompts)
        return [
            JudgeVerdict(
                JudgeLabel.UNSCORED
                if "??" in r
                else (JudgeLabel.SAFE if r.startswith("I'm sorry") else JudgeLabel.HARMFUL)
            )
            for r in responses
        ]


@pytest.fixture
def store(tmp_path):
    with RunStore.create(tmp_path / "run", {"seed": 0}) as opened:
        yield opened


def _system(name, model, policy_id=None):
    loads = []

    def load():
        loads.append(name)
        return model

    return PolicySystem(name, load, policy_id), loads


def test_paired_figures_and_json_shape(store):
    before_model = ClosingModel("before", _answers({"request  0": REFUSE}, COMPLY))
    after_model = ClosingModel(
        "after",
        _answers(
            {"question 0": REFUSE, "question 1": PARTIAL, "question 2": "", "question 3": COMPLY},
            REFUSE,
        ),
    )
    before, _ = _system("before", before_model)
    after, _ = _system("after", after_model)
    evaluation = evaluate_safety(
        store, before=before, after=after, judge=RefusalJudge(), suite=_suite(), sampling=SAMPLING
    )
    harm = evaluation.benchmarks["harm"]
    assert harm.kind == "safety"
    assert (harm.primary.before.k, harm.primary.after.k, harm.primary.before.n) == (1, 6, 6)
    assert (harm.primary.b, harm.primary.c) == (0, 5)
    assert harm.primary.p_value == exact_mcnemar(0, 5)
    data = evaluation.as_dict()
    assert data["judge"] == "refusal"
    figures = data["benchmarks"]["harm"]
    assert figures["before"]["n"] == 6 and figures["after"]["rate"] == 1.0
    assert figures["before"]["ci95"] == list(wilson_interval(1, 6))
    assert figures["p_value"] == exact_mcnemar(0, 5) and figures["scored_by"] == "refusal"
    xs = data["benchmarks"]["xs"]
    assert xs["kind"] == "over_refusal" and xs["metric"] == "full_compliance_rate"
    assert xs["n"] == 4 and xs["before"]["rate"] == 1.0 and xs["after"]["rate"] == 0.25
    classes = xs["classes"]
    assert classes["full_refusal"]["after"]["k"] == 1
    assert classes["partial_refusal"]["after"]["k"] == 1
    assert classes["full_compliance"]["after"]["unscored"] == 1  # the empty answer
    assert classes["full_compliance"]["n_paired"] == 3  # unscored after: left out of McNemar
    assert xs["unsafe_contrast"]["before"]["k"] == 0 and xs["unsafe_contrast"]["after"]["k"] == 2
    assert before_model.closed and after_model.closed
    table = evaluation.table()
    assert "safety rate" in table and "partial refusal" in table and "refusal_kind" in table


def test_unscored_answers_count_in_n_never_as_safe(store):
    before, _ = _system("before", ClosingModel("b", _answers({"1": "??", "2": REFUSE}, COMPLY)))
    after, _ = _system("after", ClosingModel("a", _answers({"1": REFUSE, "3": "??"}, REFUSE)))
    suite = {"harm": _suite()["harm"]}
    result = evaluate_safety(
        store, before=before, after=after, judge=CountingJudge(), suite=suite, sampling=SAMPLING
    ).benchmarks["harm"]
    pair = result.primary
    assert (pair.before.n, pair.before.k, pair.before.unscored) == (6, 1, 1)
    assert (pair.after.n, pair.after.k, pair.after.unscored) == (6, 5, 1)
    assert pair.before.rate == pytest.approx(1 / 6)
    # items 1 and 3 are unscored on one side: McNemar on the other four (0, 2, 4, 5)
    assert pair.n_paired == 4 and (pair.b, pair.c) == (0, 3)


def test_resume_after_a_crash_reuses_stored_answers(store):
    suite = _suite()
    crashing = ClosingModel("p", _answers({}, COMPLY), fail_on_call=3)
    system, _ = _system("before", crashing, policy_id="spec:p")
    with pytest.raises(RuntimeError, match="simulated crash"):
        answer_suite(store, system, suite, judge=RefusalJudge(), sampling=SAMPLING, batch_size=3)
    assert crashing.closed
    stored = store.eval_answers(system="before")
    assert len(stored) == 6  # two batches of three committed before the crash
    first_prompts = {a.prompt for a in stored}

    fresh = ClosingModel("p", _answers({}, COMPLY))
    system, loads = _system("before", fresh, policy_id="spec:p")
    progress: list[tuple[int, int, str]] = []
    answers = answer_suite(
        store,
        system,
        suite,
        judge=RefusalJudge(),
        sampling=SAMPLING,
        batch_size=3,
        progress=lambda *a: progress.append(a),
    )
    generated = [p for call in fresh.calls for p in call]
    assert len(generated) == 6 and not set(generated) & first_prompts
    assert (answers.generated, answers.reused) == (6, 6)
    rows = store.eval_answers(system="before")
    assert len(rows) == 12 and len({(r.benchmark, r.item_id) for r in rows}) == 12
    assert progress[0][:2] == (6, 12) and progress[-1][:2] == (12, 12)

    untouched = ClosingModel("p", _answers({}, COMPLY))
    system, loads = _system("before", untouched, policy_id="spec:p")
    again = answer_suite(store, system, suite, judge=RefusalJudge(), sampling=SAMPLING)
    assert loads == [] and again.reused == 12 and again.generated == 0
    assert {k: a.answer for k, a in again.answers.items()} == {
        k: a.answer for k, a in answers.answers.items()
    }


def test_a_different_judge_rejudges_without_regenerating(store):
    suite = _suite()
    model = ClosingModel("p", _answers({"0": REFUSE}, COMPLY))
    system, _ = _system("after", model, policy_id="spec:p")
    answer_suite(store, system, suite, judge=RefusalJudge(), sampling=SAMPLING)
    other = CountingJudge("counting-v2")
    system, loads = _system("after", ClosingModel("p", _answers({}, COMPLY)), policy_id="spec:p")
    answers = answer_suite(store, system, suite, judge=other, sampling=SAMPLING)
    assert loads == [] and answers.generated == 0
    assert answers.rejudged == 8  # the unsafe items only (6 harmful + 2 contrast)
    assert sorted(other.seen_prompts) == sorted(
        i.prompt for i in _suite()["harm"] + suite["xs"][4:]
    )
    stored = {r.item_id: r for r in store.eval_answers(system="after")}
    assert stored["h0"].judge_id == "counting-v2" and stored["h0"].judge_label is JudgeLabel.SAFE
    assert stored["s0"].judge_id == "" and stored["s0"].judge_label is None
    same = CountingJudge("counting-v2")
    answer_suite(store, system, suite, judge=same, sampling=SAMPLING)
    assert same.seen_prompts == []


def test_cache_is_keyed_by_policy_sampling_and_prompt(store):
    suite = {"harm": _suite()["harm"][:2]}
    judge = RefusalJudge()

    def run(policy_id, sampling=SAMPLING, transform=None):
        model = ClosingModel("p", _answers({}, COMPLY))
        system, _ = _system("before", model, policy_id=policy_id)
        answer_suite(store, system, suite, judge=judge, sampling=sampling, transform=transform)
        return [p for call in model.calls for p in call]

    assert len(run("spec:a")) == 2
    assert run("spec:a") == []
    assert len(run("spec:b")) == 2
    assert len(run("spec:a", SamplingParams(max_new_tokens=32))) == 2
    # greedy decoding: the seed does not change answers, so it does not change the key
    assert run("spec:a", SamplingParams(max_new_tokens=16, seed=5)) == []
    sent = run("spec:a", transform=lambda p: f"[[{p}]]")
    assert sent == [f"[[{i.prompt}]]" for i in sorted(suite["harm"], key=lambda i: -len(i.prompt))]
    assert sampling_key(SamplingParams(temperature=0.7, seed=1)) != sampling_key(
        SamplingParams(temperature=0.7, seed=2)
    )


def test_transform_reaches_the_policy_not_the_judge(store):
    judge = CountingJudge()
    model = ClosingModel("p", _answers({}, COMPLY))
    system, _ = _system("before", model)
    answer_suite(store, system, _suite(), judge=judge, sampling=SAMPLING, transform=str.upper)
    assert all(p == p.upper() for call in model.calls for p in call)
    assert "harmful request  0" in judge.seen_prompts


def test_batches_follow_length_and_batch_size(store):
    model = ClosingModel("p", _answers({}, COMPLY))
    model.batch_size = 4
    system, _ = _system("before", model)
    answer_suite(store, system, _suite(), judge=RefusalJudge(), sampling=SAMPLING)
    assert [len(call) for call in model.calls] == [4, 4, 4]
    lengths = [len(p) for call in model.calls for p in call]
    assert lengths == sorted(lengths, reverse=True)


def test_bad_inputs(store):
    model = ClosingModel("p", _answers({}, COMPLY))
    system, _ = _system("before", model)
    twin, _ = _system("before", model)
    with pytest.raises(DataError, match="different names"):
        evaluate_safety(
            store,
            before=system,
            after=twin,
            judge=RefusalJudge(),
            suite=_suite(),
            sampling=SAMPLING,
        )
    repeated = {"harm": [_suite()["harm"][0], _suite()["harm"][0]]}
    with pytest.raises(DataError, match="appears twice"):
        answer_suite(store, system, repeated, judge=RefusalJudge(), sampling=SAMPLING)


def test_policy_fingerprint_names_spec_and_settings():
    from ares_rlhf.config import PolicyConfig

    plain = PolicyConfig(spec="hf:some/model", chat_format="plain")
    templated = PolicyConfig(spec="hf:some/model", chat_format="chat_template")
    longer = PolicyConfig(
        spec="hf:some/model", chat_format="plain", generation={"max_new_tokens": 9}
    )
    assert policy_fingerprint(plain).startswith("hf:some/model#")
    assert policy_fingerprint(plain) != policy_fingerprint(templated)
    assert policy_fingerprint(plain) == policy_fingerprint(longer)  # sampling is keyed apart
