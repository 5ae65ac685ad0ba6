"""``ares eval RUN_DIR``: original vs repaired system on the run's own probes, safety
benchmarks and capability tasks, with intervals and p-values (see docs/evaluation.md)."""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="a run folder after repair")
    parser.add_argument(
        "--benchmarks",
        metavar="DIR",
        help="folder with safety benchmark files under their upstream names (and capability/)",
    )
    parser.add_argument("--only", nargs="+", metavar="NAME", help="benchmarks to evaluate")
    parser.add_argument(
        "--limit",
        action="append",
        default=[],
        metavar="N|NAME=N",
        help="seeded sample size for every benchmark, or for one (repeatable)",
    )
    parser.add_argument("--capability-dir", metavar="DIR", help="default: DIR/capability")
    parser.add_argument("--tasks", help="capability tasks, comma-separated (e.g. arc_easy,piqa)")
    parser.add_argument("--capability-limit", type=int, help="items per capability task")
    parser.add_argument("--num-fewshot", type=int, help="few-shot examples for every task")
    parser.add_argument("--converter", help="converter chain for benchmark prompts, e.g. base64")
    parser.add_argument("--judge", help="judge spec overriding the run's (refusal, rubric:MODEL...)")
    parser.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def parse_limits(values: list[str]) -> int | dict[str, int] | None:
    """``["100"]`` -> 100; ``["harmbench=50", "xstest=80"]`` -> a mapping."""
    from ares_rlhf.errors import ConfigError

    if not values:
        return None
    if len(values) == 1 and "=" not in values[0]:
        try:
            return int(values[0])
        except ValueError:
            raise ConfigError(f"--limit {values[0]!r}: expected N or NAME=N") from None
    limits: dict[str, int] = {}
    for value in values:
        name, sep, size = value.partition("=")
        if not sep or not size.strip().isdigit():
            raise ConfigError(f"--limit {value!r}: expected NAME=N (a benchmark and a count)")
        limits[name.strip()] = int(size)
    return limits


def run(args: argparse.Namespace) -> int:
    from ares_rlhf.console import CountProgress
    from ares_rlhf.evaluation.evaluate import evaluate_run
    from ares_rlhf.run import Run
    from ares_rlhf.runtime import set_resume_command

    overrides = {
        "benchmarks_dir": Path(args.benchmarks).resolve() if args.benchmarks else None,
        "benchmarks": args.only,
        "limit": parse_limits(args.limit),
        "capability_dir": Path(args.capability_dir).resolve() if args.capability_dir else None,
        "capability_tasks": [t.strip() for t in args.tasks.split(",") if t.strip()]
        if args.tasks
        else None,
        "capability_limit": args.capability_limit,
        "num_fewshot": args.num_fewshot,
        "converter": args.converter,
    }
    with Run.open(args.run_dir, writer=True) as run:
        set_resume_command(f"ares eval {shlex.quote(str(args.run_dir))}")
        run.override("evaluate", {k: str(v) if isinstance(v, Path) else v for k, v in overrides.items()})
        if args.judge:
            from ares_rlhf.judges import parse_judge_spec

            run.override("judge", parse_judge_spec(args.judge).model_dump())
        with CountProgress("eval", enabled=not (args.no_progress or args.json)) as bar:
            metrics = evaluate_run(run, progress=bar.update)
    if args.json:
        print(json.dumps(metrics.as_dict()))
    else:
        print(metrics.table())
        print(f"stored as eval_metrics in {args.run_dir}")
    return 0
