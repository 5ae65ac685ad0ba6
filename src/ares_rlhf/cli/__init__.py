"""The ``ares`` command line.

Each sub-command lives in the module of its stage and is imported only when it runs, so
``ares --help`` stays fast. A command module provides ``add_arguments(parser)`` and
``run(args) -> int``. User errors (``AresUserError``) print one line and exit with code 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from ares_rlhf import __version__
from ares_rlhf.errors import AresUserError
from ares_rlhf.runtime import tune_allocator

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("ares_rlhf.cli.demo", "run the whole ARES loop on the embedded default system"),
    "discover": (
        "ares_rlhf.cli.discover",
        "red-team a policy + reward model (dual probes, adaptive search)",
    ),
    "repair-rm": (
        "ares_rlhf.cli.repair_rm",
        "fine-tune the reward model on the failures a run found",
    ),
    "repair-policy": (
        "ares_rlhf.cli.repair_policy",
        "optimise the policy against the repaired reward model",
    ),
    "verify": (
        "ares_rlhf.cli.verify",
        "re-probe before vs after repair and report A/B/C rates",
    ),
    "report": ("ares_rlhf.cli.report", "summarise a run folder"),
    "export": ("ares_rlhf.cli.export", "export a run's probes to JSONL or Parquet"),
    "config": ("ares_rlhf.cli.config", "validate or show a run configuration"),
    "catalog": ("ares_rlhf.cli.catalog", "list or show the component catalog"),
    "judge": ("ares_rlhf.cli.judge", "evaluate a harm judge against labelled examples"),
    "bench": (
        "ares_rlhf.cli.bench",
        "benchmarks (discovery coverage on ground-truth arenas)",
    ),
}


def _top_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ares",
        description="ARES: adaptive red-teaming and end-to-end repair of a policy + reward-model system.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="commands:\n"
        + "\n".join(f"  {name:<14} {text}" for name, (_, text) in COMMANDS.items())
        + "\n\nrun 'ares COMMAND --help' for a command's options",
    )
    parser.add_argument("--version", action="version", version=f"ares-rlhf {__version__}")
    parser.add_argument("command", nargs="?", choices=list(COMMANDS), metavar="COMMAND")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    top = _top_parser()
    if not argv or argv[0].startswith("-"):
        top.parse_args(argv)  # handles --help / --version, then exits
        top.print_help()
        return 0
    name = argv[0]
    if name not in COMMANDS:
        top.error(f"unknown command {name!r}; choose from {', '.join(COMMANDS)}")
    module_name, help_text = COMMANDS[name]
    tune_allocator()
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(prog=f"ares {name}", description=help_text)
    module.add_arguments(parser)
    args = parser.parse_args(argv[1:])
    try:
        return int(module.run(args) or 0)
    except AresUserError as error:
        print(f"ares {name}: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print(f"ares {name}: interrupted; everything written so far is kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
