"""``ares report RUN_DIR``: print a run's headline figures (and optionally rewrite summary.json)."""

from __future__ import annotations

import argparse
import json

from ares_rlhf.report.summary import collect_summary, print_summary, write_summary_json
from ares_rlhf.run import Run


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="a run folder (holds ares.db)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON instead")
    parser.add_argument(
        "--write", action="store_true", help="also (re)write RUN_DIR/summary.json from the store"
    )


def run(args: argparse.Namespace) -> int:
    with Run.open(args.run_dir) as run:
        summary = collect_summary(run)
    if args.write:
        write_summary_json(args.run_dir, summary)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print_summary(summary)
    return 0
