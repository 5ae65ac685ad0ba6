"""``ares export RUN_DIR --format jsonl|parquet``."""

from __future__ import annotations

import argparse
from pathlib import Path

from ares_rlhf.store.export import export_jsonl, export_parquet
from ares_rlhf.store.sqlite import RunStore


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir")
    parser.add_argument("--format", choices=["jsonl", "parquet"], default="jsonl")
    parser.add_argument(
        "--phase", default="discovery", help="probe phase to export ('all' for every phase)"
    )
    parser.add_argument("--out", help="output file (default: RUN_DIR/probes-PHASE.FORMAT)")


def run(args: argparse.Namespace) -> int:
    phase = None if args.phase == "all" else args.phase
    with RunStore.open(args.run_dir) as store:
        out = Path(args.out or Path(args.run_dir) / f"probes-{args.phase}.{args.format}")
        writer = export_jsonl if args.format == "jsonl" else export_parquet
        count = writer(store, out, phase)
    print(f"wrote {count} probes to {out}")
    return 0
