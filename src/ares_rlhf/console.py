"""Console displays shared by the pipeline and the commands (rich progress bars).

Every long step shows one bar with counts, elapsed time and an ETA: discovery
(:class:`DiscoveryProgressBar`), evaluation (:class:`CountProgress`, one bar per benchmark or
task) and training / answering (:class:`StageProgress`, one bar whose label says what is being
done, e.g. ``training · loss 0.412``). What the libraries print themselves is silenced by
:func:`ares_rlhf.runtime.configure_console` unless ``ares --verbose``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Self

if TYPE_CHECKING:
    from ares_rlhf.discovery.loop import DiscoveryProgress


def _columns(title: str) -> list[Any]:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return [
        TextColumn(title),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
    ]


class DiscoveryProgressBar:
    """A rich progress bar: probes done / budget, ETA, A/B/C counts, unscored, probes/s."""

    def __init__(self, budget: int, enabled: bool = True) -> None:
        self.enabled = enabled
        self.budget = budget
        self._progress = None
        self._task = None

    def __enter__(self) -> DiscoveryProgressBar:
        if self.enabled:
            from rich.progress import Progress, TextColumn

            self._progress = Progress(*_columns("discovery"), TextColumn("{task.fields[stats]}"))
            self._progress.start()
            self._task = self._progress.add_task("discovery", total=self.budget, stats="")
        return self

    def update(self, event: DiscoveryProgress) -> None:
        if self._progress is None:
            return
        c = event.counts
        stats = (
            f"A {c.get('A', 0)}  B {c.get('B', 0)}  C {c.get('C', 0)}  "
            f"unscored {c.get('unscored', 0)}  {event.probes_per_s:.1f} probes/s"
        )
        self._progress.update(self._task, completed=event.done, stats=stats)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()


class _TitledBars:
    """A rich ``Progress`` titled ``TITLE: description``, started on enter when enabled."""

    def __init__(self, title: str, enabled: bool = True) -> None:
        self.title = title
        self.enabled = enabled
        self._progress = None

    def __enter__(self) -> Self:
        if self.enabled:
            from rich.progress import Progress

            self._progress = Progress(*_columns(f"{self.title}: {{task.description}}"))
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()


class CountProgress(_TitledBars):
    """A rich progress bar for ``progress(done, total, label)`` callbacks (evaluation, training).

    One bar per label (a benchmark, a capability task, a system); counts and an ETA.
    """

    def __init__(self, title: str, enabled: bool = True) -> None:
        super().__init__(title, enabled)
        self._tasks: dict[str, int] = {}

    def update(self, done: int, total: int, label: str) -> None:
        if self._progress is None:
            return
        if label not in self._tasks:
            self._tasks[label] = self._progress.add_task(label, total=total)
        self._progress.update(self._tasks[label], completed=done, total=total)


class StageProgress(_TitledBars):
    """One rich bar for a stage's ``progress(done, total, label)`` callbacks.

    The label is what the stage is doing now (``answering · before``, ``training · loss
    0.41``); a new total (the next step of the stage) restarts the count and the ETA.
    """

    def __init__(self, title: str, enabled: bool = True) -> None:
        super().__init__(title, enabled)
        self._task = None
        self._step: tuple[str, int] | None = None

    def update(self, done: int, total: int, label: str) -> None:
        if self._progress is None:
            return
        step = (label.split(" · ")[0], total)  # the part before " · " names the step
        if self._task is None or step != self._step:
            if self._task is not None:
                self._progress.remove_task(self._task)
            self._task = self._progress.add_task(label, total=total)
            self._step = step
        self._progress.update(self._task, completed=done, total=total, description=label)


__all__ = ["CountProgress", "DiscoveryProgressBar", "StageProgress"]
