"""Verification: re-probe the original and the repaired system on the same prompts, paired.

Two splits of component combinations (the split policy repair stored in the run):

* ``failures``: the failing (A/B/C) combinations repair trained on;
* ``heldout``: failing combinations held out from repair (generalisation).

Each system (original policy + original RM, repaired policy + repaired RM) answers the *same*
Mentor outputs (composed once), is judged by the same judge and typed with the same rules, with
the RM threshold calibrated per RM by the same policy (``typing`` in the run config). Probes are
stored with phases ``verify-before`` / ``verify-after``; the benign refusal rate (``is_refusal``
on benign requests neither repair nor discovery used) is measured for both policies; the metrics
are stored as ``Artifact(kind="verify_metrics")``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ares_rlhf.backends import ChatModel, RewardModel, SamplingParams
from ares_rlhf.config import RunConfig, TypingConfig, parse_config
from ares_rlhf.discovery.typing import TypingRules, calibrate_threshold
from ares_rlhf.errors import DataError
from ares_rlhf.judges.base import HarmJudge
from ares_rlhf.records import (
    Artifact,
    ComponentSpec,
    FailureType,
    MentorOutput,
    Probe,
    RewardScores,
)
from ares_rlhf.repair.prompts import (
    benign_examples,
    failure_probes,
    load_or_create_split,
    mentor_outputs_from_probes,
)
from ares_rlhf.store.sqlite import RunStore
from ares_rlhf.text.refusal import is_refusal

VERIFY_VARIANT_BASE = 1 << 40
"""Mentor variant numbers of verification wordings: far from discovery's per-slot variants
and from RM repair's (``repair.reward.RM_VARIANT_BASE``), so none was trained on."""
PHASE_BEFORE = "verify-before"
PHASE_AFTER = "verify-after"
SPLITS = ("failures", "heldout")


# -- the dual probe ---------------------------------------------------------------------------------
def calibrate_rules(
    reward_model: RewardModel, outputs: Sequence[MentorOutput], typing: TypingConfig
) -> TypingRules:
    """Typing rules for one RM: the fixed threshold, or the configured quantile of its safe scores."""
    if typing.reward_threshold is not None:
        return TypingRules(threshold=typing.reward_threshold, margin=typing.preference_margin)
    sample = list(outputs)[: typing.calibration_probes]
    if not sample:
        raise DataError("cannot calibrate the RM threshold: no Mentor outputs to verify on")
    scores = reward_model.score([o.messages for o in sample], [o.safe for o in sample])
    threshold = calibrate_threshold(scores, typing.reward_threshold_quantile)
    return TypingRules(threshold=threshold, margin=typing.preference_margin)


def dual_probe(
    outputs: Sequence[MentorOutput],
    *,
    policy: ChatModel,
    reward_model: RewardModel,
    judge: HarmJudge,
    rules: TypingRules,
    sampling: SamplingParams,
    phase: str,
    extra: Sequence[dict[str, Any]] | None = None,
    batch_size: int = 8,
) -> list[Probe]:
    """Answer, judge, score and type each Mentor output (one probe each, in order)."""
    probes: list[Probe] = []
    for start in range(0, len(outputs), batch_size):
        chunk = list(outputs[start : start + batch_size])
        specs = [o.spec for o in chunk]
        answers = policy.generate([o.messages for o in chunk], sampling, specs=specs)
        verdicts = judge.judge([o.prompt for o in chunk], answers)
        conversations = [o.messages for o in chunk for _ in range(3)]
        responses = [
            r for o, a in zip(chunk, answers, strict=True) for r in (a, o.malicious, o.safe)
        ]
        flat = reward_model.score(
            conversations, responses, specs=[s for s in specs for _ in range(3)]
        )
        for offset, (output, answer, verdict) in enumerate(
            zip(chunk, answers, verdicts, strict=True)
        ):
            rewards = RewardScores(*flat[3 * offset : 3 * offset + 3])
            failure, policy_failed, rm_failed = rules.classify(verdict, rewards)
            probes.append(
                Probe(
                    spec=output.spec,
                    messages=[dict(m) for m in output.messages],
                    malicious=output.malicious,
                    safe=output.safe,
                    policy_response=answer,
                    judge=verdict,
                    rewards=rewards,
                    failure_type=failure,
                    policy_failed=policy_failed,
                    rm_failed=rm_failed,
                    policy_id=policy.model_id,
                    reward_model_id=reward_model.model_id,
                    mentor_id=output.mentor_id,
                    judge_id=getattr(judge, "judge_id", ""),
                    mentor_refused=output.mentor_refused,
                    phase=phase,
                    extra=dict(extra[start + offset]) if extra else {},
                )
            )
    return probes


# -- metrics ----------------------------------------------------------------------------------------
def failure_rates(probes: Sequence[Probe]) -> dict[str, Any]:
    """Counts and rates of A/B/C/none/unscored, plus the A+C (policy answered harmfully) rate."""
    n = len(probes)
    counts = {ft.value: 0 for ft in FailureType}
    for probe in probes:
        counts[probe.failure_type.value] += 1

    def rate(k: int) -> float | None:
        return k / n if n else None

    return {
        "n": n,
        "counts": counts,
        "A": rate(counts["A"]),
        "B": rate(counts["B"]),
        "C": rate(counts["C"]),
        "AC": rate(counts["A"] + counts["C"]),
        "any": rate(counts["A"] + counts["B"] + counts["C"]),
        "unscored": rate(counts["unscored"]),
    }


def relative_reduction(before: float | None, after: float | None) -> float | None:
    """(before - after) / before; ``None`` when before is 0 or unknown."""
    if before is None or after is None or before == 0:
        return None
    return (before - after) / before


@dataclass
class VerifyMetrics:
    """Before/after rates per split and the benign refusal rates."""

    splits: dict[str, dict[str, dict[str, Any]]]
    """``split -> {"before": rates, "after": rates}``."""
    benign_refusal: dict[str, float | None]
    benign_count: int
    systems: dict[str, dict[str, str]]
    verify_id: str = ""
    seconds: float = 0.0
    benchmarks: dict[str, dict[str, Any]] = field(default_factory=dict)

    def reduction(self, split: str, key: str = "AC") -> float | None:
        rates = self.splits.get(split, {})
        return relative_reduction(rates.get("before", {}).get(key), rates.get("after", {}).get(key))

    @property
    def benign_refusal_increase(self) -> float | None:
        before, after = self.benign_refusal.get("before"), self.benign_refusal.get("after")
        return None if before is None or after is None else after - before

    def as_dict(self) -> dict[str, Any]:
        return {
            "verify_id": self.verify_id,
            "splits": self.splits,
            "relative_reduction_ac": {s: self.reduction(s) for s in self.splits},
            "relative_reduction_any": {s: self.reduction(s, "any") for s in self.splits},
            "benign_refusal": self.benign_refusal,
            "benign_refusal_increase": self.benign_refusal_increase,
            "benign_count": self.benign_count,
            "systems": self.systems,
            "seconds": round(self.seconds, 2),
            "benchmarks": self.benchmarks,
        }

    def table(self) -> str:
        """A plain-text before/after table."""

        def pct(value: float | None) -> str:
            return "   -  " if value is None else f"{100 * value:5.1f}%"

        lines = [
            f"{'split':<10} {'system':<7} {'n':>4} {'A':>7} {'B':>7} {'C':>7} {'A+C':>7} {'unscored':>9}"
        ]
        for split, pair in self.splits.items():
            for system in ("before", "after"):
                r = pair[system]
                lines.append(
                    f"{split:<10} {system:<7} {r['n']:>4} {pct(r['A']):>7} {pct(r['B']):>7} "
                    f"{pct(r['C']):>7} {pct(r['AC']):>7} {pct(r['unscored']):>9}"
                )
            lines.append(f"{'':<10} A+C relative reduction: {pct(self.reduction(split)).strip()}")
        lines.append(
            f"benign refusal ({self.benign_count} prompts): before {pct(self.benign_refusal['before']).strip()}, "
            f"after {pct(self.benign_refusal['after']).strip()}"
        )
        for name, pair in self.benchmarks.items():
            key = "over_refusal_rate" if name == "xstest" else "safety_rate"
            before, after = pair.get("before", {}), pair.get("after", {})
            lines.append(
                f"{name} {key.replace('_', ' ')}: before {pct(before.get(key)).strip()}, "
                f"after {pct(after.get(key)).strip()}"
            )
        return "\n".join(lines)


# -- the verification run ---------------------------------------------------------------------------
@dataclass
class System:
    """One policy + RM pair to verify (loaded lazily, closed after use)."""

    name: str
    load_policy: Callable[[], ChatModel]
    load_reward_model: Callable[[], RewardModel]


def verification_outputs(
    store: RunStore,
    config: RunConfig,
    *,
    mentor: Any = None,
    variant: int = 1,
    max_per_split: int | None = None,
    variants: int = 0,
) -> tuple[list[MentorOutput], list[str]]:
    """The Mentor outputs to verify on and each one's split, composed once for both systems.

    Without a ``mentor`` the stored discovery outputs are reused (the exact prompts that
    failed); with one, every combination is composed afresh (``variant``: a new wording).
    ``variants`` adds that many further wordings per combination (from ``mentor``, else the
    run's Mentor), so each combination is measured on more than one prompt; a wording that
    repeats one already chosen is dropped.
    """
    train_specs, heldout_specs = load_or_create_split(
        store, config.repair_policy.heldout_fraction, config.seed
    )
    chosen: list[tuple[ComponentSpec, str]] = []
    for split, specs in (("failures", train_specs), ("heldout", heldout_specs)):
        limited = specs if max_per_split is None else specs[:max_per_split]
        chosen.extend((spec, split) for spec in limited)
    if mentor is None:
        stored = mentor_outputs_from_probes(failure_probes(store))
        pairs = [(stored[s], split) for s, split in chosen if s in stored]
    else:
        composed = mentor.compose([s for s, _ in chosen], [variant] * len(chosen))
        pairs = [(o, split) for o, (_, split) in zip(composed, chosen, strict=True) if o]
    if variants > 0 and chosen:
        from ares_rlhf.mentor import compose_wordings, run_mentor

        split_of = dict(chosen)
        wordings = compose_wordings(
            mentor or run_mentor(config), [s for s, _ in chosen], variants, VERIFY_VARIANT_BASE
        )
        seen = {o.prompt for o, _ in pairs}
        for output in wordings:
            if output.prompt not in seen:
                seen.add(output.prompt)
                pairs.append((output, split_of[output.spec]))
    if not pairs:
        raise DataError(f"{store.run_dir}: no failing combinations to verify on")
    return [o for o, _ in pairs], [split for _, split in pairs]


def verify_run(
    store: RunStore,
    *,
    before: System,
    after: System,
    judge: HarmJudge,
    config: RunConfig | None = None,
    mentor: Any = None,
    max_per_split: int | None = None,
    variants: int | None = None,
    benign_prompts: Sequence[str] | None = None,
    benchmark_fn: Callable[[ChatModel], dict[str, Any]] | None = None,
    write: bool = True,
) -> VerifyMetrics:
    """Re-probe ``before`` and ``after`` on the same prompts; store probes and metrics.

    ``max_per_split`` and ``variants`` default to the run config's ``verify`` section.
    """
    started = time.perf_counter()
    config = config or parse_config(store.config(), source=f"{store.run_dir} (stored config)")
    outputs, splits = verification_outputs(
        store,
        config,
        mentor=mentor,
        max_per_split=config.verify.max_per_split if max_per_split is None else max_per_split,
        variants=config.verify.variants if variants is None else variants,
    )
    benign = list(benign_prompts or [b.prompt for b in benign_examples("eval")])
    verify_id = uuid.uuid4().hex[:12]
    sampling = SamplingParams(
        max_new_tokens=config.policy.generation.max_new_tokens,
        temperature=config.policy.generation.temperature,
        top_p=config.policy.generation.top_p,
        seed=config.seed,
    )
    extra = [{"split": split, "verify_id": verify_id} for split in splits]
    results: dict[str, dict[str, Any]] = {}
    systems: dict[str, dict[str, str]] = {}
    benign_refusal: dict[str, float | None] = {}
    benchmarks: dict[str, dict[str, Any]] = {}
    for name, system, phase in (("before", before, PHASE_BEFORE), ("after", after, PHASE_AFTER)):
        policy = system.load_policy()
        reward_model = system.load_reward_model()
        try:
            rules = calibrate_rules(reward_model, outputs, config.typing)
            probes = dual_probe(
                outputs,
                policy=policy,
                reward_model=reward_model,
                judge=judge,
                rules=rules,
                sampling=sampling,
                phase=phase,
                extra=[{**e, "rm_threshold": rules.threshold} for e in extra],
                batch_size=config.policy.generation.batch_size,
            )
            if write:
                store.add_probes(probes)
            answers = policy.generate([[{"role": "user", "content": p}] for p in benign], sampling)
            benign_refusal[name] = (
                sum(is_refusal(a) for a in answers) / len(answers) if answers else None
            )
            if benchmark_fn is not None:
                for bench, figures in benchmark_fn(policy).items():
                    benchmarks.setdefault(bench, {})[name] = figures
            results[name] = {
                s: failure_rates([p for p in probes if p.extra["split"] == s]) for s in SPLITS
            }
            systems[name] = {
                "policy": policy.model_id,
                "reward_model": reward_model.model_id,
                "rm_threshold": str(rules.threshold),
            }
        finally:
            policy.close()
            reward_model.close()
    metrics = VerifyMetrics(
        splits={s: {"before": results["before"][s], "after": results["after"][s]} for s in SPLITS},
        benign_refusal=benign_refusal,
        benign_count=len(benign),
        systems=systems,
        verify_id=verify_id,
        seconds=time.perf_counter() - started,
        benchmarks=benchmarks,
    )
    if write:
        store.add_artifact(Artifact(kind="verify_metrics", data=metrics.as_dict()))
    return metrics


def systems_from_run(store: RunStore, config: RunConfig) -> tuple[System, System]:
    """The original system (the run config's models) and the repaired one (the run's checkpoints)."""
    from ares_rlhf.backends import chat_model_from_config, reward_model_from_config
    from ares_rlhf.repair.policy import resolve_policy_config, resolve_reward_spec

    repaired_policy = resolve_policy_config(store, config)
    repaired_rm = resolve_reward_spec(store, config)
    before = System(
        "before",
        lambda: chat_model_from_config(config.policy),
        lambda: reward_model_from_config(config.reward_model),
    )
    after = System(
        "after",
        lambda: chat_model_from_config(repaired_policy),
        lambda: reward_model_from_config(repaired_rm),
    )
    return before, after


def verify_run_dir(
    run_dir: str | Path,
    *,
    judge: HarmJudge | None = None,
    fresh_prompts: bool = False,
    max_per_split: int | None = None,
    variants: int | None = None,
    benchmark_fn: Callable[[ChatModel], dict[str, Any]] | None = None,
) -> VerifyMetrics:
    """``ares verify``: the run's original vs repaired system, with the run's judge and Mentor."""
    from ares_rlhf.judges import judge_from_config

    with RunStore.open(run_dir) as store:
        config = parse_config(store.config(), source=f"{store.run_dir} (stored config)")
        mentor = None
        if fresh_prompts:
            from ares_rlhf.mentor import run_mentor

            mentor = run_mentor(config)
        before, after = systems_from_run(store, config)
        return verify_run(
            store,
            before=before,
            after=after,
            judge=judge or judge_from_config(config.judge),
            config=config,
            mentor=mentor,
            max_per_split=max_per_split,
            variants=variants,
            benchmark_fn=benchmark_fn,
        )
