"""``ares verify RUN_DIR``: original vs repaired system, paired, on the run's own probes."""

from __future__ import annotations

import argparse
import json
import shlex


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
    parser.add_argument("--json", action="store_true", help="print the metrics as JSON")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from ares_rlhf.console import StageProgress
    from ares_rlhf.evaluation.verify import systems_from_run, verify_run
    from ares_rlhf.judges import judge_from_spec
    from ares_rlhf.run import Run
    from ares_rlhf.runtime import set_resume_command

    # the writer lock for the whole command: verify stores its probes and metrics in the run
    with Run.open(args.run_dir, writer=True) as run:
        set_resume_command(f"ares verify {shlex.quote(str(args.run_dir))}")
        before, after = systems_from_run(run)
        with StageProgress("verify", not (args.no_progress or args.json)) as bar:
            metrics = verify_run(
                run,
                before=before,
                after=after,
                judge=judge_from_spec(args.judge) if args.judge else None,
                fresh=args.fresh_prompts,
                max_per_split=args.max_per_split,
                variants=args.variants,
                progress=bar.update,
            )
    if args.json:
        print(json.dumps(metrics.as_dict(), indent=2))
    else:
        print(metrics.table())
        print(f"stored as verify_metrics ({metrics.verify_id}) in {args.run_dir}")
    return 0
