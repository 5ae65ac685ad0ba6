"""The ARES pipeline: the stages in order, into one run folder (``ares run``, ``ares demo``).

    build policy -> build reward model -> discovery (fixes the split) -> repair RM
    -> repair policy -> verify -> evaluate (benchmarks, capability, statistics)

Each stage is a function of the :class:`~ares_rlhf.run.Run` (and a :class:`StageUI` to report
progress). The pipeline records every stage's outcome, wall time and the peak RSS in the run
store, and writes ``RUN_DIR/summary.json`` after every stage, so a run killed at any point keeps
what it did and ``ares run --resume RUN_DIR`` continues from the first stage not completed (a
stage itself continues from its last complete step: discovery from its last batch, policy
repair from its last trainer checkpoint, verification from the system it finished).

A stage with nothing to work on (no failures to repair) is *skipped* with the reason; a stage
whose module is not installed is reported as *missing*; neither is ever faked.
"""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ares_rlhf.records import ArtifactKind
from ares_rlhf.report.summary import (
    MISSING_STAGES_KEY,
    PEAK_RSS_KEY,
    SKIPPED_STAGES_KEY,
    STAGE_PEAK_RSS_KEY,
    STAGE_SECONDS_KEY,
    STAGES_STATE_KEY,
    collect_summary,
    write_summary_json,
)
from ares_rlhf.run import Run
from ares_rlhf.runtime import release_free_memory


def peak_rss_mb() -> float:
    """Peak resident memory of this process or of its largest finished child, in MB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    scale = 1 / (1024 * 1024) if sys.platform == "darwin" else 1 / 1024  # bytes vs KiB
    return max(own, children) * scale


class StageMissing(Exception):
    """A stage's module is not available in this installation."""


class StageSkipped(Exception):
    """A stage has nothing to work on (e.g. discovery found no failures to repair)."""


@dataclass
class StageUI:
    """Where stages report: one-line messages, and whether to draw progress bars."""

    say: Callable[[str], None] = print
    show_progress: bool = True


Stage = Callable[[Run, StageUI], None]


def _import(module: str, stage: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        if error.name and error.name.startswith("ares_rlhf"):
            raise StageMissing(f"{stage}: module {error.name} is not available") from None
        raise


def require_failures(run: Run, types: tuple[str, ...], what: str) -> None:
    """Skip the stage (with the counts) when discovery found no failure of ``types``."""
    counts = run.store.failure_counts(run.phase("discovery"))
    if not any(counts.get(t, 0) for t in types):
        found = ", ".join(f"{t} {counts.get(t, 0)}" for t in ("A", "B", "C"))
        raise StageSkipped(
            f"discovery found no failures of type {'/'.join(types)} ({found}): nothing {what}"
        )


# -- the stages ---------------------------------------------------------------------------------
def stage_build_policy(run: Run, ui: StageUI) -> None:
    """Build (or load from the cache) an ``embedded:`` initial policy; other specs need nothing."""
    policy = run.config.policy
    if not policy.spec.startswith("embedded:"):
        ui.say(f"policy {policy.spec}: nothing to build")
        return
    backend = _import("ares_rlhf.embedded.backend", "build_policy")
    ui.say("initial policy: the cached build, or built now (first run: a few minutes)")
    with _training_bar("build policy", ui):
        path = backend.policy_folder(**_embedded_options(policy.options))
    ui.say(f"initial policy: {path}")
    run.record(ArtifactKind.INITIAL_POLICY, {"path": str(path)})


def stage_build_reward_model(run: Run, ui: StageUI) -> None:
    """Build (or load from the cache) an ``embedded:`` initial reward model."""
    reward_model = run.config.reward_model
    if not reward_model.spec.startswith("embedded:"):
        ui.say(f"reward model {reward_model.spec}: nothing to build")
        return
    backend = _import("ares_rlhf.embedded.backend", "build_reward_model")
    with _training_bar("build reward model", ui):
        path = backend.reward_model_folder(**_embedded_options(reward_model.options))
    ui.say(f"initial reward model: {path}")
    run.record(ArtifactKind.INITIAL_REWARD_MODEL, {"path": str(path)})


def _embedded_options(options: dict[str, Any]) -> dict[str, Any]:
    return {k: options[k] for k in ("quick", "cache_dir") if k in options}


@contextmanager
def _training_bar(title: str, ui: StageUI) -> Iterator[None]:
    """One progress bar for the trainers a build runs deep inside (a cached build shows none)."""
    from ares_rlhf.console import StageProgress
    from ares_rlhf.training.progress import reporting_to

    with StageProgress(title, ui.show_progress) as bar, reporting_to(bar.update):
        yield


def stage_discovery(run: Run, ui: StageUI) -> None:
    """Adaptive red-teaming with dual probes; fixes the run's split when it finishes."""
    loop = _import("ares_rlhf.discovery.loop", "discovery")
    from ares_rlhf.console import DiscoveryProgressBar

    with DiscoveryProgressBar(run.config.budget.probes, ui.show_progress) as bar:
        summary = loop.run_discovery(run, progress=bar.update)
    counts = summary.counts
    ui.say(
        f"discovery: {summary.probes} probes, A {counts.get('A', 0)}, B {counts.get('B', 0)}, "
        f"C {counts.get('C', 0)}, unscored {counts.get('unscored', 0)}"
    )


def stage_repair_rm(run: Run, ui: StageUI) -> None:
    """Bradley-Terry repair of the reward model on the training side's B/C failures."""
    require_failures(run, ("B", "C"), "to repair the reward model on")
    reward = _import("ares_rlhf.repair.reward", "repair_rm")
    from ares_rlhf.console import StageProgress

    with StageProgress("repair-rm", ui.show_progress) as bar:
        result = reward.repair_reward_model(
            run, progress=lambda m: ui.say(f"repair-rm: {m}"), step_progress=bar.update
        )
    ui.say(f"repaired reward model: {result.checkpoint}")


def stage_repair_policy(run: Run, ui: StageUI) -> None:
    """Optimise the policy against the repaired reward model."""
    require_failures(run, ("A", "B", "C"), "to repair the policy on")
    policy = _import("ares_rlhf.repair.policy", "repair_policy")
    from ares_rlhf.console import StageProgress

    with StageProgress("repair-policy", ui.show_progress) as bar:
        result = policy.repair_policy(run, progress=bar.update)
    resumed = f", resumed at step {result.resumed_from_step}" if result.resumed_from_step else ""
    ui.say(f"repaired policy ({result.algorithm}, {result.steps} steps{resumed}): {result.path}")


def stage_verify(run: Run, ui: StageUI) -> None:
    """Original vs repaired system, paired, on trained and held-out combinations."""
    require_failures(run, ("A", "B", "C"), "to verify")
    verify = _import("ares_rlhf.evaluation.verify", "verify")
    before, after = verify.systems_from_run(run)
    from ares_rlhf.console import StageProgress

    with StageProgress("verify", ui.show_progress) as bar:
        metrics = verify.verify_run(run, before=before, after=after, progress=bar.update)
    ui.say(metrics.table())


def stage_evaluate(run: Run, ui: StageUI) -> None:
    """Safety benchmarks and capability, original vs repaired, with intervals and p-values."""
    require_failures(run, ("A", "B", "C"), "to evaluate")
    evaluate = _import("ares_rlhf.evaluation.evaluate", "evaluate")
    from ares_rlhf.console import CountProgress

    if run.config.evaluate.benchmarks_dir is None:
        ui.say("evaluate: no evaluate.benchmarks_dir: the run's own probes only")
    with CountProgress("evaluate", ui.show_progress) as bar:
        metrics = evaluate.evaluate_run(run, progress=bar.update)
    ui.say(metrics.table())


DEFAULT_STAGES: dict[str, Stage] = {
    "build_policy": stage_build_policy,
    "build_reward_model": stage_build_reward_model,
    "discovery": stage_discovery,
    "repair_rm": stage_repair_rm,
    "repair_policy": stage_repair_policy,
    "verify": stage_verify,
    "evaluate": stage_evaluate,
}


# -- running --------------------------------------------------------------------------------------
@dataclass
class PipelineRecord:
    """Every stage's outcome, as kept in the run store (``pipeline`` state)."""

    status: dict[str, str] = field(default_factory=dict)
    """stage -> ``done``, ``skipped``, ``missing`` or ``failed``."""
    seconds: dict[str, float] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    peak_rss: dict[str, float] = field(default_factory=dict)
    """stage -> peak RSS (MB) of the process when the stage ended (cumulative)."""

    @classmethod
    def load(cls, run: Run) -> PipelineRecord:
        """The current round's record (round 1's under the plain keys)."""
        data = run.store.get_state(run.key(STAGES_STATE_KEY)) or {}
        return cls(
            status=dict(data.get("status") or {}),
            seconds=dict(run.store.get_state(run.key(STAGE_SECONDS_KEY)) or {}),
            skipped=dict(run.store.get_state(run.key(SKIPPED_STAGES_KEY)) or {}),
            peak_rss=dict(run.store.get_state(run.key(STAGE_PEAK_RSS_KEY)) or {}),
        )

    def save(self, run: Run) -> None:
        store = run.store
        store.set_state(run.key(STAGES_STATE_KEY), {"status": self.status})
        store.set_state(run.key(STAGE_SECONDS_KEY), self.seconds)
        store.set_state(PEAK_RSS_KEY, round(max(peak_rss_mb(), store.get_state(PEAK_RSS_KEY) or 0), 1))
        store.set_state(run.key(STAGE_PEAK_RSS_KEY), self.peak_rss)
        store.set_state(
            run.key(MISSING_STAGES_KEY), [s for s, v in self.status.items() if v == "missing"]
        )
        store.set_state(run.key(SKIPPED_STAGES_KEY), self.skipped)


ROUND_STAGES = ("discovery", "repair_rm", "repair_policy", "verify", "evaluate")
"""The stages every round runs again (the builds run once, in round 1)."""


def run_pipeline(
    run: Run,
    *,
    stages: dict[str, Stage] | None = None,
    ui: StageUI | None = None,
    resume: bool = False,
) -> dict[str, Any]:
    """Run the stages in order in ``run``, for ``rounds.count`` rounds; returns the summary
    (also written to summary.json).

    Round k+1 runs :data:`ROUND_STAGES` again on the system round k repaired. With ``resume``,
    the run continues in the round it was in, and stages recorded as done (or skipped) are not
    run again. A stage whose module is missing is recorded and the later stages still run if they
    can. A stage that fails stops the pipeline: the summary of what was done is written first,
    then the error propagates.
    """
    stages = dict(DEFAULT_STAGES if stages is None else stages)
    ui = ui or StageUI()
    rounds = run.config.rounds.count
    first = run.round if resume else 1
    try:
        for round_ in range(first, rounds + 1):
            if round_ != run.round:
                run.start_round(round_)
            todo = stages if round_ == 1 else {n: f for n, f in stages.items() if n in ROUND_STAGES}
            label = f"round {round_}/{rounds} " if rounds > 1 else ""
            _run_round(run, todo, ui, resume=resume and round_ == first, label=label)
    finally:
        summary = collect_summary(run)
        write_summary_json(run.run_dir, summary)
        if not isinstance(sys.exc_info()[1], KeyboardInterrupt):  # Ctrl-C: leave at once
            from ares_rlhf.report.html import write_run_report

            write_run_report(run, ui.say)  # RUN_DIR/report.html (a failure is said, not raised)
    return summary


def _run_round(
    run: Run, stages: dict[str, Stage], ui: StageUI, *, resume: bool, label: str
) -> None:
    record = PipelineRecord.load(run) if resume else PipelineRecord()
    for index, (name, stage) in enumerate(stages.items(), start=1):
        if resume and record.status.get(name) in ("done", "skipped"):
            ui.say(
                f"{label}[{index}/{len(stages)}] {name.replace('_', ' ')}: already "
                f"{record.status[name]}"
            )
            continue
        ui.say(f"{label}[{index}/{len(stages)}] {name.replace('_', ' ')}")
        started = time.perf_counter()
        status = "failed"
        try:
            stage(run, ui)
            status = "done"
        except StageMissing as error:
            status = "missing"
            ui.say(f"[{name}] SKIPPED: {error}")
        except StageSkipped as error:
            status = "skipped"
            record.skipped[name] = str(error)
            ui.say(f"[{name}] skipped: {error}")
        finally:
            earlier = record.seconds.get(name, 0.0) if record.status.get(name) else 0.0
            record.status[name] = status
            # a stage resumed after an interruption counts the time of every attempt
            record.seconds[name] = round(earlier + time.perf_counter() - started, 2)
            record.peak_rss[name] = round(peak_rss_mb(), 1)
            record.save(run)
            write_summary_json(run.run_dir, collect_summary(run))
            release_free_memory()  # the stage's models and buffers, before the next stage loads its own


__all__ = [
    "DEFAULT_STAGES",
    "PEAK_RSS_KEY",
    "PipelineRecord",
    "ROUND_STAGES",
    "Stage",
    "StageMissing",
    "StageSkipped",
    "StageUI",
    "peak_rss_mb",
    "require_failures",
    "run_pipeline",
]
