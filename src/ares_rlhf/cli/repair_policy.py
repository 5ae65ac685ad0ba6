"""``ares repair-policy RUN_DIR``: optimise the run's policy against its repaired reward model."""

from __future__ import annotations

import argparse


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


def _parse_options(pairs: list[str]) -> dict[str, object]:
    import yaml

    from ares_rlhf.errors import ConfigError

    options: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--trainer-option {pair!r}: expected KEY=VALUE")
        options[key.strip()] = yaml.safe_load(value)
    return options


def run(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from ares_rlhf.config import parse_config
    from ares_rlhf.errors import ConfigError
    from ares_rlhf.repair.policy import PolicyRepairer
    from ares_rlhf.store.sqlite import RunStore

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
    with RunStore.open(args.run_dir) as store:
        run_config = parse_config(store.config(), source=f"{args.run_dir} (stored config)")
        settings = run_config.repair_policy.model_dump()
        settings.update({k: v for k, v in overrides.items() if v is not None})
        settings["trainer_options"] = {
            **settings.get("trainer_options", {}),
            **_parse_options(args.trainer_option),
        }
        try:
            config = type(run_config.repair_policy).model_validate(settings)
        except ValidationError as error:
            first = error.errors()[0]
            field = ".".join(str(part) for part in first["loc"])
            raise ConfigError(f"repair_policy.{field}: {first['msg']}") from None
        judge = None
        if config.judge_veto:
            from ares_rlhf.judges import judge_from_config

            judge = judge_from_config(run_config.judge)
        repairer = PolicyRepairer(config, store=store, judge=judge)
        result = repairer.run()
    counts = result.counts
    print(
        f"repaired policy ({result.algorithm}, {result.steps} steps, {result.seconds:.0f} s) on "
        f"{counts.get('adversarial', 0)} adversarial + {counts.get('benign', 0)} benign prompts; "
        f"{counts.get('heldout_combinations', 0)} combinations held out for verify"
    )
    print(f"saved to {result.path}")
    return 0
