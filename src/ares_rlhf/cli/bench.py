"""``ares bench discovery``: coverage of an arena's systemic combinations vs probes.

Every report also shows, at each checkpoint, the strategy's coverage over that of two references
run on the fast path with the same seeds: uniform sampling without replacement and the oracle
(which knows the systemic set; ``sim/oracle.py``).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from ares_rlhf.errors import ConfigError

BENCHMARKS = ("discovery",)


def _checkpoints(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.replace(",", " ").split()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"checkpoints must be integers, got {text!r}") from None
    if not values or any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError("checkpoints must be positive integers")
    return values


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("benchmark", choices=BENCHMARKS, help="which benchmark to run")
    parser.add_argument(
        "--arena",
        required=True,
        help="arena YAML file, the name of a shipped arena (single, pairwise, threeway, mixed), "
        "or a generated one: gen:SHAPE:SEED (shapes: fourway, near-threshold, structureless, "
        "many-tiny, rm-heavy)",
    )
    parser.add_argument(
        "--strategy", default="adaptive", help="search strategy (default: adaptive)"
    )
    parser.add_argument("--budget", type=int, default=4000, help="probes per seed (default 4000)")
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..K-1 (default 5)")
    parser.add_argument(
        "--checkpoints",
        type=_checkpoints,
        default=None,
        help="probe counts to report, e.g. '500,1000,2000,4000' (default: those <= budget, plus the budget)",
    )
    parser.add_argument("--batch-size", type=int, default=16, help="probes per batch (default 16)")
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="strategy option (number), e.g. --option explore=0.1; repeatable",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="folder for the CSV and PNG (default: runs/bench)"
    )
    parser.add_argument("--no-plot", action="store_true", help="skip the PNG plot")
    parser.add_argument(
        "--full-loop",
        action="store_true",
        help="run the real discovery loop (template Mentor, sim: policy and RM, refusal judge) "
        "instead of drawing outcomes from the arena; reports probes/s",
    )
    parser.add_argument(
        "--no-reference",
        action="store_true",
        help="skip the uniform (without replacement) and oracle reference curves",
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object instead of a table"
    )


def _options(pairs: list[str]) -> dict[str, float]:
    options: dict[str, float] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--option {pair!r}: expected KEY=VALUE")
        try:
            options[key.strip()] = float(value)
        except ValueError:
            raise ConfigError(f"--option {pair!r}: value must be a number") from None
    return options


def _load(name: str, folder: Path):
    """The arena: a file, a shipped name, or gen:SHAPE:SEED (written to ``folder`` as YAML,
    which the sim: backends of the full loop load)."""
    from ares_rlhf.sim.arena import load_arena
    from ares_rlhf.sim.generators import parse_generated, write_generated
    from ares_rlhf.taxonomy import load_catalog

    generated = parse_generated(name)
    if generated is None:
        return load_arena(name)
    shape, seed = generated
    return load_arena(write_generated(shape, load_catalog(), seed, folder / f"{shape}-{seed}.yaml"))


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def run(args: argparse.Namespace) -> int:
    from ares_rlhf.sim.bench import (
        DEFAULT_CHECKPOINTS,
        BenchResult,
        full_loop_run,
        plot_curves,
        ratios,
        reference_results,
        run_benchmark,
        write_csv,
    )

    if args.budget <= 0:
        raise ConfigError("--budget must be a positive number of probes")
    if args.seeds <= 0:
        raise ConfigError("--seeds must be at least 1")
    if args.batch_size <= 0:
        raise ConfigError("--batch-size must be at least 1")
    out = args.out or Path("runs") / "bench"
    arena = _load(args.arena, out / "arenas")
    options = _options(args.option)
    checkpoints = args.checkpoints or [c for c in DEFAULT_CHECKPOINTS if c <= args.budget]
    if args.full_loop:
        points = sorted({c for c in checkpoints if c <= args.budget} | {args.budget})
        runs, speeds = [], []
        with tempfile.TemporaryDirectory(prefix="ares-bench-") as tmp:
            for seed in range(args.seeds):
                run_, info = full_loop_run(
                    arena,
                    args.strategy,
                    args.budget,
                    seed,
                    Path(tmp) / f"seed-{seed}",
                    batch_size=args.batch_size,
                    options=options,
                )
                runs.append(run_)
                speeds.append(info["probes_per_second"] or 0.0)
        result = BenchResult(
            arena,
            args.strategy,
            args.budget,
            points,
            runs,
            mode="full-loop",
            probes_per_second=sum(speeds) / len(speeds),
        )
    else:
        result = run_benchmark(
            arena,
            args.strategy,
            args.budget,
            args.seeds,
            checkpoints=checkpoints,
            batch_size=args.batch_size,
            options=options,
        )
    references = (
        {}
        if args.no_reference
        else reference_results(
            arena, args.budget, args.seeds, checkpoints=checkpoints, batch_size=args.batch_size
        )
    )
    relative = ratios(result, references)
    stem = f"discovery-{arena.name}-{args.strategy}" + ("-full" if args.full_loop else "")
    csv_path = write_csv(result, out / f"{stem}.csv")
    png_path = (
        None if args.no_plot else plot_curves([result, *references.values()], out / f"{stem}.png")
    )
    payload = result.to_json()
    payload["reference"] = {k: v.mean_coverage() for k, v in references.items()}
    payload["ratio_to_uniform"] = relative.get("uniform")
    payload["ratio_to_oracle"] = relative.get("oracle")
    payload["csv"] = str(csv_path)
    payload["plot"] = str(png_path) if png_path else None
    if args.json:
        print(json.dumps(payload))
        return 0
    mine, regions = result.mean_coverage(), result.mean_regions()
    header = ["probes", f"{args.strategy} ({arena.name})"]
    if references:
        header += ["uniform (no repl.)", "oracle", "/ uniform", "/ oracle"]
    header.append("regions touched")
    rows = [header]
    for c in mine:
        row = [c, f"{mine[c]:.3f}"]
        if references:
            row += [
                f"{references['uniform'].mean_coverage()[c]:.3f}",
                f"{references['oracle'].mean_coverage()[c]:.3f}",
                _ratio(relative["uniform"][c]),
                _ratio(relative["oracle"][c]),
            ]
        row.append(f"{regions.get(c, 0.0):.1f}/{len(arena.regions)}")
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    print(
        f"arena {arena.name}: {arena.systemic_count} systemic of {arena.combination_count} "
        f"combinations; strategy {args.strategy}; {args.seeds} seed(s); mode {result.mode}"
        + ("; references on the fast path" if references else "")
    )
    for row in rows:
        print("  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)))
    if result.probes_per_second is not None:
        print(f"speed: {result.probes_per_second:.1f} probes/s (real loop)")
    print(f"wrote {csv_path}" + (f" and {png_path}" if png_path else ""))
    return 0
