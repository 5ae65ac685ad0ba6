"""``ares demo [--quick]``: the whole ARES pipeline on the embedded default system.

The embedded default (``ares_rlhf/embedded/default.yaml``) is a miniature RLHF system built
offline from PyPI-shipped models; the demo runs the same pipeline as ``ares run`` on it, into one
run folder, and ends with the summary table (``RUN_DIR/summary.json``).
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path


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
    parser.add_argument(
        "--benchmarks",
        metavar="DIR",
        help="benchmark folder for the evaluation stage (HarmBench, StrongREJECT, XSTest... and "
        "capability/); without it the demo evaluates on its own probes only",
    )
    parser.add_argument(
        "--resume", metavar="RUN_DIR", help="continue an interrupted demo in RUN_DIR"
    )
    parser.add_argument(
        "--rounds", type=int, help="rounds of discovery -> repair -> evaluation (default 1)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from ares_rlhf.cli.run import execute_pipeline
    from ares_rlhf.embedded.demo import demo_config
    from ares_rlhf.errors import ConfigError

    if args.resume and (args.output_dir or args.seed is not None or args.quick or args.benchmarks):
        raise ConfigError("--resume continues a demo run as it was started; give only RUN_DIR")
    config = None if args.resume else demo_config(
        quick=args.quick, cache_dir=args.cache_dir, seed=args.seed, benchmarks=args.benchmarks
    )
    label = f"ares demo{' --quick' if args.quick else ''}"
    return execute_pipeline(
        config,
        run_dir=Path(args.resume or args.output_dir) if (args.resume or args.output_dir) else None,
        resume=bool(args.resume),
        show_progress=not args.no_progress,
        label=label,
        resume_hint=lambda run_dir: f"ares demo --resume {shlex.quote(str(run_dir))}",
        rounds=args.rounds,
    )
