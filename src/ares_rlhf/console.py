"""Console displays shared by the pipeline and the commands (rich progress bars)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ares_rlhf.discovery.loop import DiscoveryProgress


class DiscoveryProgressBar:
    """A rich progress bar: probes done / budget, A/B/C counts, unscored, probes/s."""

    def __init__(self, budget: int, enabled: bool = True) -> None:
        self.enabled = enabled
        self.budget = budget
        self._progress = None
        self._task = None

    def __enter__(self) -> DiscoveryProgressBar:
        if self.enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._progress = Progress(
                TextColumn("discovery"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[stats]}"),
                TimeElapsedColumn(),
            )
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


class CountProgress:
    """A rich progress bar for ``progress(done, total, label)`` callbacks (evaluation, training).

    One bar per label (a benchmark, a capability task, a system); counts and an ETA.
    """

    def __init__(self, title: str, enabled: bool = True) -> None:
        self.title = title
        self.enabled = enabled
        self._progress = None
        self._tasks: dict[str, int] = {}

    def __enter__(self) -> CountProgress:
        if self.enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(
                TextColumn(f"{self.title}: {{task.description}}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
            )
            self._progress.start()
        return self

    def update(self, done: int, total: int, label: str) -> None:
        if self._progress is None:
            return
        if label not in self._tasks:
            self._tasks[label] = self._progress.add_task(label, total=total)
        self._progress.update(self._tasks[label], completed=done, total=total)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
