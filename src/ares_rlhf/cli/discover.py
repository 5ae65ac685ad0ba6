"""``ares discover CONFIG [--run-dir DIR] [--probes N]`` and ``ares discover --resume RUN_DIR``."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ares_rlhf.errors import ConfigError

if TYPE_CHECKING:
    from ares_rlhf.discovery.loop import DiscoveryProgress, DiscoverySummary

TYPE_NAMES = {
    "A": "A  policy-only",
    "B": "B  RM-only",
    "C": "C  systemic",
    "none": "none",
    "unscored": "unscored",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", nargs="?", help="run config YAML (see 'ares config show')")
    parser.add_argument(
        "--run-dir", help="run folder to create (default: OUTPUT_DIR/NAME-<UTC timestamp>)"
    )
    parser.add_argument("--probes", type=int, help="probe budget (overrides budget.probes)")
    parser.add_argument(
        "--resume", metavar="RUN_DIR", help="continue an interrupted run in RUN_DIR"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def new_run_dir(output_dir: Path, name: str) -> Path:
    """``<output_dir>/<name>-<UTC timestamp>`` (a suffix keeps it unique)."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    candidate = output_dir / f"{name}-{stamp}"
    suffix = 1
    while candidate.exists():
        suffix += 1
        candidate = output_dir / f"{name}-{stamp}-{suffix}"
    return candidate


def _check_args(args: argparse.Namespace) -> None:
    if args.resume and args.config:
        raise ConfigError("give either CONFIG or --resume RUN_DIR, not both")
    if not args.resume and not args.config:
        raise ConfigError("give a run CONFIG file, or --resume RUN_DIR")
    if args.resume and args.run_dir:
        raise ConfigError("--run-dir is for new runs; --resume already names the run folder")
    if args.probes is not None and args.probes < 1:
        raise ConfigError(f"--probes must be at least 1, got {args.probes}")


def run(args: argparse.Namespace) -> int:
    from ares_rlhf.config import config_to_yaml, load_config
    from ares_rlhf.discovery.loop import build_components, config_from_store, run_discovery
    from ares_rlhf.store.sqlite import RunStore

    _check_args(args)
    if args.resume:
        with RunStore.open(args.resume) as store:
            config = config_from_store(store)
    else:
        config = load_config(Path(args.config).resolve())
    if args.probes is not None:
        config = config.model_copy(
            update={"budget": config.budget.model_copy(update={"probes": args.probes})}
        )
    # Build (and so check) everything the config names before a run folder is made.
    components = build_components(config)
    try:
        if args.resume:
            store = RunStore.open(args.resume)
        else:
            run_dir = (
                Path(args.run_dir) if args.run_dir else new_run_dir(config.output_dir, config.name)
            )
            store = RunStore.create(run_dir, config.model_dump(mode="json"))
            (run_dir / "config.yaml").write_text(config_to_yaml(config), encoding="utf-8")
        with store:
            print(f"run folder: {store.run_dir}", flush=True)
            with DiscoveryProgressBar(config.budget.probes, enabled=not args.quiet) as display:
                summary = run_discovery(
                    config, store, components=components, progress=display.update
                )
            print_summary(summary)
    finally:
        components.close()
    return 0


class DiscoveryProgressBar:
    """A rich progress bar: probes done / budget, A/B/C counts, unscored, probes/s."""

    def __init__(self, budget: int, enabled: bool = True) -> None:
        self.enabled = enabled
        self.budget = budget
        self._progress = None
        self._task = None

    def __enter__(self) -> DiscoveryProgressBar:
        if self.enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._progress = Progress(
                TextColumn("discovery"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[stats]}"),
                TimeElapsedColumn(),
            )
            self._progress.start()
            self._task = self._progress.add_task("discovery", total=self.budget, stats="")
        return self

    def update(self, event: DiscoveryProgress) -> None:
        if self._progress is None:
            return
        c = event.counts
        stats = (
            f"A {c.get('A', 0)}  B {c.get('B', 0)}  C {c.get('C', 0)}  "
            f"unscored {c.get('unscored', 0)}  {event.probes_per_s:.1f} probes/s"
        )
        self._progress.update(self._task, completed=event.done, stats=stats)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()


def print_summary(summary: DiscoverySummary) -> None:
    """The end-of-run table: counts and rates per type, top C combinations, diversity."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"discovery: {summary.probes} / {summary.budget} probes")
    table.add_column("type")
    table.add_column("probes", justify="right")
    table.add_column("rate", justify="right")
    rates = summary.rates()
    for key, name in TYPE_NAMES.items():
        table.add_row(name, str(summary.counts.get(key, 0)), f"{rates.get(key, 0.0):.1%}")
    console.print(table)

    if summary.top_combinations:
        combos = Table(title="top systemic (C) combinations: topic/persona/tactic/goal")
        combos.add_column("combination")
        combos.add_column("C probes", justify="right")
        for label, count in summary.top_combinations[:5]:
            combos.add_row(label, str(count))
        console.print(combos)
        parts = "; ".join(
            f"{ctype}: " + ", ".join(f"{cid} ({n})" for cid, n in top)
            for ctype, top in summary.top_components.items()
            if top
        )
        console.print(f"top components among C: {parts}")

    div = summary.diversity
    distance = div.get("mean_pairwise_distance")
    console.print(
        f"diversity: {div.get('distinct_combinations', 0)} distinct combinations among "
        f"{div.get('failures', 0)} failures; mean pairwise prompt distance "
        + (f"{distance:.3f}" if distance is not None else "n/a")
    )
    console.print(
        f"near-duplicates skipped: {summary.skipped_duplicates}; Mentor skips: "
        f"{summary.mentor_skipped}; Mentor refusals: {summary.mentor_refused}; "
        f"RM threshold: {summary.threshold:.4g}"
    )
    if summary.stopped_early:
        console.print(
            "[yellow]stopped before the budget: several batches in a row produced no new prompt "
            "(catalog exhausted or Mentor skipping)[/yellow]"
        )
    console.print(
        f"{summary.probes_per_s:.1f} probes/s this session; run folder: {summary.run_dir}"
    )
