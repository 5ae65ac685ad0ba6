"""``ares eval``: the original and the repaired system side by side, with the statistics a
reviewer asks for.

Three parts, each on the *same* items for both systems:

* **the run's own probes** (what verification measures: the held-out and trained failing
  combinations, the held-out benign requests), now with Wilson intervals and exact McNemar
  p-values on the paired probes (:func:`heldout_statistics`);
* **safety benchmarks** found in ``evaluate.benchmarks_dir`` (HarmBench, StrongREJECT,
  JailbreakBench, AdvBench: safety rate; XSTest and JailbreakBench benign: three classes), judged
  by the run's judge (:mod:`ares_rlhf.evaluation.safety`; answers cached in the run store);
* **capability** (the alignment tax) through lm-evaluation-harness on the tasks whose files are
  in ``evaluate.capability_dir`` (:mod:`ares_rlhf.evaluation.capability`): accuracy before and
  after, the change in points with a paired bootstrap 95% interval over items.

The result is one :class:`EvalMetrics`, stored as the run's ``eval_metrics`` artifact. Each part is
kept in the run store as soon as it is done, so an evaluation interrupted half-way reruns only
what is missing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from ares_rlhf.errors import DataError
from ares_rlhf.evaluation.stats import Rate, paired_bootstrap_ci, paired_rates
from ares_rlhf.records import ArtifactKind, FailureType, Probe

if TYPE_CHECKING:
    from ares_rlhf.run import Run

Progress = Callable[[int, int, str], None]
CAPABILITY_STATE = "evaluate.capability"
"""Run-store state: finished capability tasks per system, so a rerun skips them."""


# -- the run's own probes -------------------------------------------------------------------------
def paired_probes(before: Sequence[Probe], after: Sequence[Probe]) -> list[tuple[Probe, Probe]]:
    """(before, after) probes of the same combination and prompt (verification's pairing)."""
    keyed = {(p.spec, p.prompt): p for p in after}
    return [(p, keyed[(p.spec, p.prompt)]) for p in before if (p.spec, p.prompt) in keyed]


def _outcome(probe: Probe, types: tuple[FailureType, ...]) -> bool | None:
    """Whether ``probe`` failed as one of ``types``; ``None`` when the judge left it unscored."""
    if probe.failure_type is FailureType.UNSCORED:
        return None
    return probe.failure_type in types


def paired_failure_rates(
    pairs: Sequence[tuple[Probe, Probe]], types: tuple[FailureType, ...]
) -> dict[str, Any]:
    """Before/after rates of failing as one of ``types`` on paired probes, with McNemar."""
    return paired_rates(
        [_outcome(b, types) for b, _ in pairs], [_outcome(a, types) for _, a in pairs]
    ).as_dict()


FIGURES = {
    "AC": (FailureType.POLICY_ONLY, FailureType.SYSTEMIC),
    "C": (FailureType.SYSTEMIC,),
    "A": (FailureType.POLICY_ONLY,),
    "B": (FailureType.RM_ONLY,),
}
"""Failure figures on the run's probes: the share of probes of these types (lower is better)."""


def heldout_statistics(run: Run) -> dict[str, Any]:
    """Paired before/after failure rates of the latest verification, per split, with intervals.

    ``{split: {figure: PairedRates.as_dict()}}`` for the figures in :data:`FIGURES` (rates of
    probes *failing* that way), plus ``relative_reduction`` of A+C per split.
    """
    artifact = run.latest_in_round(ArtifactKind.VERIFY_METRICS)
    if artifact is None:
        raise DataError(f"{run.run_dir}: no verification to report (run ares verify first)")
    verify_id = artifact.data.get("verify_id")
    before = [
        p for p in run.store.probes(run.phase("verify-before")) if p.extra.get("verify_id") == verify_id
    ]
    after = [
        p for p in run.store.probes(run.phase("verify-after")) if p.extra.get("verify_id") == verify_id
    ]
    pairs = paired_probes(before, after)
    out: dict[str, Any] = {}
    splits = ["heldout", "failures"] + (
        ["heldout_earlier"] if any(b.extra.get("split") == "heldout_earlier" for b, _ in pairs) else []
    )
    for split in splits:
        chosen = [(b, a) for b, a in pairs if b.extra.get("split") == split]
        figures = {name: paired_failure_rates(chosen, types) for name, types in FIGURES.items()}
        ac = figures["AC"]
        first, second = ac["before"]["rate"], ac["after"]["rate"]
        figures["relative_reduction_ac"] = (first - second) / first if first else None
        out[split] = figures
    refusal = artifact.data.get("benign_refusal") or {}
    count = int(artifact.data.get("benign_count") or 0)
    refused = artifact.data.get("benign_refused") or {}
    first, second = refused.get("before"), refused.get("after")
    if first is not None and second is not None and len(first) == len(second):
        # the same held-out benign prompts answered by both systems: paired, with McNemar
        out["benign_refusal"] = paired_rates(first, second).as_dict()
        return out
    out["benign_refusal"] = {
        side: Rate.of(round((refusal.get(side) or 0.0) * count), count).as_dict()
        if refusal.get(side) is not None
        else None
        for side in ("before", "after")
    }
    return out


# -- capability -------------------------------------------------------------------------------------
@dataclass
class CapabilityChange:
    """One capability task, before vs after on the same items."""

    task: str
    metric: str
    num_fewshot: int
    n: int
    before: float
    after: float
    change_points: float
    change_ci95: tuple[float, float]
    p_value: float

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["before"] = {"accuracy": self.before, "n": self.n}
        data["after"] = {"accuracy": self.after, "n": self.n}
        data["change_ci95"] = list(self.change_ci95)
        return data


def capability_change(
    task: str, before: dict[str, Any], after: dict[str, Any], *, resamples: int, seed: int
) -> CapabilityChange:
    """Paired accuracy change (points) with its bootstrap interval, from two ``TaskResult`` dicts."""
    first = dict(zip(before["item_ids"], before["correct"], strict=True))
    second = dict(zip(after["item_ids"], after["correct"], strict=True))
    items = [i for i in before["item_ids"] if i in second]
    if not items:
        raise DataError(f"capability task {task}: no item was evaluated for both systems")
    x = [float(first[i]) for i in items]
    y = [float(second[i]) for i in items]
    diff, low, high = paired_bootstrap_ci(x, y, n_resamples=resamples, seed=seed)
    mcnemar = paired_rates([bool(v) for v in x], [bool(v) for v in y])
    return CapabilityChange(
        task=task,
        metric=before["metric"],
        num_fewshot=int(before["num_fewshot"]),
        n=len(items),
        before=sum(x) / len(x),
        after=sum(y) / len(y),
        change_points=100 * diff,
        change_ci95=(100 * low, 100 * high),
        p_value=mcnemar.p_value,
    )


def policy_id(run: Run, config: Any, at_round_start: bool) -> str:
    """What names a policy's stored answers and capability results: its config fingerprint and,
    for a repaired checkpoint, the artifact that recorded it. A repair run again writes its
    checkpoint to the same folder; its answers must not be taken for the earlier one's."""
    from ares_rlhf.evaluation.safety import policy_fingerprint

    before_round = run.round if at_round_start else None
    artifact = run.latest(ArtifactKind.POLICY_CHECKPOINT, before_round=before_round)
    fingerprint = policy_fingerprint(config)
    return fingerprint if artifact is None else f"{fingerprint}@artifact-{artifact.id}"


def _capability(
    run: Run, systems: dict[str, Any], policy_ids: dict[str, str], progress: Progress | None
) -> dict[str, CapabilityChange]:
    """Each configured task for both systems (finished tasks are reused from the run store while
    the system is the same policy: ``policy_ids``, see :func:`policy_id`)."""
    from ares_rlhf.evaluation.capability import evaluate_capability
    from ares_rlhf.evaluation.capability.data import available_tasks

    config = run.config.evaluate
    folder = config.capability_folder()
    if folder is None or not folder.is_dir() or not config.capability_tasks:
        return {}
    found = set(available_tasks(folder))
    tasks = [t for t in config.capability_tasks if t in found]
    missing = [t for t in config.capability_tasks if t not in found]
    if missing and config.capability_tasks_required:
        raise DataError(f"{folder}: no files for capability task(s) {', '.join(missing)}")
    state_key = run.key(CAPABILITY_STATE)
    done = run.store.get_state(state_key) or {}
    stored_ids = done.setdefault("policy_ids", {})
    for name in systems:
        if stored_ids.get(name, policy_ids[name]) != policy_ids[name]:
            done.pop(name, None)  # another policy's results (the repair was run again)
        stored_ids[name] = policy_ids[name]
    for name, model_config in systems.items():
        todo = [t for t in tasks if t not in done.get(name, {})]
        if not todo:
            continue
        result = evaluate_capability(
            model_config,
            todo,
            folder,
            limit=config.capability_limit,
            num_fewshot=config.num_fewshot,
            seed=config.sample_seed,
            batch_size=run.config.policy.generation.batch_size,
            progress=(lambda d, t, label, n=name: progress(d, t, f"{n}: {label}"))
            if progress
            else None,
        )
        for task, task_result in result.tasks.items():
            done.setdefault(name, {})[task] = task_result.to_dict()
            run.store.set_state(state_key, done)
    return {
        task: capability_change(
            task,
            done["before"][task],
            done["after"][task],
            resamples=config.bootstrap_resamples,
            seed=run.config.seed,
        )
        for task in tasks
        if task in done.get("before", {}) and task in done.get("after", {})
    }


# -- the evaluation -------------------------------------------------------------------------------
@dataclass
class EvalMetrics:
    """The run's evaluation: its own probes, safety benchmarks and capability, before vs after."""

    judge: str
    heldout: dict[str, Any]
    benchmarks: dict[str, Any] = field(default_factory=dict)
    capability: dict[str, CapabilityChange] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    systems: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "judge": self.judge,
            "heldout": self.heldout,
            "benchmarks": self.benchmarks,
            "capability": {task: c.as_dict() for task, c in self.capability.items()},
            "settings": self.settings,
            "systems": self.systems,
            "seconds": round(self.seconds, 2),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EvalMetrics:
        """The metrics as stored in an ``eval_metrics`` artifact."""
        capability = {}
        for task, c in (data.get("capability") or {}).items():
            capability[task] = CapabilityChange(
                task=task,
                metric=c["metric"],
                num_fewshot=int(c["num_fewshot"]),
                n=int(c["n"]),
                before=float(c["before"]["accuracy"]),
                after=float(c["after"]["accuracy"]),
                change_points=float(c["change_points"]),
                change_ci95=tuple(c["change_ci95"]),
                p_value=float(c["p_value"]),
            )
        return cls(
            judge=str(data.get("judge") or ""),
            heldout=dict(data.get("heldout") or {}),
            benchmarks=dict(data.get("benchmarks") or {}),
            capability=capability,
            settings=dict(data.get("settings") or {}),
            systems=dict(data.get("systems") or {}),
            seconds=float(data.get("seconds") or 0.0),
        )

    def paired(self, split: str, figure: str = "AC") -> dict[str, Any] | None:
        """A paired figure on the run's own probes (``heldout``/``failures``...)."""
        return (self.heldout.get(split) or {}).get(figure)

    def table(self) -> str:
        """Plain-text tables: own probes, benchmarks, capability."""

        def rate(r: dict[str, Any] | None) -> str:
            if not r or r.get("rate") is None:
                return f"{'-':>21}"
            low, high = r["ci95"]
            return f"{100 * r['rate']:5.1f}% [{100 * low:4.1f}, {100 * high:5.1f}]"

        lines = [
            f"{'figure':<34} {'n':>4} {'before [95% CI]':>21} {'after [95% CI]':>21} {'p':>8}",
        ]
        for split, title in (("heldout", "held-out"), ("failures", "trained")):
            figures = self.heldout.get(split) or {}
            for name in ("AC", "C"):
                pair = figures.get(name)
                if pair:
                    label = f"{title} combinations: {'A+C' if name == 'AC' else name} rate"
                    lines.append(
                        f"{label:<34} {pair['before']['n']:>4} {rate(pair['before'])} "
                        f"{rate(pair['after'])} {pair['p_value']:>8.3g}"
                    )
        benign = self.heldout.get("benign_refusal") or {}
        if benign.get("before"):
            lines.append(
                f"{'held-out benign: refusal rate':<34} {benign['before']['n']:>4} "
                f"{rate(benign['before'])} {rate(benign.get('after'))} "
                + (f"{benign['p_value']:>8.3g}" if benign.get("p_value") is not None else f"{'':>8}")
            )
        for name, result in self.benchmarks.items():
            rows = [(result.get("metric", "rate").replace("_", " "), result)]
            rows += [(f"{k.replace('_', ' ')}", v) for k, v in (result.get("classes") or {}).items()]
            if result.get("unsafe_contrast"):
                rows.append(("unsafe contrast: safety rate", result["unsafe_contrast"]))
            seen = set()
            for label, pair in rows:
                if label in seen:
                    continue
                seen.add(label)
                lines.append(
                    f"{(name + ': ' + label)[:34]:<34} {pair['before']['n']:>4} "
                    f"{rate(pair['before'])} {rate(pair['after'])} {pair['p_value']:>8.3g}"
                )
        if self.capability:
            lines.append("")
            lines.append(
                f"{'capability (lm-eval)':<22} {'shots':>5} {'n':>5} {'before':>7} {'after':>7} "
                f"{'change [95% CI]':>22}"
            )
            for task, c in self.capability.items():
                low, high = c.change_ci95
                lines.append(
                    f"{task + ' ' + c.metric:<22} {c.num_fewshot:>5} {c.n:>5} "
                    f"{100 * c.before:>6.1f}% {100 * c.after:>6.1f}% "
                    f"{c.change_points:>+6.1f} [{low:+5.1f}, {high:+5.1f}]"
                )
        lines.append(f"safety figures judged by: {self.judge}")
        return "\n".join(lines)


def evaluate_run(run: Run, *, progress: Progress | None = None) -> EvalMetrics:
    """Evaluate ``run``'s original vs repaired system with its ``evaluate`` settings."""
    from ares_rlhf.backends import SamplingParams, chat_model_from_config
    from ares_rlhf.evaluation.verify import systems_from_run, verify_run

    started = time.perf_counter()
    config = run.config.evaluate
    if run.latest_in_round(ArtifactKind.VERIFY_METRICS) is None:
        before, after = systems_from_run(run)
        verify_run(run, before=before, after=after)
    heldout = heldout_statistics(run)
    # "before": the policy the round started from (round 1: the configured one)
    original, repaired = run.policy_config(at_round_start=True), run.policy_config()
    policy_ids = {"before": policy_id(run, original, True), "after": policy_id(run, repaired, False)}
    judge = run.judge
    benchmarks: dict[str, Any] = {}
    folder = config.benchmarks_dir
    if folder is not None:
        from ares_rlhf.evaluation.benchmarks import load_benchmark_suite
        from ares_rlhf.evaluation.safety import PolicySystem, evaluate_safety

        suite = load_benchmark_suite(
            folder,
            benchmarks=config.benchmarks,
            limit=config.limit,
            seed=config.sample_seed,
            harmbench_category=config.harmbench_category,
        )
        generation = run.config.policy.generation
        sampling = SamplingParams(
            max_new_tokens=config.max_new_tokens or generation.max_new_tokens,
            temperature=generation.temperature,
            top_p=generation.top_p,
            # greedy answers do not depend on a seed: leave it out so runs of other seeds reuse them
            seed=run.config.seed if generation.temperature > 0 else None,
        )
        transform = None
        if config.converter:
            from ares_rlhf.converters import build_converter_chain, convert_prompts

            chain = build_converter_chain(config.converter, seed=run.config.seed)

            def transform(prompt: str) -> str:
                return convert_prompts([prompt], chain)[0]
        safety = evaluate_safety(
            run.store,
            before=PolicySystem(
                "before", lambda: chat_model_from_config(original), policy_ids["before"]
            ),
            after=PolicySystem("after", lambda: chat_model_from_config(repaired), policy_ids["after"]),
            judge=judge,
            suite=suite,
            sampling=sampling,
            transform=transform,
            progress=progress,
            batch_size=generation.batch_size,
        )
        benchmarks = safety.as_dict()["benchmarks"]
    capability = _capability(run, {"before": original, "after": repaired}, policy_ids, progress)
    metrics = EvalMetrics(
        judge=getattr(judge, "judge_id", "") or type(judge).__name__,
        heldout=heldout,
        benchmarks=benchmarks,
        capability=capability,
        settings=config.model_dump(mode="json"),
        systems={"before": original.spec, "after": repaired.spec},
        seconds=time.perf_counter() - started,
    )
    run.record(ArtifactKind.EVAL_METRICS, metrics.as_dict())
    return metrics


__all__ = [
    "CapabilityChange",
    "EvalMetrics",
    "capability_change",
    "evaluate_run",
    "heldout_statistics",
    "paired_failure_rates",
    "paired_probes",
    "policy_id",
]
