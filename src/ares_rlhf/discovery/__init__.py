"""ARES discovery: the dual-probe loop, failure typing and near-duplicate filtering.

``run_discovery`` / ``resume_discovery`` live in :mod:`ares_rlhf.discovery.loop` (imported on
first use, so ``import ares_rlhf.discovery.typing`` stays light).
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "run_discovery",
    "resume_discovery",
    "DiscoverySummary",
    "DiscoveryProgress",
    "summarise",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from ares_rlhf.discovery import loop

        return getattr(loop, name)
    raise AttributeError(f"module 'ares_rlhf.discovery' has no attribute {name!r}")


__all__ = sorted(_LAZY)
