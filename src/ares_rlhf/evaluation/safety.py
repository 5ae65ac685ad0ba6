"""Paired before/after safety evaluation on benchmark prompts, resumable through the run store.

The original and the repaired policy answer the *same* benchmark prompts (loaded one at a time,
closed after use). Each answer is stored in the run store (``eval_answers``) as soon as its batch
is done, one transaction per batch, keyed by (system, policy id, sampling settings, benchmark,
item id); an evaluation interrupted half-way is rerun by calling it again: stored answers are
reused (the policy is not even loaded when nothing is missing) and only the missing ones are
generated. Judge labels are stored with the judge's id; answers labelled by another judge are
judged again.

Figures per benchmark (:class:`BenchmarkResult`):

* harmful prompts: **safety rate** = judged safe / all prompts; unscored answers are counted in
  ``n`` and apart in ``unscored``, never as safe;
* benign prompts (XSTest safe prompts, JailbreakBench benign): XSTest's three classes
  (:func:`~ares_rlhf.evaluation.benchmarks.refusal_class`), the headline rate being **full
  compliance**; XSTest's unsafe contrast prompts get the judge's safety rate (``unsafe_contrast``);
* every rate with its Wilson 95% interval, every before/after pair with the exact McNemar
  p-value on the prompts scored on both sides (:mod:`ares_rlhf.evaluation.stats`).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ares_rlhf.backends import ChatModel, SamplingParams
from ares_rlhf.errors import BackendError, DataError
from ares_rlhf.evaluation.benchmarks import REFUSAL_CLASSES, BenchmarkPrompt, refusal_class
from ares_rlhf.evaluation.stats import PairedRates, paired_rates
from ares_rlhf.judges.base import HarmJudge
from ares_rlhf.records import EvalAnswer, JudgeLabel
from ares_rlhf.store.sqlite import RunStore

Progress = Callable[[int, int, str], None]
"""``progress(done, total, label)``: items of one system answered and judged so far."""
CLASS_SCORER = "refusal_kind"
"""What assigns XSTest's classes (``ares_rlhf.text.refusal.refusal_kind``)."""
JUDGE_CHUNK = 64
"""Stored answers re-judged per transaction."""


@dataclass
class PolicySystem:
    """One policy to evaluate, loaded lazily and closed after use.

    ``policy_id`` names the weights and settings in the answer cache (e.g.
    :func:`policy_fingerprint` of its config); by default the loaded model's ``model_id``. With a
    ``policy_id``, a rerun whose answers are all stored never loads the policy.
    """

    name: str
    load_policy: Callable[[], ChatModel]
    policy_id: str | None = None


def policy_fingerprint(config: Any) -> str:
    """``SPEC#HASH`` for a policy ``ModelConfig``: the spec plus a hash of every other setting
    (device, dtype, chat format, backend options) except its sampling settings."""
    settings = config.model_dump(mode="json", exclude={"generation"})
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]
    return f"{config.spec}#{digest}"


def sampling_key(sampling: SamplingParams) -> str:
    """Canonical JSON of the settings that change an answer (greedy: no top_p / seed)."""
    settings: dict[str, Any] = {
        "max_new_tokens": sampling.max_new_tokens,
        "temperature": sampling.temperature,
    }
    if sampling.temperature > 0:
        settings.update(top_p=sampling.top_p, seed=sampling.seed)
    return json.dumps(settings, sort_keys=True)


def judge_key(judge: HarmJudge) -> str:
    return getattr(judge, "judge_id", "") or type(judge).__name__


# -- answering ----------------------------------------------------------------------------------------
@dataclass
class SystemAnswers:
    """One system's stored answers to a suite: ``answers[(benchmark, item_id)]``."""

    name: str
    policy_id: str
    answers: dict[tuple[str, str], EvalAnswer]
    generated: int = 0
    reused: int = 0
    rejudged: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy_id,
            "generated": self.generated,
            "reused": self.reused,
            "rejudged": self.rejudged,
        }


def _items(suite: Mapping[str, Sequence[BenchmarkPrompt]]) -> list[BenchmarkPrompt]:
    items: list[BenchmarkPrompt] = []
    for name, prompts in suite.items():
        seen: set[str] = set()
        for item in prompts:
            if item.id in seen:
                raise DataError(f"{name}: item id {item.id!r} appears twice in the suite")
            seen.add(item.id)
            items.append(item)
    return items


def _with_verdicts(
    rows: list[EvalAnswer], items: list[BenchmarkPrompt], judge: HarmJudge, judge_id: str
) -> list[EvalAnswer]:
    """``rows`` with the judge's labels on the harmful-request ones (others unchanged)."""
    wanted = [i for i, item in enumerate(items) if item.label == "unsafe"]
    if not wanted:
        return rows
    verdicts = judge.judge([items[i].prompt for i in wanted], [rows[i].answer for i in wanted])
    if len(verdicts) != len(wanted):
        raise BackendError(
            f"judge {judge_id} gave {len(verdicts)} verdicts for {len(wanted)} answers"
        )
    out = list(rows)
    for i, verdict in zip(wanted, verdicts, strict=True):
        out[i] = replace(
            rows[i],
            judge_id=judge_id,
            judge_label=verdict.label,
            judge_score=verdict.score,
            judge_reason=verdict.reason,
        )
    return out


@dataclass
class _Run:
    """One system's answering in progress: what to write and how far it got."""

    store: RunStore
    result: SystemAnswers
    judge: HarmJudge
    judge_id: str
    total: int
    done: int
    progress: Progress | None

    def save(self, items: list[BenchmarkPrompt], rows: list[EvalAnswer]) -> None:
        """Judge the harmful-request rows, store them (one transaction), report progress."""
        rows = _with_verdicts(rows, items, self.judge, self.judge_id)
        self.store.add_eval_answers(rows)
        for item, row in zip(items, rows, strict=True):
            self.result.answers[(item.benchmark, item.id)] = row
        self.done += len(items)
        self.tick()

    def tick(self) -> None:
        if self.progress:
            self.progress(self.done, self.total, f"{self.result.name}: {self.result.policy_id}")


def answer_suite(
    store: RunStore,
    system: PolicySystem,
    suite: Mapping[str, Sequence[BenchmarkPrompt]],
    *,
    judge: HarmJudge,
    sampling: SamplingParams,
    transform: Callable[[str], str] | None = None,
    progress: Progress | None = None,
    batch_size: int | None = None,
) -> SystemAnswers:
    """Answers of one system to every prompt of ``suite``, from the store or generated.

    Stored answers to the same prompt text are reused; those labelled by another judge are
    judged again. Missing answers are generated longest prompt first in batches of
    ``batch_size`` (default: the policy's own ``batch_size``, else 8), judged (harmful requests
    only) and stored, one transaction per batch. ``transform`` rewrites each prompt before the
    policy sees it (the judge still sees the original request). The policy is loaded only when
    needed (or to learn its id) and closed before returning.
    """
    items = _items(suite)
    judge_id = judge_key(judge)
    key = sampling_key(sampling)
    policy: ChatModel | None = None
    try:
        if not system.policy_id:
            policy = system.load_policy()
        policy_id = system.policy_id or policy.model_id
        stored = store.eval_answers(system=system.name, policy_id=policy_id, sampling=key)
        by_key = {(a.benchmark, a.item_id): a for a in stored}
        sent = {(i.benchmark, i.id): transform(i.prompt) if transform else i.prompt for i in items}
        result = SystemAnswers(system.name, policy_id, {})
        missing: list[BenchmarkPrompt] = []
        stale: list[BenchmarkPrompt] = []
        for item in items:
            found = by_key.get((item.benchmark, item.id))
            if found is None or found.prompt != sent[(item.benchmark, item.id)]:
                missing.append(item)
                continue
            result.answers[(item.benchmark, item.id)] = found
            result.reused += 1
            if item.label == "unsafe" and found.judge_id != judge_id:
                stale.append(item)
        total = len(items)
        run = _Run(
            store, result, judge, judge_id, total, total - len(missing) - len(stale), progress
        )
        run.tick()
        for start in range(0, len(stale), JUDGE_CHUNK):
            chunk = stale[start : start + JUDGE_CHUNK]
            run.save(chunk, [result.answers[(i.benchmark, i.id)] for i in chunk])
            result.rejudged += len(chunk)
        if not missing:
            return result
        if policy is None:
            policy = system.load_policy()
        size = max(1, int(batch_size or getattr(policy, "batch_size", 0) or 8))
        missing.sort(key=lambda i: -len(sent[(i.benchmark, i.id)]))
        for start in range(0, len(missing), size):
            chunk = missing[start : start + size]
            prompts = [sent[(i.benchmark, i.id)] for i in chunk]
            answers = policy.generate([[{"role": "user", "content": p}] for p in prompts], sampling)
            if len(answers) != len(chunk):
                raise BackendError(
                    f"{policy_id} returned {len(answers)} answers for {len(chunk)} prompts"
                )
            rows = [
                EvalAnswer(system.name, policy_id, key, i.benchmark, i.id, p, a)
                for i, p, a in zip(chunk, prompts, answers, strict=True)
            ]
            run.save(chunk, rows)
            result.generated += len(chunk)
        return result
    finally:
        if policy is not None:
            policy.close()


# -- figures ------------------------------------------------------------------------------------------
def safe_outcome(row: EvalAnswer) -> bool | None:
    """A stored answer judged safe (True), harmful (False) or unscored (None)."""
    if row.judge_label is JudgeLabel.SAFE:
        return True
    if row.judge_label is JudgeLabel.HARMFUL:
        return False
    return None  # unscored


def _class_outcomes(rows: Sequence[EvalAnswer], kind: str) -> list[bool | None]:
    classes = [refusal_class(row.answer) for row in rows]
    return [None if c is None else c == kind for c in classes]


@dataclass
class BenchmarkResult:
    """Before/after figures of one benchmark on the same prompts.

    ``primary`` is the safety rate (harmful benchmarks) or the full-compliance rate (benign
    ones); ``classes`` holds XSTest's three classes; ``unsafe_contrast`` the judge's safety rate
    on a benign benchmark's unsafe prompts (XSTest's contrast set).
    """

    name: str
    kind: str
    """``safety`` or ``over_refusal``."""
    judge: str
    primary: PairedRates
    classes: dict[str, PairedRates] = field(default_factory=dict)
    unsafe_contrast: PairedRates | None = None

    @property
    def metric(self) -> str:
        return "safety_rate" if self.kind == "safety" else "full_compliance_rate"

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "kind": self.kind,
            "metric": self.metric,
            "scored_by": self.judge if self.kind == "safety" else CLASS_SCORER,
            "n": self.primary.before.n,
            **self.primary.as_dict(),
        }
        if self.classes:
            data["classes"] = {name: pair.as_dict() for name, pair in self.classes.items()}
        if self.unsafe_contrast is not None:
            data["unsafe_contrast"] = {
                "metric": "safety_rate",
                "scored_by": self.judge,
                "n": self.unsafe_contrast.before.n,
                **self.unsafe_contrast.as_dict(),
            }
        return data


def _paired(
    first: Sequence[EvalAnswer],
    second: Sequence[EvalAnswer],
    outcome: Callable[[Sequence[EvalAnswer]], list[bool | None]],
) -> PairedRates:
    return paired_rates(outcome(first), outcome(second))


def _safe_outcomes(rows: Sequence[EvalAnswer]) -> list[bool | None]:
    return [safe_outcome(row) for row in rows]


def benchmark_results(
    suite: Mapping[str, Sequence[BenchmarkPrompt]],
    before: SystemAnswers,
    after: SystemAnswers,
    judge_id: str,
) -> dict[str, BenchmarkResult]:
    """Per-benchmark paired figures from both systems' answers to ``suite``."""
    results: dict[str, BenchmarkResult] = {}
    for name, items in suite.items():
        if not items:
            continue
        unsafe = [i for i in items if i.label == "unsafe"]
        benign = [i for i in items if i.label == "safe"]
        harmful_pair = (
            _paired(
                [before.answers[(i.benchmark, i.id)] for i in unsafe],
                [after.answers[(i.benchmark, i.id)] for i in unsafe],
                _safe_outcomes,
            )
            if unsafe
            else None
        )
        if not benign:
            results[name] = BenchmarkResult(name, "safety", judge_id, harmful_pair)
            continue
        first = [before.answers[(i.benchmark, i.id)] for i in benign]
        second = [after.answers[(i.benchmark, i.id)] for i in benign]
        classes = {
            kind: _paired(first, second, lambda rows, kind=kind: _class_outcomes(rows, kind))
            for kind in REFUSAL_CLASSES
        }
        results[name] = BenchmarkResult(
            name, "over_refusal", judge_id, classes["full_compliance"], classes, harmful_pair
        )
    return results


@dataclass
class SafetyEvaluation:
    """The paired safety evaluation of two systems: per-benchmark results and provenance."""

    judge: str
    benchmarks: dict[str, BenchmarkResult]
    systems: dict[str, SystemAnswers]
    sampling: SamplingParams
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "judge": self.judge,
            "benchmarks": {name: result.as_dict() for name, result in self.benchmarks.items()},
            "systems": {name: answers.as_dict() for name, answers in self.systems.items()},
            "sampling": json.loads(sampling_key(self.sampling)),
            "seconds": round(self.seconds, 2),
        }

    def table(self) -> str:
        """A plain-text table: one row per figure, before/after with intervals and p-value."""

        def rate(r: Any) -> str:
            if r.rate is None:
                return f"{'-':>22}"
            return f"{100 * r.rate:5.1f}% [{100 * r.ci95_low:4.1f}, {100 * r.ci95_high:5.1f}]"

        header = (
            f"{'benchmark':<22} {'figure':<18} {'n':>4} {'before [95% CI]':>22} "
            f"{'after [95% CI]':>22} {'change':>7} {'p':>7} {'unscored':>8}  scored by"
        )
        lines = [header]

        def row(bench: str, figure: str, pair: PairedRates, scorer: str) -> None:
            change = "-" if pair.change is None else f"{100 * pair.change:+.1f}"
            unscored = f"{pair.before.unscored}/{pair.after.unscored}"
            lines.append(
                f"{bench:<22} {figure:<18} {pair.before.n:>4} {rate(pair.before)} "
                f"{rate(pair.after)} {change:>7} {pair.p_value:>7.3g} {unscored:>8}  {scorer}"
            )

        for name, result in self.benchmarks.items():
            if result.kind == "safety":
                row(name, "safety rate", result.primary, result.judge)
                continue
            for kind, pair in result.classes.items():
                row(name, kind.replace("_", " "), pair, CLASS_SCORER)
            if result.unsafe_contrast is not None:
                row(name, "unsafe: safety", result.unsafe_contrast, result.judge)
        return "\n".join(lines)


def evaluate_safety(
    store: RunStore,
    *,
    before: PolicySystem,
    after: PolicySystem,
    judge: HarmJudge,
    suite: Mapping[str, Sequence[BenchmarkPrompt]],
    sampling: SamplingParams,
    transform: Callable[[str], str] | None = None,
    progress: Progress | None = None,
    batch_size: int | None = None,
) -> SafetyEvaluation:
    """``before`` and ``after`` on the same prompts of ``suite``, paired; answers cached in
    ``store`` (rerun to resume). See :func:`answer_suite` for the options."""
    if before.name == after.name:
        raise DataError(f"the two systems need different names, both are {before.name!r}")
    started = time.perf_counter()
    judge_id = judge_key(judge)
    systems = {
        system.name: answer_suite(
            store,
            system,
            suite,
            judge=judge,
            sampling=sampling,
            transform=transform,
            progress=progress,
            batch_size=batch_size,
        )
        for system in (before, after)
    }
    results = benchmark_results(suite, systems[before.name], systems[after.name], judge_id)
    return SafetyEvaluation(
        judge=judge_id,
        benchmarks=results,
        systems=systems,
        sampling=sampling,
        seconds=time.perf_counter() - started,
    )
