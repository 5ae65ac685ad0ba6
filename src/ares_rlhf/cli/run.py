"""``ares run CONFIG`` / ``ares run --resume RUN_DIR``: the whole ARES pipeline into one run folder.

discovery -> RM repair -> policy repair -> verify (see :mod:`ares_rlhf.pipeline`); an
interrupted run continues with ``--resume`` from its first stage not completed.
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ares_rlhf.config import RunConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", nargs="?", help="run config YAML (see 'ares config show')")
    parser.add_argument(
        "--run-dir", help="run folder to create (default: OUTPUT_DIR/NAME-<UTC timestamp>)"
    )
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run")
    parser.add_argument(
        "--rounds",
        type=int,
        help="rounds of discovery -> repair -> evaluation (overrides rounds.count; with "
        "--resume, continues a finished run for more rounds)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def execute_pipeline(
    config: RunConfig | None,
    *,
    run_dir: Path | None,
    resume: bool,
    show_progress: bool,
    label: str,
    resume_hint: Callable[[Path], str],
    rounds: int | None = None,
) -> int:
    """Create (or reopen with ``resume``) the run folder, run the pipeline, print the summary."""
    from ares_rlhf.pipeline import StageUI, run_pipeline
    from ares_rlhf.report.html import REPORT_FILE
    from ares_rlhf.report.summary import print_summary
    from ares_rlhf.run import Run
    from ares_rlhf.runtime import set_resume_command

    if config is not None and rounds is not None:
        config = config.model_copy(update={"rounds": config.rounds.model_copy(update={"count": rounds})})
    run = Run.open(run_dir, writer=True) if resume else Run.create(config, run_dir)
    with run:
        if resume and rounds is not None:
            run.override("rounds", {"count": rounds})
        set_resume_command(resume_hint(run.run_dir))
        print(f"{label}: run folder {run.run_dir}", flush=True)
        summary = run_pipeline(
            run,
            ui=StageUI(say=lambda m: print(m, flush=True), show_progress=show_progress),
            resume=resume,
        )
    print()
    print_summary(summary)
    print(f"summary written to {run.run_dir / 'summary.json'}")
    report = run.run_dir / REPORT_FILE
    if report.is_file():
        print(f"HTML report: {report}")
    return 0


def run(args: argparse.Namespace) -> int:
    from ares_rlhf.config import load_config
    from ares_rlhf.errors import ConfigError

    if bool(args.config) == bool(args.resume):
        raise ConfigError("give a run CONFIG file, or --resume RUN_DIR (not both)")
    if args.resume and args.run_dir:
        raise ConfigError("--run-dir is for new runs; --resume already names the run folder")
    config = None if args.resume else load_config(Path(args.config).resolve())
    return execute_pipeline(
        config,
        run_dir=Path(args.resume or args.run_dir) if (args.resume or args.run_dir) else None,
        resume=bool(args.resume),
        show_progress=not args.no_progress,
        label="ares run",
        resume_hint=lambda run_dir: f"ares run --resume {shlex.quote(str(run_dir))}",
        rounds=args.rounds,
    )
