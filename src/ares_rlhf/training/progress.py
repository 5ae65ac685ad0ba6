"""Training progress for the console: a transformers ``TrainerCallback`` that reports steps and
the latest loss to a ``progress(done, total, label)`` callable.

:func:`attach_progress` adds it to a trainer and, when the console is quiet
(:func:`ares_rlhf.runtime.libraries_quiet`), removes the trainer's own console output (tqdm
bars, or the raw metric dicts transformers prints when tqdm is off). A stage that cannot pass
the callable down to where its trainer is built (the embedded builds) sets it for the duration
with :func:`reporting_to`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ares_rlhf.runtime import libraries_quiet

Progress = Callable[[int, int, str], None]
"""``progress(done, total, label)``."""
LOSS_KEYS = ("loss", "train_loss")

_ambient: list[Progress] = []


@contextmanager
def reporting_to(progress: Progress | None) -> Iterator[None]:
    """Trainers attached inside this block without an explicit callable report to ``progress``."""
    if progress is None:
        yield
        return
    _ambient.append(progress)
    try:
        yield
    finally:
        _ambient.remove(progress)


def current_progress() -> Progress | None:
    """The callable set by the innermost :func:`reporting_to` (``None`` outside one)."""
    return _ambient[-1] if _ambient else None


def step_label(label: str, loss: float | None) -> str:
    return label if loss is None else f"{label} · loss {loss:.4g}"


def progress_callback(progress: Progress, label: str) -> Any:
    """A ``TrainerCallback`` reporting ``(global_step, max_steps, "label · loss X")``."""
    from transformers import TrainerCallback

    class StepProgress(TrainerCallback):
        def __init__(self) -> None:
            self.loss: float | None = None

        def on_train_begin(self, args, state, control, **kwargs):  # noqa: ANN001
            progress(state.global_step, state.max_steps, step_label(label, self.loss))

        def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001
            for key in LOSS_KEYS:
                value = (logs or {}).get(key)
                if isinstance(value, int | float) and math.isfinite(value):
                    self.loss = float(value)
                    progress(state.global_step, state.max_steps, step_label(label, self.loss))
                    break

        def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001
            progress(state.global_step, state.max_steps, step_label(label, self.loss))

    return StepProgress()


def attach_progress(trainer: Any, label: str, progress: Progress | None = None) -> None:
    """Report ``trainer``'s steps to ``progress`` (default: :func:`current_progress`); when the
    console is quiet, drop the trainer's own printer and tqdm bar."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    if libraries_quiet():
        trainer.remove_callback(PrinterCallback)
        trainer.remove_callback(ProgressCallback)
    progress = progress or current_progress()
    if progress is not None:
        trainer.add_callback(progress_callback(progress, label))


__all__ = ["Progress", "attach_progress", "current_progress", "progress_callback", "reporting_to"]
