"""``ares compare A B``: two runs, two phases of a run, two rounds or two models, paired.

A side is ``RUN_DIR`` (its discovery probes) or ``RUN_DIR:SELECTOR``: a phase
(``RUN:verify-after``) or ``KEY=VALUE`` parts (``RUN:round=2``, ``RUN:round=2,phase=discovery``).
See ``ares_rlhf.evaluation.compare`` and docs/evaluation.md.
"""

from __future__ import annotations

import argparse
import json
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "side_a", metavar="A", help="RUN_DIR or RUN_DIR:SELECTOR (phase, phase=NAME, round=N)"
    )
    parser.add_argument("side_b", metavar="B", help="the other side, same syntax")
    parser.add_argument(
        "--json", action="store_true", help="print the comparison as one JSON object"
    )
    parser.add_argument(
        "--show", type=int, default=10, metavar="N", help="changed combinations listed (default 10)"
    )
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _rate(rate: dict[str, Any]) -> str:
    low, high = rate["ci95"]
    interval = "" if low is None else f" [{_pct(low)}, {_pct(high)}]"
    return f"{rate['k']}/{rate['n']} {_pct(rate['rate'])}{interval}"


def _p(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def _signed(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:+.1f} pts"


def print_comparison(result: dict[str, Any], show: int) -> None:
    """Rich tables: rates per side, combination changes, the changed combinations."""
    from rich.console import Console
    from rich.table import Table

    from ares_rlhf.evaluation.compare import OUTCOME_TITLES

    console = Console()
    a, b, prompts = result["first"], result["second"], result["paired_prompts"]
    combos = result["combinations"]
    console.print(
        f"first:  {a['selection']}  ({a['probes']} probes, {a['combinations']} combinations)"
    )
    console.print(
        f"second: {b['selection']}  ({b['probes']} probes, {b['combinations']} combinations)"
    )
    rates = Table(title="failure rates (k/n, Wilson 95%)")
    for column in ("outcome", "first", "second", "change", "paired prompts", "McNemar p (prompts)"):
        rates.add_column(column, justify="left" if column == "outcome" else "right")
    for key, title in OUTCOME_TITLES.items():
        paired = prompts["outcomes"][key] if prompts else None
        rates.add_row(
            title,
            _rate(a["rates"][key]),
            _rate(b["rates"][key]),
            _signed(result["rate_change"][key]),
            "-"
            if paired is None
            else f"{paired['before']['k']} -> {paired['after']['k']} of {paired['n_paired']}",
            "-" if paired is None else _p(paired["p_value"]),
        )
    console.print(rates)
    if prompts is None:
        console.print("no prompt was probed on both sides: the combination is the paired unit")
    counts = combos["counts"]
    summary = Table(
        title=f"status of the {combos['shared']} combinations on both sides (any failure)"
    )
    for column in ("split", *(s.replace("_", " ") for s in counts)):
        summary.add_column(column, justify="left" if column == "split" else "right")
    summary.add_row("all", *(str(v) for v in counts.values()))
    if set(combos["by_split"]) - {"outside"}:
        for split in ("train", "heldout", "outside"):
            if split in combos["by_split"]:
                summary.add_row(split, *(str(v) for v in combos["by_split"][split].values()))
    console.print(summary)
    tests = Table(title="per combination: broken = at least one probe of that outcome")
    for column in (
        "outcome",
        "broken first",
        "broken second",
        "fixed",
        "newly broken",
        "McNemar p",
    ):
        tests.add_column(column, justify="left" if column == "outcome" else "right")
    for key, title in OUTCOME_TITLES.items():
        test = combos["mcnemar"][key]
        tests.add_row(
            title,
            f"{test['before']['k']}/{test['before']['n']}",
            f"{test['after']['k']}/{test['after']['n']}",
            str(test["discordant"]["b"]),
            str(test["discordant"]["c"]),
            _p(test["p_value"]),
        )
    console.print(tests)
    mean = combos["mean_failure_rate_difference"]
    low, high = mean["ci95"]
    console.print(
        f"mean per-combination failure-rate change {_signed(mean['diff'])} "
        f"[{_signed(low)}, {_signed(high)}] (paired bootstrap 95%, {mean['n']} combinations)"
    )
    console.print(
        f"combinations only on the first side: {combos['only_first']}, only on the second: "
        f"{combos['only_second']}"
    )
    changed = [r for r in combos["rows"] if r["status"] in ("newly_broken", "fixed")]
    changed.sort(key=lambda r: (r["status"] != "newly_broken", -abs(r["difference"] or 0)))
    if changed and show > 0:
        table = Table(title=f"changed combinations ({min(show, len(changed))} of {len(changed)})")
        for column in ("combination", "split", "first failed", "second failed", "change", "status"):
            table.add_column(column)
        for row in changed[:show]:
            table.add_row(
                row["combination"],
                row["split"] or "-",
                f"{row['first']['failures']}/{row['first']['n']} ({row['first']['worst']})",
                f"{row['second']['failures']}/{row['second']['n']} ({row['second']['worst']})",
                _signed(row["difference"]),
                row["status"].replace("_", " "),
            )
        console.print(table)
    for note in result["notes"]:
        console.print(f"[yellow]note: {note}[/yellow]")


def run(args: argparse.Namespace) -> int:
    from ares_rlhf.errors import ConfigError
    from ares_rlhf.evaluation.compare import compare, parse_side

    if args.show < 0:
        raise ConfigError(f"--show must be >= 0, got {args.show}")
    result = compare(parse_side(args.side_a), parse_side(args.side_b), seed=args.seed)
    if args.json:
        print(json.dumps(result))
    else:
        print_comparison(result, args.show)
    return 0
