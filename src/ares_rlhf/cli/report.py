"""``ares report RUN_DIR``: print a run's headline figures (and optionally rewrite summary.json
or write the self-contained HTML report)."""

from __future__ import annotations

import argparse
import json
import sys

from ares_rlhf.report.summary import collect_summary, print_summary, write_summary_json
from ares_rlhf.run import Run


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="a run folder (holds ares.db)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON instead")
    parser.add_argument(
        "--write", action="store_true", help="also (re)write RUN_DIR/summary.json from the store"
    )
    parser.add_argument(
        "--html",
        nargs="?",
        const="",
        metavar="PATH",
        help="also write the self-contained HTML report (plots, failure map, examples) to PATH "
        "(default: RUN_DIR/report.html)",
    )


def run(args: argparse.Namespace) -> int:
    html_path = None
    with Run.open(args.run_dir) as run:
        summary = collect_summary(run)
        if args.html is not None:
            from ares_rlhf.report.html import write_html_report

            html_path = write_html_report(run, args.html or None)
    if args.write:
        write_summary_json(args.run_dir, summary)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print_summary(summary)
    if html_path is not None:
        # with --json, stdout stays one JSON document
        print(f"HTML report: {html_path}", file=sys.stderr if args.json else sys.stdout)
    return 0
