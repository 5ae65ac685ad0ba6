"""``ares verify RUN_DIR [--benchmarks DIR --limit N]``: original vs repaired system, paired."""

from __future__ import annotations

import argparse
import json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="a run folder after repair (repair-rm / repair-policy)")
    parser.add_argument(
        "--fresh-prompts",
        action="store_true",
        help="compose new wordings with the run's Mentor (default: reuse discovery's prompts)",
    )
    parser.add_argument(
        "--max-per-split", type=int, help="at most this many combinations per split"
    )
    parser.add_argument(
        "--variants",
        type=int,
        help="extra Mentor wordings per combination (default: the run config's verify.variants)",
    )
    parser.add_argument(
        "--judge", help="judge spec overriding the run's (refusal, rubric:MODEL, classifier:MODEL)"
    )
    parser.add_argument(
        "--benchmarks",
        help="folder (or dataset id) with HarmBench / StrongREJECT / XSTest CSVs to evaluate too",
    )
    parser.add_argument("--limit", type=int, help="prompts per benchmark (seeded sample)")
    parser.add_argument("--json", action="store_true", help="print the metrics as JSON")


def run(args: argparse.Namespace) -> int:
    from ares_rlhf.backends import SamplingParams
    from ares_rlhf.config import parse_config
    from ares_rlhf.evaluation.verify import verify_run_dir
    from ares_rlhf.judges import judge_from_config, judge_from_spec
    from ares_rlhf.store.sqlite import RunStore

    with RunStore.open(args.run_dir) as store:
        config = parse_config(store.config(), source=f"{args.run_dir} (stored config)")
    judge = judge_from_spec(args.judge) if args.judge else judge_from_config(config.judge)
    benchmark_fn = None
    if args.benchmarks:
        from ares_rlhf.evaluation.benchmarks import evaluate_benchmarks, load_benchmark_suite

        suite = load_benchmark_suite(args.benchmarks, limit=args.limit, seed=config.seed)
        generation = config.policy.generation
        sampling = SamplingParams(
            max_new_tokens=generation.max_new_tokens,
            temperature=generation.temperature,
            top_p=generation.top_p,
            seed=config.seed,
        )

        def benchmark_fn(policy):
            return evaluate_benchmarks(policy, judge, suite, sampling=sampling)

    metrics = verify_run_dir(
        args.run_dir,
        judge=judge,
        fresh_prompts=args.fresh_prompts,
        max_per_split=args.max_per_split,
        variants=args.variants,
        benchmark_fn=benchmark_fn,
    )
    if args.json:
        print(json.dumps(metrics.as_dict(), indent=2))
    else:
        print(metrics.table())
        print(f"stored as verify_metrics ({metrics.verify_id}) in {args.run_dir}")
    return 0
