"""The ``ares`` command line.

Each sub-command lives in the module of its stage and is imported only when it runs, so
``ares --help`` stays fast. A command module provides ``add_arguments(parser)`` and
``run(args) -> int``. Errors in the user's input or environment print one line and exit with
code 2; bugs show a traceback and exit with 1 (see ``cli/failure.py``). Before any command is
imported, the offline and no-telemetry switches are set (``runtime.configure_egress``).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from collections.abc import Sequence

from ares_rlhf import __version__
from ares_rlhf.cli.failure import DEBUG_VARIABLE, describe_failure, exit_code
from ares_rlhf.errors import AresUserError, BackendError
from ares_rlhf.runtime import (
    configure_console,
    configure_egress,
    failure_note,
    resume_command,
    set_resume_command,
    tune_allocator,
)

GLOBAL_FLAGS = ("--allow-hub", "--debug", "--verbose")

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("ares_rlhf.cli.demo", "run the whole ARES pipeline on the embedded default system"),
    "run": ("ares_rlhf.cli.run", "run the whole ARES pipeline on a config into one run folder"),
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
    "eval": (
        "ares_rlhf.cli.eval",
        "original vs repaired: own probes, safety benchmarks, capability, with statistics",
    ),
    "compare": ("ares_rlhf.cli.compare", "compare two runs, phases, rounds or models, paired"),
    "report": ("ares_rlhf.cli.report", "summarise a run folder"),
    "export": ("ares_rlhf.cli.export", "export probes, RM repair pairs or policy repair prompts"),
    "config": ("ares_rlhf.cli.config", "validate or show a run configuration"),
    "catalog": ("ares_rlhf.cli.catalog", "list or show the component catalog"),
    "judge": ("ares_rlhf.cli.judge", "evaluate a harm judge against labelled examples"),
    "bench": (
        "ares_rlhf.cli.bench",
        "benchmarks (discovery coverage on ground-truth arenas)",
    ),
}


class OneLineParser(argparse.ArgumentParser):
    """argparse with usage errors on one line (``ares CMD: error: ... (see --help)``), exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _top_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="ares",
        description="ARES: adaptive red-teaming and end-to-end repair of a policy + reward-model system.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="commands:\n"
        + "\n".join(f"  {name:<14} {text}" for name, (_, text) in COMMANDS.items())
        + "\n\nrun 'ares COMMAND --help' for a command's options",
    )
    parser.add_argument("--version", action="version", version=f"ares-rlhf {__version__}")
    parser.add_argument(
        "--allow-hub",
        action="store_true",
        help="let hub model ids and datasets download from the Hugging Face hub "
        "(also ARES_ALLOW_HUB=1); off by default: no network except configured endpoints",
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        help=f"show tracebacks for one-line errors too (also {DEBUG_VARIABLE}=1)",
    )
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="show the libraries' own logging, progress bars and warnings (silenced by default; "
        "also ARES_VERBOSE=1)",
    )
    parser.add_argument("command", nargs="?", choices=list(COMMANDS), metavar="COMMAND")
    return parser


def _continue_hint(error: BaseException | None = None) -> str:
    """The advice that ends a failure line: how to continue the run (or what was removed).

    Only for failures that rerunning can get past (an interruption, a server or disk problem, a
    bug); a bad input (config, catalog, store contents) must be fixed first.
    """
    note, command = failure_note(), resume_command()
    if note:
        return f"; {note}"
    if command is None or (
        isinstance(error, AresUserError) and not isinstance(error, BackendError)
    ):
        return ""
    return f"; everything written so far is kept; to continue: {command}"


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    flags = set()
    while argv and argv[0] in GLOBAL_FLAGS:
        flags.add(argv.pop(0))
    top = _top_parser()
    if not argv or argv[0].startswith("-"):
        top.parse_args(argv)  # handles --help / --version, then exits
        top.print_help()
        return 0
    name = argv[0]
    if name not in COMMANDS:
        top.error(f"unknown command {name!r}; choose from {', '.join(COMMANDS)}")
    configure_egress(allow_hub=True if "--allow-hub" in flags else None)
    configure_console(verbose=True if "--verbose" in flags else None)
    debug = "--debug" in flags or os.environ.get(DEBUG_VARIABLE, "") not in ("", "0")
    module_name, help_text = COMMANDS[name]
    tune_allocator()
    set_resume_command(None)
    module = importlib.import_module(module_name)
    parser = OneLineParser(prog=f"ares {name}", description=help_text)
    module.add_arguments(parser)
    args = parser.parse_args(argv[1:])
    try:
        return int(module.run(args) or 0)
    except BrokenPipeError:  # the reader of our output went away (`ares report RUN | head`)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        hint = _continue_hint() or "; everything written so far is kept"
        print(f"ares {name}: interrupted{hint}", file=sys.stderr)
        return 130
    except Exception as error:
        message = describe_failure(error)
        if message is None or debug:
            traceback.print_exc()
        if message is None:
            print(
                f"ares {name}: internal error ({type(error).__name__}): this is a bug in ARES, "
                f"please report it with the traceback above{_continue_hint()}",
                file=sys.stderr,
            )
            return 1
        print(f"ares {name}: error: {message}{_continue_hint(error)}", file=sys.stderr)
        return exit_code(error)


if __name__ == "__main__":
    raise SystemExit(main())
