"""Process-wide listeners of Mentor outputs (a leaf module: no stage imports).

A listener (:func:`add_compose_listener`) sees every output any Safety Mentor composes in this
process. The ``sim:`` ground-truth backends use one to know which component combination a
conversation was composed from, so no model interface carries that side information.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ares_rlhf.records import MentorOutput

ComposeListener = Callable[[Sequence[MentorOutput]], None]
_LISTENERS: list[ComposeListener] = []


def add_compose_listener(listener: ComposeListener) -> None:
    """Call ``listener(outputs)`` after every Mentor ``compose`` (registered once)."""
    if listener not in _LISTENERS:
        _LISTENERS.append(listener)


def announce_composed(outputs: Sequence[MentorOutput | None]) -> None:
    """Tell every listener about freshly composed outputs (``None`` entries are skipped)."""
    if _LISTENERS:
        made = [o for o in outputs if o is not None]
        for listener in list(_LISTENERS):
            listener(made)


__all__ = ["ComposeListener", "add_compose_listener", "announce_composed"]
