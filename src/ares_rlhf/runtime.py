"""Process-level settings: the allocator, network egress, and the command that resumes a run.

**Egress.** :func:`configure_egress` switches huggingface_hub, transformers and datasets to
offline mode and turns telemetry off (huggingface_hub's, which TRL's trainer ping goes
through; TRL has no switch of its own) before any of them is imported. Hub access is opt-in:
``ares --allow-hub COMMAND`` or ``ARES_ALLOW_HUB=1``; telemetry stays off either way. Only the
configured endpoints (``openai:`` URLs) are then reached.

**Resume hint.** A command that works in a run folder registers the command that continues
it (:func:`set_resume_command`); the CLI prints it when the command is interrupted or fails.

**Allocator.**

A language model with a large vocabulary (Gemma's 262k tokens) allocates and frees logits
tensors of hundreds of megabytes at every step. glibc's ``malloc`` serves blocks that large with
fresh ``mmap`` calls and returns them on ``free``, so every step page-faults the whole block in
again: on the embedded demo this was a third of the CPU time (measured on 2 cores: a LoRA SFT
step of Gemma 3 270M took 9.5 s with the defaults and 6.6 s with :func:`tune_allocator`, with
identical losses). Keeping such blocks on the heap trades a higher resident size for speed.
"""

from __future__ import annotations

import ctypes
import logging
import os
import platform
import re
import sys
from collections.abc import MutableMapping

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 1 << 30
"""Blocks below this size come from the heap (glibc's default caps it at 32 MiB)."""
TRIM_THRESHOLD_BYTES = (1 << 31) - 1
"""Free heap memory kept for reuse instead of being returned to the system."""
DISABLE_VARIABLE = "ARES_DEFAULT_MALLOC"

_tuned: bool | None = None


def _glibc() -> ctypes.CDLL | None:
    """This process's glibc, or ``None`` on other systems and C libraries."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


def tune_allocator() -> bool:
    """Raise glibc's mmap and trim thresholds for this process; ``True`` when applied.

    A no-op returning ``False`` on other C libraries or when ``ARES_DEFAULT_MALLOC=1`` is set.
    Safe to call more than once.
    """
    global _tuned
    if _tuned is not None:
        return _tuned
    _tuned = False
    if os.environ.get(DISABLE_VARIABLE, "") not in ("", "0"):
        return False
    libc = _glibc()
    if libc is None:
        return False
    mmap_ok = libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1
    trim_ok = libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1
    _tuned = mmap_ok and trim_ok
    return _tuned


def release_free_memory() -> bool:
    """Hand the heap's free pages back to the system (glibc ``malloc_trim``); ``True`` if any.

    :func:`tune_allocator` keeps freed blocks on the heap for speed, so without this a model
    closed, or a stage finished, stays resident: the next model's memory adds to it. Called where
    a large working set ends (a stage, a closed model, a capability task), never in hot loops.
    A no-op returning ``False`` off glibc.
    """
    import gc

    gc.collect()
    libc = _glibc()
    return bool(libc.malloc_trim(0)) if libc is not None else False


# -- egress -----------------------------------------------------------------------------------
HUB_OPT_IN_VARIABLE = "ARES_ALLOW_HUB"
HUB_OPT_IN_HINT = (
    "Hugging Face hub access is off by default; to download hub models or datasets run "
    "'ares --allow-hub COMMAND ...' or set ARES_ALLOW_HUB=1"
)
OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")
"""Offline switches of huggingface_hub, transformers and datasets (set unless hub access is on)."""
NO_TELEMETRY_VARIABLES = ("HF_HUB_DISABLE_TELEMETRY", "DISABLE_TELEMETRY", "DO_NOT_TRACK")
"""Telemetry switches (huggingface_hub's send_telemetry, used by TRL's trainers): always set."""
HUB_MODULES = ("huggingface_hub", "transformers", "datasets", "trl")


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def hub_allowed(environ: MutableMapping[str, str] | None = None) -> bool:
    """Whether the user opted in to Hugging Face hub access (``ARES_ALLOW_HUB=1``)."""
    return _truthy((os.environ if environ is None else environ).get(HUB_OPT_IN_VARIABLE))


def configure_egress(
    allow_hub: bool | None = None, environ: MutableMapping[str, str] | None = None
) -> dict[str, str]:
    """Set the offline and no-telemetry switches; returns the variables set.

    ``allow_hub=None`` reads ``ARES_ALLOW_HUB``. Offline mode overrides a user's
    ``HF_HUB_OFFLINE=0``: opting in goes through ARES's own switch. Libraries read these
    variables when imported, so call this before importing them (the CLI does it first).
    """
    env = os.environ if environ is None else environ
    allow = hub_allowed(env) if allow_hub is None else allow_hub
    wanted = {name: "1" for name in NO_TELEMETRY_VARIABLES}
    if allow:
        env[HUB_OPT_IN_VARIABLE] = "1"  # child processes (accelerate launch...) inherit it
    else:
        wanted.update({name: "1" for name in OFFLINE_VARIABLES})
    env.update(wanted)
    return wanted


def hub_libraries_imported() -> list[str]:
    """Hub-aware libraries already imported (they read the switches at import time)."""
    return [name for name in HUB_MODULES if name in sys.modules]


def offline_hint() -> str:
    """What to tell a user whose hub id could not load: how to opt in (or that it is on)."""
    if hub_allowed():
        return "hub access is on (ARES_ALLOW_HUB): check the id, your network and HF_TOKEN"
    return HUB_OPT_IN_HINT


# -- resume hint ------------------------------------------------------------------------------
_resume_command: str | None = None
_failure_note: str | None = None


def set_resume_command(command: str | None, *, note: str | None = None) -> None:
    """Register the command that continues the current run (``None`` clears it).

    ``note`` replaces the resume advice, e.g. when a failed start removed its run folder.
    """
    global _resume_command, _failure_note
    _resume_command, _failure_note = command, note


def resume_command() -> str | None:
    """The command registered by :func:`set_resume_command`, if any."""
    return _resume_command


def failure_note() -> str | None:
    """The note registered with :func:`set_resume_command`, if any."""
    return _failure_note


def cpu_has_native_bf16() -> bool:
    """True when this CPU computes bfloat16 natively (``avx512_bf16`` or AMX): there, bf16
    halves a small model's training and generation time; elsewhere torch emulates it, tens of
    times slower than float32 (measured on an AVX2-only EPYC: 50 bf16 1024x1024 matmuls 428 s vs
    12 s in float32)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        return False
    return False


CPU_DTYPE_VARIABLE = "ARES_CPU_DTYPE"
CPU_DTYPES = ("float32", "bfloat16")


def best_cpu_dtype() -> str:
    """``bfloat16`` on a CPU with native bf16, else ``float32``; ``$ARES_CPU_DTYPE`` (``float32``
    or ``bfloat16``) overrides the choice, e.g. to reproduce on an avx512_bf16 CPU the figures
    an AVX2-only CPU measured (the embedded policy's build and answers differ between the two)."""
    chosen = os.environ.get(CPU_DTYPE_VARIABLE, "").strip()
    if chosen:
        if chosen not in CPU_DTYPES:
            from ares_rlhf.errors import ConfigError

            raise ConfigError(
                f"${CPU_DTYPE_VARIABLE}={chosen!r}: expected one of {', '.join(CPU_DTYPES)}"
            )
        return chosen
    return "bfloat16" if cpu_has_native_bf16() else "float32"


# -- console noise ----------------------------------------------------------------------------
VERBOSE_VARIABLE = "ARES_VERBOSE"
QUIET_ENVIRONMENT = {
    "TRANSFORMERS_VERBOSITY": "error",  # load reports, deprecation notes, generation advice
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
    "DATASETS_VERBOSITY": "error",
    "HF_HUB_VERBOSITY": "error",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",  # also transformers' "Loading weights" bars
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",  # "Map: 100%" and friends
    "TQDM_DISABLE": "1",  # every other tqdm bar (trainers, lm-eval, accelerate)
    "TOKENIZERS_PARALLELISM": "false",  # the "process just got forked" warning
}
"""Switches that quiet the libraries; set only where the user has not set them."""
LIBRARY_LOGGERS = (
    "transformers", "datasets", "huggingface_hub", "trl", "peft", "accelerate", "torch",
    "lm-eval", "lm_eval", "sentence_transformers", "evaluate", "urllib3", "httpx", "filelock",
)
ARES_LOGGER = "ares_rlhf"
_quiet = False


def libraries_quiet() -> bool:
    """Whether :func:`configure_console` silenced the libraries (trainers then drop their
    own console printers: their metric dicts)."""
    return _quiet


def configure_console(
    verbose: bool | None = None, environ: MutableMapping[str, str] | None = None
) -> bool:
    """Silence library logging, progress bars and warnings unless ``verbose``; returns quiet.

    ``verbose=None`` reads ``ARES_VERBOSE``. Quiet: the variables of :data:`QUIET_ENVIRONMENT`
    (not overriding the user's own), library loggers at ERROR, Python warnings ignored, and
    ARES's own logged warnings shown once per kind (numbers aside). Call it before the
    libraries are imported (the CLI does); already imported ones are switched too.
    """
    global _quiet
    import warnings

    env = os.environ if environ is None else environ
    verbose = _truthy(env.get(VERBOSE_VARIABLE)) if verbose is None else verbose
    env[VERBOSE_VARIABLE] = "1" if verbose else "0"  # child processes inherit the choice
    _quiet = not verbose
    if verbose:
        return False
    for name, value in QUIET_ENVIRONMENT.items():
        env.setdefault(name, value)
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")  # ARES's own warnings go through its logger as well
    _quiet_imported_libraries()
    ares = logging.getLogger(ARES_LOGGER)
    if not any(isinstance(h, _OncePerKindHandler) for h in ares.handlers):
        ares.addHandler(_OncePerKindHandler())
    return True


def _quiet_imported_libraries() -> None:
    """Switch libraries that were imported before :func:`configure_console` (tests, notebooks)."""
    if "transformers" in sys.modules:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    if "datasets" in sys.modules:
        import datasets

        datasets.utils.logging.set_verbosity_error()
        datasets.disable_progress_bars()
    if "huggingface_hub" in sys.modules:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()


class _OncePerKindHandler(logging.StreamHandler):
    """A stderr handler for ARES's warnings that shows each kind once (numbers ignored), so a
    warning raised per input (a truncated RM input...) does not flood the console."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)
        self.setLevel(logging.WARNING)
        self.setFormatter(logging.Formatter("warning: %(message)s"))
        self.seen: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        kind = re.sub(r"\d+(\.\d+)?", "#", message)
        if kind in self.seen:
            return
        self.seen.add(kind)
        record.msg, record.args = f"{message} (repeats hidden; --verbose shows every one)", ()
        self.stream = sys.stderr  # where stderr is now (a live progress display redirects it)
        super().emit(record)
