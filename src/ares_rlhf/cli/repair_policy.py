"""``ares repair-policy RUN_DIR``: optimise the run's policy against its repaired reward model."""

from __future__ import annotations

import argparse
import shlex


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="a run folder after discovery (and usually repair-rm)")
    parser.add_argument("--algorithm", choices=["grpo", "rloo", "dpo-rm"])
    parser.add_argument("--method", choices=["lora", "full"])
    parser.add_argument("--steps", type=int)
    parser.add_argument("--learning-rate", type=float)
    parser.add_argument("--beta", type=float, help="KL anchor (DPO's beta for dpo-rm)")
    parser.add_argument("--num-generations", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument(
        "--trainer-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra TRL config argument (YAML value), e.g. use_vllm=true vllm_mode=colocate",
    )
    parser.add_argument(
        "--judge-veto", action="store_true", help="vetoed reward when the run's judge says harmful"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def _parse_options(pairs: list[str]) -> dict[str, object]:
    import yaml

    from ares_rlhf.errors import ConfigError

    options: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--trainer-option {pair!r}: expected KEY=VALUE")
        try:
            options[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError as error:
            problem = " ".join(str(getattr(error, "problem", None) or error).split())
            raise ConfigError(
                f"--trainer-option {pair!r}: the value is not valid YAML ({problem})"
            ) from None
    return options


def run(args: argparse.Namespace) -> int:
    from ares_rlhf.console import StageProgress
    from ares_rlhf.repair.policy import PolicyRepairer
    from ares_rlhf.run import Run
    from ares_rlhf.runtime import set_resume_command

    overrides = {
        "algorithm": args.algorithm,
        "method": args.method,
        "steps": args.steps,
        "learning_rate": args.learning_rate,
        "beta": args.beta,
        "num_generations": args.num_generations,
        "batch_size": args.batch_size,
        "judge_veto": True if args.judge_veto else None,
    }
    options = _parse_options(args.trainer_option)
    with Run.open(args.run_dir, writer=True) as run:
        set_resume_command(f"ares repair-policy {shlex.quote(str(args.run_dir))}")
        if options:
            overrides["trainer_options"] = {**run.config.repair_policy.trainer_options, **options}
        run.override("repair_policy", overrides)
        with StageProgress("repair-policy", not args.no_progress) as bar:
            result = PolicyRepairer(run, progress=bar.update).run()
    counts = result.counts
    resumed = f", resumed at step {result.resumed_from_step}" if result.resumed_from_step else ""
    print(
        f"repaired policy ({result.algorithm}, {result.steps} steps{resumed}, {result.seconds:.0f} s) "
        f"on {counts.get('adversarial', 0)} adversarial + {counts.get('benign', 0)} benign prompts; "
        f"{counts.get('heldout_combinations', 0)} combinations held out for verify"
    )
    print(f"saved to {result.path}")
    return 0
