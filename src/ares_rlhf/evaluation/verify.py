"""Verification: re-probe the original and the repaired system on the same prompts, paired.

Two splits of component combinations (the run's split, fixed after discovery):

* ``failures``: the failing (A/B/C) combinations repair trained on;
* ``heldout``: failing combinations held out from every repair (generalisation).

Each system (original policy + original RM, repaired policy + repaired RM) answers the *same*
Mentor outputs (composed once), is judged by the same judge and typed with the same rules, with
the RM threshold calibrated per RM on the same sample as discovery's
(:mod:`ares_rlhf.discovery.probe`, one dual-probe implementation for both). Probes are stored with
phases ``verify-before`` / ``verify-after``; the benign refusal rate (``is_refusal``) is measured
for both policies on the run's held-out benign requests; the metrics are stored as a
``verify_metrics`` artifact. A verification killed half-way reuses the system it completed.
A multi-turn combination is re-probed by replaying its user turns: each system's policy answers
every turn with its own earlier answers (:func:`stored_output`).
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ares_rlhf.backends import ChatModel, RewardModel, SamplingParams
from ares_rlhf.discovery.probe import calibrate_rules, dual_probe
from ares_rlhf.errors import DataError
from ares_rlhf.judges.base import HarmJudge
from ares_rlhf.records import ArtifactKind, ComponentSpec, FailureType, MentorOutput, Probe
from ares_rlhf.text.refusal import is_refusal

if TYPE_CHECKING:
    from ares_rlhf.run import Run

VERIFY_VARIANT_BASE = 1 << 40
"""Mentor variant numbers of verification wordings: far from discovery's per-slot variants
and from RM repair's (``repair.reward.RM_VARIANT_BASE``), so none was trained on."""
PHASE_BEFORE = "verify-before"
PHASE_AFTER = "verify-after"
SPLITS = ("failures", "heldout")
STATE_KEY = "verify"
PROGRESS_BATCHES = 4
"""Generation batches per progress report (probes and benign answers)."""
FAILURE_TYPES = (FailureType.POLICY_ONLY, FailureType.RM_ONLY, FailureType.SYSTEMIC)


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
    benign_refused: dict[str, list[bool]] = field(default_factory=dict)
    """``system -> [refused?]`` per held-out benign prompt, in the same order for both systems."""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VerifyMetrics:
        """The metrics as stored in a ``verify_metrics`` artifact."""
        return cls(
            splits=dict(data.get("splits") or {}),
            benign_refusal=dict(data.get("benign_refusal") or {}),
            benign_count=int(data.get("benign_count") or 0),
            systems=dict(data.get("systems") or {}),
            verify_id=str(data.get("verify_id") or ""),
            seconds=float(data.get("seconds") or 0.0),
            benchmarks=dict(data.get("benchmarks") or {}),
            benign_refused={k: list(v) for k, v in (data.get("benign_refused") or {}).items()},
        )

    def rates(self, split: str, side: str) -> dict[str, Any]:
        """One split's failure rates for ``before`` or ``after`` (empty when absent)."""
        return dict((self.splits.get(split) or {}).get(side) or {})

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
            "benign_refused": self.benign_refused,
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


def stored_output(probe: Probe) -> MentorOutput:
    """The Mentor output a stored probe was made from (prompt, malicious, safe).

    A multi-turn probe gives back its plan (the user turns it sent, ``extra["plan"]``) and its
    first turn as ``messages``, never the original policy's answers: each system re-answers
    every turn itself.
    """
    plan = probe.plan
    messages = [dict(m) for m in probe.messages]
    if plan:
        first_user = next(i for i, m in enumerate(messages) if m["role"] == "user")
        messages = [*messages[:first_user], {"role": "user", "content": plan[0]}]
    return MentorOutput(
        spec=probe.spec,
        messages=messages,
        malicious=probe.malicious,
        safe=probe.safe,
        mentor_id=probe.mentor_id,
        mentor_refused=probe.mentor_refused,
        plan=plan,
    )


def stored_outputs(probes: Sequence[Probe]) -> dict[ComponentSpec, MentorOutput]:
    """The first stored Mentor output of each failing combination (:func:`stored_output`)."""
    outputs: dict[ComponentSpec, MentorOutput] = {}
    for probe in probes:
        if probe.failure_type in FAILURE_TYPES and probe.spec not in outputs:
            outputs[probe.spec] = stored_output(probe)
    return outputs


def verification_outputs(
    run: Run,
    *,
    fresh: bool = False,
    variant: int = 1,
    max_per_split: int | None = None,
    variants: int = 0,
) -> tuple[list[MentorOutput], list[str]]:
    """The Mentor outputs to verify on and each one's split, composed once for both systems.

    By default the stored discovery outputs are reused (the exact prompts that failed); with
    ``fresh`` every combination is composed afresh by the run's Mentor (``variant``: a new
    wording). ``variants`` adds that many further wordings per combination, so each combination
    is measured on more than one prompt; a wording that repeats one already chosen is dropped.
    """
    split = run.split
    chosen: list[tuple[ComponentSpec, str]] = []
    earlier_heldout: list[ComponentSpec] = []
    for earlier in range(1, run.round):  # a later round also re-measures earlier held-out sets
        earlier_heldout += [s for s in run.split_of(earlier).heldout if s not in earlier_heldout]
    named = [("failures", list(split.train)), ("heldout", list(split.heldout))]
    if earlier_heldout:
        named.append(("heldout_earlier", earlier_heldout))
    for name, specs in named:
        limited = specs if max_per_split is None else specs[:max_per_split]
        chosen.extend((spec, name) for spec in limited)
    if fresh:
        composed = run.mentor.compose([s for s, _ in chosen], [variant] * len(chosen))
        pairs = [(o, name) for o, (_, name) in zip(composed, chosen, strict=True) if o]
    else:
        stored: dict[ComponentSpec, MentorOutput] = {}
        for round_ in range(run.round, 0, -1):  # the newest round's wording first
            for spec, output in stored_outputs(run.store.probes(run.phase("discovery", round_))).items():
                stored.setdefault(spec, output)
        pairs = [(stored[s], name) for s, name in chosen if s in stored]
    if variants > 0 and chosen:
        from ares_rlhf.mentor import compose_wordings

        split_of = dict(chosen)
        seen = {tuple(o.turns) for o, _ in pairs}
        for output in compose_wordings(
            run.mentor, [s for s, _ in chosen], variants, VERIFY_VARIANT_BASE
        ):
            if tuple(output.turns) not in seen:
                seen.add(tuple(output.turns))
                pairs.append((output, split_of[output.spec]))
    if not pairs:
        raise DataError(f"{run.run_dir}: no failing combinations to verify on")
    return [o for o, _ in pairs], [name for _, name in pairs]


def _fingerprint(outputs: Sequence[MentorOutput], benign: Sequence[str], run: Run) -> str:
    blob = json.dumps(
        {
            "prompts": [o.messages if o.plan is None else o.plan for o in outputs],
            "benign": list(benign),
            "typing": run.config.typing.model_dump(mode="json"),
            "generation": run.config.policy.generation.model_dump(mode="json"),
            "judge": getattr(run.judge, "judge_id", ""),
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def verify_run(
    run: Run,
    *,
    before: System,
    after: System,
    judge: HarmJudge | None = None,
    fresh: bool = False,
    max_per_split: int | None = None,
    variants: int | None = None,
    benign_prompts: Sequence[str] | None = None,
    benchmark_fn: Callable[[ChatModel], dict[str, Any]] | None = None,
    write: bool = True,
    progress: Callable[[int, int, str], None] | None = None,
) -> VerifyMetrics:
    """Re-probe ``before`` and ``after`` on the same prompts; store probes and metrics.

    ``max_per_split`` and ``variants`` default to the run config's ``verify`` section; benign
    prompts default to the run's held-out benign requests. ``progress(done, total, label)``
    hears every few batches of probes and of benign answers.
    """
    started = time.perf_counter()
    config, store = run.config, run.store
    judge = judge or run.judge
    outputs, splits = verification_outputs(
        run,
        fresh=fresh,
        max_per_split=config.verify.max_per_split if max_per_split is None else max_per_split,
        variants=config.verify.variants if variants is None else variants,
    )
    benign = list(benign_prompts or [b.prompt for b in run.benign("heldout")])
    fingerprint = _fingerprint(outputs, benign, run)
    state_key = run.key(STATE_KEY)
    state = store.get_state(state_key) or {}
    if state.get("fingerprint") != fingerprint or not write:
        state = {"fingerprint": fingerprint, "verify_id": uuid.uuid4().hex[:12], "systems": {}}
    verify_id = state["verify_id"]
    sampling = SamplingParams(
        max_new_tokens=config.policy.generation.max_new_tokens,
        temperature=config.policy.generation.temperature,
        top_p=config.policy.generation.top_p,
        seed=config.seed,
    )
    extra = [{"split": name, "verify_id": verify_id} for name in splits]
    results: dict[str, dict[str, Any]] = {}
    systems: dict[str, dict[str, str]] = {}
    benign_refusal: dict[str, float | None] = {}
    benign_refused: dict[str, list[bool]] = {}
    benchmarks: dict[str, dict[str, Any]] = {}
    present = [s for s in (*SPLITS, "heldout_earlier") if s in splits]
    phases = (("before", before, run.phase(PHASE_BEFORE)), ("after", after, run.phase(PHASE_AFTER)))
    for name, system, phase in phases:
        done = state["systems"].get(name)
        if done is not None and benchmark_fn is None:
            probes = [p for p in store.probes(phase) if p.extra.get("verify_id") == verify_id]
            if len(probes) == len(outputs):  # completed before an interruption: reuse it
                results[name] = {
                    s: failure_rates([p for p in probes if p.extra["split"] == s]) for s in present
                }
                systems[name] = done["system"]
                benign_refusal[name] = done["benign_refusal"]
                if "benign_refused" in done:
                    benign_refused[name] = done["benign_refused"]
                continue
        policy = system.load_policy()
        reward_model = system.load_reward_model()
        try:
            rules = calibrate_rules(
                reward_model, config.typing, mentor=run.mentor, catalog=run.catalog, seed=config.seed
            )
            batch_size = config.policy.generation.batch_size
            chunk = max(1, batch_size) * PROGRESS_BATCHES  # whole batches: the same answers
            probe_extra = [{**e, "rm_threshold": rules.threshold} for e in extra]
            probes = []
            for start in range(0, len(outputs), chunk):
                probes += dual_probe(
                    outputs[start : start + chunk],
                    policy=policy,
                    reward_model=reward_model,
                    judge=judge,
                    rules=rules,
                    sampling=sampling,
                    phase=phase,
                    extra=probe_extra[start : start + chunk],
                    batch_size=batch_size,
                )
                if progress is not None:
                    progress(len(probes), len(outputs), f"probing · {name}")
            answers = []
            for start in range(0, len(benign), chunk):
                chat = [[{"role": "user", "content": p}] for p in benign[start : start + chunk]]
                answers += policy.generate(chat, sampling)
                if progress is not None:
                    progress(len(answers), len(benign), f"benign requests · {name}")
            benign_refused[name] = [bool(is_refusal(a)) for a in answers]
            benign_refusal[name] = (
                sum(benign_refused[name]) / len(answers) if answers else None
            )
            if benchmark_fn is not None:
                for bench, figures in benchmark_fn(policy).items():
                    benchmarks.setdefault(bench, {})[name] = figures
            results[name] = {
                s: failure_rates([p for p in probes if p.extra["split"] == s]) for s in present
            }
            systems[name] = {
                "policy": policy.model_id,
                "reward_model": reward_model.model_id,
                "rm_threshold": str(rules.threshold),
            }
            if write:
                store.add_probes(probes)
                state["systems"][name] = {
                    "system": systems[name],
                    "benign_refusal": benign_refusal[name],
                    "benign_refused": benign_refused[name],
                }
                store.set_state(state_key, state)
        finally:
            policy.close()
            reward_model.close()
    metrics = VerifyMetrics(
        splits={
            s: {"before": results["before"][s], "after": results["after"][s]} for s in present
        },
        benign_refusal=benign_refusal,
        benign_count=len(benign),
        benign_refused=benign_refused,
        systems=systems,
        verify_id=verify_id,
        seconds=time.perf_counter() - started,
        benchmarks=benchmarks,
    )
    if write:
        run.record(ArtifactKind.VERIFY_METRICS, metrics.as_dict())
        store.set_state(state_key, None)
    return metrics


def systems_from_run(run: Run) -> tuple[System, System]:
    """The system the round started from and the one it repaired (the run's checkpoints).

    A run that records a repaired model it cannot find stops here (``DataError``); it never
    falls back to the original silently.
    """
    from ares_rlhf.backends import chat_model_from_config, reward_model_from_config

    repaired_here = any(
        run.latest_in_round(kind) is not None
        for kind in (ArtifactKind.POLICY_CHECKPOINT, ArtifactKind.RM_CHECKPOINT)
    )
    if not repaired_here:
        raise DataError(
            f"{run.run_dir}: nothing to verify: round {run.round} holds no repaired policy or "
            "reward model (run ares repair-rm / ares repair-policy first)"
        )
    # "before" is the system the round started from (round 1: the configured models)
    original_policy = run.policy_config(at_round_start=True)
    original_rm = run.reward_model_config(at_round_start=True)
    repaired_policy, repaired_rm = run.policy_config(), run.reward_model_config()
    before = System(
        "before",
        lambda: chat_model_from_config(original_policy),
        lambda: reward_model_from_config(original_rm),
    )
    after = System(
        "after",
        lambda: chat_model_from_config(repaired_policy),
        lambda: reward_model_from_config(repaired_rm),
    )
    return before, after
