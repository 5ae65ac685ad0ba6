"""``ares discover CONFIG [--run-dir DIR] [--probes N]`` and ``ares discover --resume RUN_DIR``."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

from ares_rlhf.errors import ConfigError

if TYPE_CHECKING:
    from ares_rlhf.discovery.loop import DiscoverySummary
    from ares_rlhf.store.sqlite import RunStore

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
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--quiet", dest="no_progress", action="store_true", help=argparse.SUPPRESS
    )  # deprecated spelling of --no-progress, kept for existing scripts


def _check_args(args: argparse.Namespace) -> None:
    if args.resume and args.config:
        raise ConfigError("give either CONFIG or --resume RUN_DIR, not both")
    if not args.resume and not args.config:
        raise ConfigError("give a run CONFIG file, or --resume RUN_DIR")
    if args.resume and args.run_dir:
        raise ConfigError("--run-dir is for new runs; --resume already names the run folder")
    if args.probes is not None and args.probes < 1:
        raise ConfigError(f"--probes must be at least 1, got {args.probes}")


def _holds_nothing(store: RunStore) -> bool:
    """A new run with no probe, no loop state and no artifact: a failed start, nothing to keep."""
    from ares_rlhf.discovery.loop import STATE_KEY

    try:
        return (
            store.count_probes(None) == 0
            and store.get_state(STATE_KEY) is None
            and not store.artifacts()
        )
    except Exception:  # a store that cannot even be read back: keep it for inspection
        return False


def _discard_failed_start(store: RunStore, made: list[Path], wrote_config: bool) -> None:
    """Remove exactly what this command created for a run that stored nothing."""
    from ares_rlhf.store.files import remove_empty_dirs, remove_store_files
    from ares_rlhf.store.lock import LOCK_NAME
    from ares_rlhf.store.sqlite import DB_NAME

    run_dir = Path(store.run_dir)
    store.close()
    remove_store_files(run_dir / DB_NAME)
    if wrote_config:
        (run_dir / "config.yaml").unlink(missing_ok=True)
    if made:
        (run_dir / LOCK_NAME).unlink(missing_ok=True)
    remove_empty_dirs(made)


def run(args: argparse.Namespace) -> int:
    from ares_rlhf.config import config_to_yaml, load_config
    from ares_rlhf.console import DiscoveryProgressBar
    from ares_rlhf.discovery.loop import build_components, run_discovery
    from ares_rlhf.run import Run, new_run_dir
    from ares_rlhf.runtime import set_resume_command
    from ares_rlhf.store.files import make_run_dir
    from ares_rlhf.store.sqlite import RunStore

    _check_args(args)
    store = None
    if args.resume:
        # the writer lock first: a second writer is refused before it builds any model
        store = RunStore.open(args.resume, writer=True)
        try:
            config = Run.from_store(store).config
        except BaseException:
            store.close()
            raise
    else:
        config = load_config(Path(args.config).resolve())
    if args.probes is not None:
        config = config.model_copy(
            update={"budget": config.budget.model_copy(update={"probes": args.probes})}
        )
    # Build (and so check) everything the config names before a run folder is made.
    try:
        components = build_components(Run.detached(config))
    except BaseException:
        if store is not None:
            store.close()
        raise
    made: list[Path] = []
    wrote_config = False
    try:
        if store is None:
            run_dir = (
                Path(args.run_dir) if args.run_dir else new_run_dir(config.output_dir, config.name)
            )
            made = make_run_dir(run_dir)
            store = RunStore.create(run_dir, config.model_dump(mode="json"))
            wrote_config = not (run_dir / "config.yaml").exists()
            (run_dir / "config.yaml").write_text(config_to_yaml(config), encoding="utf-8")
        set_resume_command(f"ares discover --resume {shlex.quote(str(store.run_dir))}")
        print(f"run folder: {store.run_dir}", flush=True)
        with DiscoveryProgressBar(config.budget.probes, enabled=not args.no_progress) as display:
            summary = run_discovery(
                Run(store, config), components=components, progress=display.update
            )
        print_summary(summary)
    except BaseException:
        if not args.resume and store is not None and _holds_nothing(store):
            _discard_failed_start(store, made, wrote_config)
            set_resume_command(
                None,
                note=f"nothing was stored, so what this command created in {store.run_dir} was removed",
            )
        elif not args.resume and store is None and made:
            from ares_rlhf.store.files import remove_empty_dirs

            remove_empty_dirs(made)
        raise
    finally:
        if store is not None:
            store.close()
        components.close()
    return 0


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
