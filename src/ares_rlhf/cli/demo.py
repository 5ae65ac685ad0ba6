"""``ares demo [--quick] [--output-dir DIR]``: the whole ARES loop on the embedded default system.

Stages, in one run folder: build (or load from the cache) the initial policy and reward model ->
discovery (adaptive search, dual probes) -> RM repair -> policy repair -> verify (before vs
after on held-out combinations). Each stage's wall time, the process's peak RSS (children
included) and the headline figures land in the run store and in ``RUN_DIR/summary.json``.
A stage whose module is not installed is reported as missing, never faked.
"""

from __future__ import annotations

import argparse
import gc
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ares_rlhf.cli.discover import DiscoveryProgressBar
from ares_rlhf.config import RunConfig, config_to_yaml, parse_config
from ares_rlhf.records import Artifact
from ares_rlhf.report.summary import (
    MISSING_STAGES_KEY,
    PEAK_RSS_KEY,
    SKIPPED_STAGES_KEY,
    STAGE_SECONDS_KEY,
    collect_summary,
    print_summary,
    write_summary_json,
)
from ares_rlhf.store.sqlite import RunStore

STAGES = (
    "build_policy",
    "build_reward_model",
    "discovery",
    "repair_rm",
    "repair_policy",
    "verify",
)


def demo_config(
    *, quick: bool = False, cache_dir: str | Path | None = None, seed: int | None = None
) -> RunConfig:
    """The embedded default run config (``quick.yaml`` for ``--quick``) with demo options set."""
    name = "quick.yaml" if quick else "default.yaml"
    text = resources.files("ares_rlhf.embedded").joinpath(name).read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    for part in ("policy", "reward_model"):
        options = data[part].setdefault("options", {})
        options["quick"] = bool(quick)
        if cache_dir is not None:
            options["cache_dir"] = str(Path(cache_dir).expanduser().resolve())
    if seed is not None:
        data["seed"] = seed
    return parse_config(data, source=f"embedded {name}")


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


def _require_failures(ctx: DemoContext, types: tuple[str, ...], what: str) -> None:
    counts = ctx.store.failure_counts()
    if not any(counts.get(t, 0) for t in types):
        found = ", ".join(f"{t} {counts.get(t, 0)}" for t in ("A", "B", "C"))
        raise StageSkipped(
            f"discovery found no failures of type {'/'.join(types)} ({found}): nothing {what}"
        )


@dataclass
class DemoContext:
    """What the stages share: the config, the run store and where to report progress."""

    config: RunConfig
    store: RunStore
    say: Callable[[str], None] = print
    show_progress: bool = True
    results: dict[str, Any] = field(default_factory=dict)


Stage = Callable[[DemoContext], None]


def _import(module: str, stage: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        if error.name and error.name.startswith("ares_rlhf"):
            raise StageMissing(f"{stage}: module {error.name} is not available") from None
        raise


def _embedded_option(ctx: DemoContext, part: str, key: str) -> Any:
    return getattr(ctx.config, part).options.get(key)


def stage_build_policy(ctx: DemoContext) -> None:
    if not ctx.config.policy.spec.startswith("embedded:"):
        ctx.say(f"policy {ctx.config.policy.spec}: nothing to build")
        return
    policy = _import("ares_rlhf.embedded.policy", "build_policy")
    path = policy.build_initial_policy(
        _embedded_option(ctx, "policy", "cache_dir"),
        quick=bool(_embedded_option(ctx, "policy", "quick")),
    )
    ctx.say(f"initial policy: {path}")
    ctx.store.add_artifact(Artifact(kind="initial_policy", path=str(path)))


def stage_build_reward_model(ctx: DemoContext) -> None:
    if not ctx.config.reward_model.spec.startswith("embedded:"):
        ctx.say(f"reward model {ctx.config.reward_model.spec}: nothing to build")
        return
    backend = _import("ares_rlhf.embedded.backend", "build_reward_model")
    try:
        path = backend.reward_model_folder(
            quick=bool(_embedded_option(ctx, "reward_model", "quick")),
            cache_dir=_embedded_option(ctx, "reward_model", "cache_dir"),
        )
    except ModuleNotFoundError as error:  # pragma: no cover - depends on the installation
        raise StageMissing(f"build_reward_model: {error}") from None
    ctx.say(f"initial reward model: {path}")
    ctx.store.add_artifact(Artifact(kind="initial_reward_model", path=str(path)))


def stage_discovery(ctx: DemoContext) -> None:
    loop = _import("ares_rlhf.discovery.loop", "discovery")
    with DiscoveryProgressBar(ctx.config.budget.probes, ctx.show_progress) as bar:
        summary = loop.run_discovery(ctx.config, ctx.store, progress=bar.update)
    counts = summary.counts
    ctx.say(
        f"discovery: {summary.probes} probes, A {counts.get('A', 0)}, B {counts.get('B', 0)}, "
        f"C {counts.get('C', 0)}, unscored {counts.get('unscored', 0)}"
    )


def stage_repair_rm(ctx: DemoContext) -> None:
    _require_failures(ctx, ("B", "C"), "to repair the reward model on")
    reward = _import("ares_rlhf.repair.reward", "repair_rm")
    result = reward.repair_run(ctx.store, progress=lambda m: ctx.say(f"repair-rm: {m}"))
    ctx.say(f"repaired reward model: {result.checkpoint}")


def stage_repair_policy(ctx: DemoContext) -> None:
    _require_failures(ctx, ("A", "B", "C"), "to repair the policy on")
    policy = _import("ares_rlhf.repair.policy", "repair_policy")
    settings = ctx.config.repair_policy
    # every prompt beyond steps x batch_size would be sampled (dpo-rm) but never trained on
    result = policy.PolicyRepairer(
        settings, store=ctx.store, max_prompts=settings.steps * settings.batch_size
    ).run()
    ctx.say(f"repaired policy ({result.algorithm}, {result.steps} steps): {result.path}")


def stage_verify(ctx: DemoContext) -> None:
    _require_failures(ctx, ("A", "B", "C"), "to verify")
    verify = _import("ares_rlhf.evaluation.verify", "verify")
    from ares_rlhf.judges import judge_from_config

    before, after = verify.systems_from_run(ctx.store, ctx.config)
    metrics = verify.verify_run(
        ctx.store,
        before=before,
        after=after,
        judge=judge_from_config(ctx.config.judge),
        config=ctx.config,
    )
    ctx.say(metrics.table())


DEFAULT_STAGES: dict[str, Stage] = {
    "build_policy": stage_build_policy,
    "build_reward_model": stage_build_reward_model,
    "discovery": stage_discovery,
    "repair_rm": stage_repair_rm,
    "repair_policy": stage_repair_policy,
    "verify": stage_verify,
}


def new_run_dir(output_dir: Path, name: str) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return Path(output_dir) / f"{name}-{stamp}"


def run_demo(
    config: RunConfig,
    run_dir: str | Path,
    *,
    stages: dict[str, Stage] | None = None,
    say: Callable[[str], None] = print,
    show_progress: bool = True,
) -> dict[str, Any]:
    """Run every stage in order in a new run folder; returns the summary (also in summary.json).

    A stage whose module is missing is recorded under ``missing_stages`` and the later stages
    still run if they can. A stage that fails stops the demo: the summary of what was done is
    written first, then the error propagates.
    """
    stages = dict(DEFAULT_STAGES if stages is None else stages)
    run_dir = Path(run_dir)
    store = RunStore.create(run_dir, config.model_dump(mode="json"))
    (run_dir / "config.yaml").write_text(config_to_yaml(config), encoding="utf-8")
    ctx = DemoContext(
        config,
        store,
        say=say,
        show_progress=show_progress,
    )
    seconds: dict[str, float] = {}
    missing: list[str] = []
    skipped: dict[str, str] = {}
    try:
        for index, (name, stage) in enumerate(stages.items(), start=1):
            say(f"[{index}/{len(stages)}] {name.replace('_', ' ')}")
            started = time.perf_counter()
            try:
                stage(ctx)
            except StageMissing as error:
                missing.append(name)
                say(f"[{name}] SKIPPED: {error}")
            except StageSkipped as error:
                skipped[name] = str(error)
                say(f"[{name}] skipped: {error}")
            finally:
                seconds[name] = round(time.perf_counter() - started, 2)
                store.set_state(STAGE_SECONDS_KEY, seconds)
                store.set_state(PEAK_RSS_KEY, round(peak_rss_mb(), 1))
                store.set_state(MISSING_STAGES_KEY, missing)
                store.set_state(SKIPPED_STAGES_KEY, skipped)
                gc.collect()
    finally:
        summary = collect_summary(store)
        write_summary_json(run_dir, summary)
        store.close()
    return summary


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--quick", action="store_true", help="tiny budgets and a smaller build (CI smoke test)"
    )
    parser.add_argument(
        "--output-dir", help="the run folder to create (default: runs/embedded-default-TIMESTAMP)"
    )
    parser.add_argument(
        "--cache-dir",
        help="where the initial models are built (default: $ARES_CACHE or ~/.cache/ares-rlhf)",
    )
    parser.add_argument("--seed", type=int, help="override the run seed")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    config = demo_config(quick=args.quick, cache_dir=args.cache_dir, seed=args.seed)
    run_dir = (
        Path(args.output_dir) if args.output_dir else new_run_dir(config.output_dir, config.name)
    )
    print(f"ares demo{' --quick' if args.quick else ''}: run folder {run_dir}", flush=True)
    summary = run_demo(
        config,
        run_dir,
        say=lambda m: print(m, flush=True),
        show_progress=not args.no_progress,
    )
    print()
    print_summary(summary)
    print(f"summary written to {run_dir / 'summary.json'}")
    return 0
