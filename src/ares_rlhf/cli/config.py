"""``ares config validate FILE`` / ``ares config show [FILE]``."""

from __future__ import annotations

import argparse
from importlib import resources

import yaml

from ares_rlhf.config import config_to_yaml, load_config, parse_config
from ares_rlhf.taxonomy import load_catalog


def default_config_text() -> str:
    """The embedded default run config (what ``ares demo`` runs)."""
    return (
        resources.files("ares_rlhf.embedded").joinpath("default.yaml").read_text(encoding="utf-8")
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    validate = sub.add_parser(
        "validate", help="check a run config file (and the catalogs it names)"
    )
    validate.add_argument("file")
    show = sub.add_parser("show", help="print the resolved config with all defaults")
    show.add_argument("file", nargs="?", help="a config file (default: the embedded default)")


def run(args: argparse.Namespace) -> int:
    if args.file:
        config = load_config(args.file)
    else:
        config = parse_config(yaml.safe_load(default_config_text()), source="embedded default")
    if args.action == "validate":
        catalog = load_catalog(config.catalog)
        sizes = ", ".join(f"{n} {t}s" for t, n in catalog.sizes().items())
        print(
            f"{args.file}: valid ({config.name}: policy {config.policy.spec}, reward model "
            f"{config.reward_model.spec}, catalog {sizes})"
        )
    else:
        print(config_to_yaml(config), end="")
    return 0
