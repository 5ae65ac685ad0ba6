"""``ares repair-rm RUN_DIR``: fine-tune a run's reward model on the B/C failures it found."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import Any

from ares_rlhf.errors import ConfigError

SET_TITLES = {
    "adversarial_heldout": "held-out attacks",
    "adversarial_train": "trained attacks",
    "anchor_heldout": "anchors (forgetting)",
    "benign_heldout": "benign (over-refusal)",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, help="run folder written by 'ares discover'")
    parser.add_argument(
        "--config",
        type=Path,
        help="YAML file: a run config (its repair_rm section is used) or repair_rm settings alone; "
        "default: the run's stored config",
    )
    parser.add_argument(
        "--anchor-dataset", help="HF dataset id or local JSONL/Parquet (chosen/rejected)"
    )
    parser.add_argument("--anchor-ratio", type=float, help="anchor pairs per adversarial pair")
    parser.add_argument("--method", choices=["full", "lora"])
    parser.add_argument("--epochs", type=float)
    parser.add_argument("--learning-rate", type=float)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--device", help="cpu, cuda, cuda:0 (default: the RM's configured device)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def _repair_config(args: argparse.Namespace, stored: dict[str, Any]):
    from pydantic import ValidationError

    from ares_rlhf.config import RewardRepairConfig
    from ares_rlhf.inputs import MAX_CONFIG_BYTES, parse_yaml, read_text

    settings: dict[str, Any] = dict(stored.get("repair_rm") or {})
    if args.config is not None:
        text = read_text(
            args.config, what="config file", error=ConfigError, max_bytes=MAX_CONFIG_BYTES
        )
        data = parse_yaml(text, str(args.config), ConfigError) or {}
        if not isinstance(data, dict):
            raise ConfigError(f"{args.config}: expected a mapping of settings")
        settings = dict(data.get("repair_rm", data) or {})
    overrides = {
        "anchor_dataset": args.anchor_dataset,
        "anchor_ratio": args.anchor_ratio,
        "method": args.method,
        "epochs": args.epochs,
        "learning_rate": args.learning_rate,
        "batch_size": args.batch_size,
    }
    settings.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return RewardRepairConfig.model_validate(settings)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"repair_rm.{where}: {first['msg']}") from None


def _fmt(value: Any, percent: bool = False) -> str:
    if value is None:
        return "-"
    return f"{100 * value:.1f}%" if percent else f"{value:+.2f}"


def metrics_table(before: dict[str, Any], after: dict[str, Any]):
    """A rich table: accuracy and margins per evaluation set, before -> after."""
    from rich.table import Table

    table = Table(title="reward-model repair: before -> after")
    table.add_column("set", no_wrap=True)
    table.add_column("pairs", justify="right", no_wrap=True)
    table.add_column("accuracy", justify="right", no_wrap=True)
    table.add_column("mean margin", justify="right", no_wrap=True)
    for name, title in SET_TITLES.items():
        b, a = before.get(name, {}), after.get(name, {})
        table.add_row(
            title,
            str(a.get("n", 0)),
            f"{_fmt(b.get('accuracy'), True)} -> {_fmt(a.get('accuracy'), True)}",
            f"{_fmt(b.get('margin_mean'))} -> {_fmt(a.get('margin_mean'))}",
        )
    return table


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from ares_rlhf.console import StageProgress
    from ares_rlhf.repair.reward import repair_reward_model
    from ares_rlhf.run import Run
    from ares_rlhf.runtime import set_resume_command

    console = Console()
    with Run.open(args.run_dir, writer=True) as run:
        set_resume_command(f"ares repair-rm {shlex.quote(str(args.run_dir))}")
        settings = _repair_config(args, run.config.model_dump(mode="json"))
        run.override("repair_rm", settings.model_dump())
        with StageProgress("repair-rm", not args.no_progress) as bar:
            result = repair_reward_model(
                run,
                device=args.device,
                progress=lambda message: console.print(f"[dim]{message}[/dim]"),
                step_progress=bar.update,
            )
    console.print(metrics_table(result.before, result.after))
    console.print(
        "[dim]held-out attacks: combinations never trained on; anchors: held-out general "
        "preference pairs; benign: held-out benign requests, helpful answer vs needless refusal; "
        "margin = mean score(chosen) - score(rejected)[/dim]"
    )
    trained = sum(
        result.counts.get(k, 0)
        for k in ("adversarial_train", "adversarial_replay", "anchor_train", "benign_train")
    )
    console.print(
        f"trained {trained} pairs in {result.train_seconds:.1f} s; repaired reward model: "
        f"hf:{result.checkpoint}"
    )
    return 0
