"""``ares export RUN_DIR [--dataset probes|rm-pairs|policy-prompts] [--format jsonl|parquet|hf]``.

Writes a run's probes, its reward-model repair pairs or its policy repair prompts as a dataset
other training stacks read (TRL conventions; see docs/exports.md), to a file (``jsonl``,
``parquet``) or a ``datasets`` folder (``hf``), and/or pushes it to the Hugging Face hub
(``--push-to-hub REPO``, which needs ``ares --allow-hub``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ares_rlhf.store.export import EXPORT_DATASETS, EXPORT_FORMATS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir")
    parser.add_argument(
        "--dataset",
        choices=EXPORT_DATASETS,
        default="probes",
        help="probes (default), rm-pairs (reward-model repair pairs) or policy-prompts",
    )
    parser.add_argument(
        "--format",
        choices=EXPORT_FORMATS,
        default="jsonl",
        help="jsonl (default), parquet, or hf (a datasets.save_to_disk folder)",
    )
    parser.add_argument(
        "--phase", help="probes only: the probe phase (default discovery; 'all' for every phase)"
    )
    parser.add_argument(
        "--anchors",
        action="store_true",
        help="rm-pairs only: add the pairs of the run's repair_rm.anchor_dataset",
    )
    parser.add_argument(
        "--out",
        help="output file (a folder for --format hf); default RUN_DIR/DATASET[-PHASE].FORMAT "
        "(RUN_DIR/DATASET[-PHASE]-hf for hf); with --push-to-hub alone nothing is written here",
    )
    parser.add_argument(
        "--push-to-hub",
        metavar="REPO",
        help="also push the dataset to this hub dataset repo (splits train / heldout); needs "
        "'ares --allow-hub' and a hub token (huggingface-cli login or HF_TOKEN)",
    )
    parser.add_argument("--private", action="store_true", help="with --push-to-hub: a private repo")


def default_out(args: argparse.Namespace) -> Path:
    name = args.dataset if args.dataset != "probes" else f"probes-{args.phase or 'discovery'}"
    suffix = "-hf" if args.format == "hf" else f".{args.format}"
    return Path(args.run_dir) / f"{name}{suffix}"


def run(args: argparse.Namespace) -> int:
    from ares_rlhf.errors import ConfigError
    from ares_rlhf.runtime import hub_allowed

    if args.phase is not None and args.dataset != "probes":
        raise ConfigError(
            f"--phase applies to --dataset probes only ({args.dataset} come from discovery)"
        )
    if args.anchors and args.dataset != "rm-pairs":
        raise ConfigError("--anchors applies to --dataset rm-pairs only")
    if args.push_to_hub and not hub_allowed():
        raise ConfigError(
            "--push-to-hub needs hub access, which is off by default: rerun as "
            "'ares --allow-hub export ...' (or set ARES_ALLOW_HUB=1)"
        )
    if args.dataset == "probes":
        from ares_rlhf.store.export import probe_rows, probe_schema
        from ares_rlhf.store.sqlite import RunStore

        phase = None if args.phase == "all" else (args.phase or "discovery")
        with RunStore.open(args.run_dir) as store:
            return _finish(args, store, probe_rows(store, phase), probe_schema())
    from ares_rlhf.repair.datasets import DATASETS
    from ares_rlhf.run import Run

    kind = DATASETS[args.dataset]
    with Run.open(args.run_dir) as run:
        return _finish(args, run.store, kind.rows(run, anchors=args.anchors), kind.schema())


def _finish(args: argparse.Namespace, store, rows: list[dict], schema) -> int:
    """Write the rows (to --out, or the default path unless only pushing) and push them."""
    from ares_rlhf.store.export import push_rows_to_hub, write_rows

    if args.out or not args.push_to_hub:
        out = Path(args.out) if args.out else default_out(args)
        count = write_rows(store, rows, schema, out, args.format)
        sides = {s: sum(r.get("split") == s for r in rows) for s in ("train", "heldout")}
        print(
            f"wrote {count} {args.dataset} rows to {out} ({sides['train']} train, "
            f"{sides['heldout']} held out)"
        )
    if args.push_to_hub:
        pushed = push_rows_to_hub(rows, schema, args.push_to_hub, private=args.private)
        parts = ", ".join(f"{name} {n}" for name, n in pushed.items())
        print(f"pushed {sum(pushed.values())} {args.dataset} rows to {args.push_to_hub} ({parts})")
    return 0
