"""The dual-probe discovery loop: propose specs, compose, probe policy + RM, type, store, learn.

One batch = ``strategy.reseed(batch)`` -> ``propose`` -> Mentor ``compose`` -> near-duplicate
filter (re-draws) -> policy answers -> harm judge -> RM scores (policy answer, malicious, safe)
-> A/B/C typing -> one store transaction with the probes *and* the loop state -> ``observe``.

The loop is resumable by construction: :func:`run_discovery` on a store that already holds
discovery state replays the stored outcomes through the strategy (batch by batch, in order),
rebuilds the near-duplicate index from the stored prompts, and continues with the next batch
index. Every random choice is keyed on (seed, batch index), so a resumed run proposes and
composes exactly what an uninterrupted run would.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ares_rlhf.backends.base import ChatModel, RewardModel, SamplingParams
from ares_rlhf.discovery.dedup import NearDuplicateIndex, diversity_report
from ares_rlhf.discovery.probe import calibrate_rules, dual_probe
from ares_rlhf.discovery.typing import TypingRules
from ares_rlhf.judges.base import HarmJudge
from ares_rlhf.mentor.base import SafetyMentor
from ares_rlhf.records import COMPONENT_TYPES, ComponentSpec, FailureType, MentorOutput, Probe
from ares_rlhf.run import Run
from ares_rlhf.search.base import Outcome, SearchStrategy, create_strategy
from ares_rlhf.store.sqlite import RunStore
from ares_rlhf.taxonomy import Catalog

PHASE = "discovery"
STATE_KEY = "discovery"
MAX_REDRAWS = 3
"""Extra Mentor variants tried for a near-duplicate prompt before the slot is skipped."""
MAX_EMPTY_BATCHES = 5
"""Consecutive batches that write nothing (all duplicates or Mentor skips) before stopping."""


@dataclass
class DiscoveryProgress:
    """What the progress callback receives after each batch."""

    done: int
    budget: int
    counts: dict[str, int]
    skipped_duplicates: int
    mentor_skipped: int
    elapsed_s: float
    session_probes: int
    """Probes written by this process (a resumed run starts at 0)."""

    @property
    def probes_per_s(self) -> float:
        return self.session_probes / self.elapsed_s if self.elapsed_s > 0 else 0.0


@dataclass
class DiscoverySummary:
    """The outcome of a discovery run (computed from the store, so it covers resumed runs)."""

    run_dir: Path
    probes: int
    budget: int
    counts: dict[str, int]
    skipped_duplicates: int
    mentor_skipped: int
    mentor_refused: int
    threshold: float
    batches: int
    elapsed_s: float
    session_probes: int
    stopped_early: bool = False
    top_combinations: list[tuple[str, int]] = field(default_factory=list)
    """Most frequent combinations among systemic (C) failures."""
    top_components: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    """Per component type, the most frequent components among C failures."""
    diversity: dict[str, Any] = field(default_factory=dict)
    by_turns: dict[str, dict[str, int]] = field(default_factory=dict)
    """Failure-type counts of the ``single_turn`` and the ``multi_turn`` probes (with their
    number under ``probes``)."""

    @property
    def probes_per_s(self) -> float:
        return self.session_probes / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def rates(self) -> dict[str, float]:
        return {k: (v / self.probes if self.probes else 0.0) for k, v in self.counts.items()}

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_dir": str(self.run_dir),
            "probes": self.probes,
            "budget": self.budget,
            "counts": self.counts,
            "rates": self.rates(),
            "skipped_duplicates": self.skipped_duplicates,
            "mentor_skipped": self.mentor_skipped,
            "mentor_refused": self.mentor_refused,
            "threshold": self.threshold,
            "batches": self.batches,
            "elapsed_s": self.elapsed_s,
            "probes_per_s": self.probes_per_s,
            "stopped_early": self.stopped_early,
            "top_combinations": self.top_combinations,
            "top_components": self.top_components,
            "diversity": self.diversity,
            "by_turns": self.by_turns,
        }


ROUND_VARIANT_STRIDE = 1 << 36
"""Mentor variants of round k start at (k - 1) * this: every round words its prompts afresh."""
ROUND_SEED_STRIDE = 1009
"""Round k's search and sampling seed: the run seed + (k - 1) * this (a fresh search)."""


def slot_variant(batch_index: int, position: int, attempt: int, round_: int = 1) -> int:
    """The Mentor variant for one probe slot: unique per (round, batch, position, re-draw)."""
    slot = (batch_index * 1_000_003 + position) * (MAX_REDRAWS + 1) + attempt
    return (round_ - 1) * ROUND_VARIANT_STRIDE + slot


def round_seed(seed: int, round_: int) -> int:
    """The search and sampling seed of a round (round 1: the run seed itself)."""
    return seed + ROUND_SEED_STRIDE * (round_ - 1)


def batch_seed(seed: int, batch_index: int) -> int:
    """The policy's sampling seed for one batch (same batch -> same seed, also after resume)."""
    return int(np.random.default_rng([seed, batch_index, 7]).integers(0, 2**31 - 1))


@dataclass
class Components:
    """Everything a discovery run uses (see :func:`build_components`)."""

    policy: ChatModel
    reward_model: RewardModel
    judge: HarmJudge
    mentor: SafetyMentor
    strategy: SearchStrategy
    catalog: Catalog
    owned: list[Any] = field(default_factory=list)
    """Models built from the config (closed by :meth:`close`)."""

    def close(self) -> None:
        for model in self.owned:
            model.close()
        self.owned = []


def build_components(
    run: Run,
    *,
    policy: ChatModel | None = None,
    reward_model: RewardModel | None = None,
    judge: HarmJudge | None = None,
    mentor: SafetyMentor | None = None,
    strategy: SearchStrategy | None = None,
) -> Components:
    """The run's components, with any given one used instead (models load here).

    Discovery red-teams the run's *current* system: the repaired checkpoints when the run holds
    them (a later round), else the configured models.
    """
    from ares_rlhf.backends import chat_model_from_config, reward_model_from_config

    config = run.config
    owned: list[Any] = []
    catalog = strategy.catalog if strategy is not None else run.catalog
    if strategy is None:
        strategy = create_strategy(
            config.search.strategy,
            catalog,
            seed=round_seed(config.seed, run.round),
            **config.search.options,
        )
    mentor = mentor or run.mentor
    judge = judge or run.judge
    if policy is None:
        policy = chat_model_from_config(run.policy_config())
        owned.append(policy)
    if reward_model is None:
        reward_model = reward_model_from_config(run.reward_model_config())
        owned.append(reward_model)
    return Components(policy, reward_model, judge, mentor, strategy, catalog, owned)


def _initial_state(threshold: float, budget: int) -> dict[str, Any]:
    return {
        "next_batch": 0,
        "probes": 0,
        "budget": budget,
        "counts": {ft.value: 0 for ft in FailureType},
        "skipped_duplicates": 0,
        "mentor_skipped": 0,
        "mentor_refused": 0,
        "empty_batches": 0,
        "threshold": threshold,
        "done": False,
        "stopped_early": False,
    }


def dedup_text(item: MentorOutput | Probe) -> str:
    """The text near-duplicates are judged on: the prompt, or every user turn of a plan (the
    Mentor's plan as composed, also for a stored probe whose Mentor adapted the turns)."""
    if isinstance(item, Probe):
        turns = item.extra.get("mentor_plan") or item.turns
    else:
        turns = item.turns
    return "\n".join(str(t) for t in turns)


def _replay(
    store: RunStore,
    strategy: SearchStrategy | None,
    index: NearDuplicateIndex,
    phase: str = PHASE,
) -> None:
    """Feed stored probes back: outcomes to the strategy (per batch, in order; none without a
    strategy), prompts to the near-duplicate index."""
    batch: list[Outcome] = []
    current: int | None = None
    for probe in store.iter_probes(phase):
        if strategy is None:
            index.add(dedup_text(probe))
            continue
        if current is not None and probe.batch != current and batch:
            strategy.observe(batch)
            batch = []
        current = probe.batch
        batch.append(Outcome(probe.spec, probe.failure_type, probe.policy_failed, probe.rm_failed))
        index.add(dedup_text(probe))
    if batch and strategy is not None:
        strategy.observe(batch)


def _compose_unique(
    mentor: SafetyMentor,
    specs: Sequence[ComponentSpec],
    batch_index: int,
    index: NearDuplicateIndex,
    round_: int = 1,
) -> tuple[list[tuple[int, int, MentorOutput]], int, int]:
    """Compose the batch, re-drawing near-duplicates.

    Returns ``(kept, duplicates, mentor_skips)``; ``kept`` holds ``(position, variant, output)``
    in position order.
    """
    outputs = mentor.compose(
        specs, [slot_variant(batch_index, p, 0, round_) for p in range(len(specs))]
    )
    current = dict(enumerate(outputs))
    kept: list[tuple[int, int, MentorOutput]] = []
    skipped = 0
    pending = list(range(len(specs)))
    for attempt in range(MAX_REDRAWS + 1):
        if attempt and pending:
            redrawn = mentor.compose(
                [specs[p] for p in pending],
                [slot_variant(batch_index, p, attempt, round_) for p in pending],
            )
            current.update(zip(pending, redrawn, strict=True))
        still: list[int] = []
        for position in pending:
            output = current[position]
            if output is None:
                skipped += 1
            elif index.add_if_new(dedup_text(output)):
                kept.append(
                    (position, slot_variant(batch_index, position, attempt, round_), output)
                )
            else:
                still.append(position)
        pending = still
        if not pending:
            break
    kept.sort(key=lambda item: item[0])
    return kept, len(pending), skipped


def _probe_batch(
    parts: Components,
    run: Run,
    rules: TypingRules,
    batch_index: int,
    kept: Sequence[tuple[int, int, MentorOutput]],
) -> list[Probe]:
    generation = run.config.policy.generation
    return dual_probe(
        [o for _, _, o in kept],
        policy=parts.policy,
        reward_model=parts.reward_model,
        judge=parts.judge,
        rules=rules,
        sampling=SamplingParams(
            max_new_tokens=generation.max_new_tokens,
            temperature=generation.temperature,
            top_p=generation.top_p,
            seed=batch_seed(round_seed(run.config.seed, run.round), batch_index),
        ),
        phase=run.phase(PHASE),
        batch=batch_index,
        batch_size=generation.batch_size,
        mentor=parts.mentor,
        extra=[
            {"mentor_variant": variant, "fallback_used": output.fallback_used, "round": run.round}
            for _, variant, output in kept
        ],
    )


def run_discovery(
    run: Run,
    *,
    policy: ChatModel | None = None,
    reward_model: RewardModel | None = None,
    judge: HarmJudge | None = None,
    mentor: SafetyMentor | None = None,
    strategy: SearchStrategy | None = None,
    components: Components | None = None,
    progress: Callable[[DiscoveryProgress], None] | None = None,
    max_batches: int | None = None,
) -> DiscoverySummary:
    """Run (or continue) discovery in ``run`` until ``budget.probes`` probes are written.

    Components not given come from the run (or pass them all, already built, as
    ``components``); models built here are closed at the end. ``max_batches`` stops after that
    many batches in this call (the run stays resumable). When the budget is reached (or the
    search runs dry), the run's held-out split is fixed from what discovery found.
    """
    config, store = run.config, run.store
    phase, state_key = run.phase(PHASE), run.key(STATE_KEY)
    parts = components or build_components(
        run,
        policy=policy,
        reward_model=reward_model,
        judge=judge,
        mentor=mentor,
        strategy=strategy,
    )
    started = time.perf_counter()
    session = 0
    try:
        budget = config.budget.probes
        state = store.get_state(state_key)
        index = NearDuplicateIndex(config.search.dedup_threshold)
        for earlier in range(1, run.round):  # earlier rounds: no prompt is probed twice
            carry = parts.strategy if config.rounds.carry_search_state else None
            _replay(store, carry, index, run.phase(PHASE, earlier))
        if state is None:
            threshold = calibrate_rules(
                parts.reward_model,
                config.typing,
                mentor=parts.mentor,
                catalog=parts.catalog,
                seed=config.seed,
            ).threshold
            state = _initial_state(threshold, budget)
            store.set_state(state_key, state)
        else:
            _replay(store, parts.strategy, index, phase)
            state["probes"] = store.count_probes(phase)
            state["counts"] = store.failure_counts(phase)
            state["budget"] = budget
            state["done"] = state["probes"] >= budget
        rules = TypingRules(state["threshold"], config.typing.preference_margin)
        batches_run = 0
        while state["probes"] < budget and state["empty_batches"] < MAX_EMPTY_BATCHES:
            if max_batches is not None and batches_run >= max_batches:
                break
            batch_index = state["next_batch"]
            want = min(config.budget.batch_size, budget - state["probes"])
            parts.strategy.reseed(batch_index)
            specs = parts.strategy.propose(want)
            kept, duplicates, mentor_skips = _compose_unique(
                parts.mentor, specs, batch_index, index, run.round
            )
            probes = _probe_batch(parts, run, rules, batch_index, kept) if kept else []
            counts = Counter(state["counts"])
            counts.update(p.failure_type.value for p in probes)
            state = {
                **state,
                "next_batch": batch_index + 1,
                "probes": state["probes"] + len(probes),
                "counts": dict(counts),
                "skipped_duplicates": state["skipped_duplicates"] + duplicates,
                "mentor_skipped": state["mentor_skipped"] + mentor_skips,
                "mentor_refused": state["mentor_refused"] + sum(p.mentor_refused for p in probes),
                "empty_batches": 0 if probes else state["empty_batches"] + 1,
            }
            state["done"] = state["probes"] >= budget
            state["stopped_early"] = state["empty_batches"] >= MAX_EMPTY_BATCHES
            store.add_probes_and_state(probes, {state_key: state})
            parts.strategy.observe(
                [Outcome(p.spec, p.failure_type, p.policy_failed, p.rm_failed) for p in probes]
            )
            session += len(probes)
            batches_run += 1
            if progress is not None:
                progress(
                    DiscoveryProgress(
                        done=state["probes"],
                        budget=budget,
                        counts=dict(state["counts"]),
                        skipped_duplicates=state["skipped_duplicates"],
                        mentor_skipped=state["mentor_skipped"],
                        elapsed_s=time.perf_counter() - started,
                        session_probes=session,
                    )
                )
        finished = state["probes"] >= budget or state["empty_batches"] >= MAX_EMPTY_BATCHES
        if finished and any(state["counts"].get(t.value) for t in FailureType if t.is_failure):
            run.fix_split()
        return summarise(store, state, time.perf_counter() - started, session, phase)
    finally:
        if components is None:
            parts.close()


def summarise(
    store: RunStore,
    state: dict[str, Any],
    elapsed_s: float = 0.0,
    session_probes: int = 0,
    phase: str = PHASE,
) -> DiscoverySummary:
    """A summary of one phase's discovery probes in ``store`` (with the loop state's counters)."""
    systemic: Counter[str] = Counter()
    components: dict[str, Counter[str]] = {t: Counter() for t in COMPONENT_TYPES}
    failures: list[tuple[ComponentSpec, str]] = []
    by_turns = {kind: Counter({"probes": 0}) for kind in ("single_turn", "multi_turn")}
    for probe in store.iter_probes(phase):
        kind = by_turns["multi_turn" if probe.plan else "single_turn"]
        kind.update(("probes", probe.failure_type.value))
        if probe.failure_type.is_failure:
            failures.append((probe.spec, probe.prompt))
        if probe.failure_type is FailureType.SYSTEMIC:
            systemic[probe.spec.label()] += 1
            for ctype in COMPONENT_TYPES:
                components[ctype][probe.spec.get(ctype)] += 1
    return DiscoverySummary(
        run_dir=store.run_dir,
        probes=store.count_probes(phase),
        budget=state.get("budget", 0),
        counts=store.failure_counts(phase),
        skipped_duplicates=state.get("skipped_duplicates", 0),
        mentor_skipped=state.get("mentor_skipped", 0),
        mentor_refused=state.get("mentor_refused", 0),
        threshold=state.get("threshold", float("nan")),
        batches=state.get("next_batch", 0),
        elapsed_s=elapsed_s,
        session_probes=session_probes,
        stopped_early=state.get("stopped_early", False),
        top_combinations=systemic.most_common(10),
        top_components={t: c.most_common(3) for t, c in components.items()},
        diversity=diversity_report(failures).as_dict(),
        by_turns={kind: dict(counts) for kind, counts in by_turns.items()},
    )


def resume_discovery(
    run_dir: str | Path,
    *,
    progress: Callable[[DiscoveryProgress], None] | None = None,
    **components: Any,
) -> DiscoverySummary:
    """Reopen a run folder (taking its lock) and continue its discovery until the budget."""
    with Run.open(run_dir, writer=True) as run:
        return run_discovery(run, progress=progress, **components)


__all__ = [
    "Components",
    "DiscoveryProgress",
    "DiscoverySummary",
    "build_components",
    "resume_discovery",
    "run_discovery",
    "summarise",
]
