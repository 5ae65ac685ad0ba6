"""The embedded default's run config (``ares demo``): ``default.yaml``, or ``quick.yaml``."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml

from ares_rlhf.config import RunConfig, parse_config


def demo_config(
    *,
    quick: bool = False,
    cache_dir: str | Path | None = None,
    seed: int | None = None,
    benchmarks: str | Path | None = None,
) -> RunConfig:
    """The embedded default run config (``quick.yaml`` for ``--quick``) with demo options set.

    ``benchmarks``: the folder the evaluation stage reads benchmark (and capability) files from.
    """
    name = "quick.yaml" if quick else "default.yaml"
    text = resources.files("ares_rlhf.embedded").joinpath(name).read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    for part in ("policy", "reward_model"):
        options = data[part].setdefault("options", {})
        options["quick"] = bool(quick)
        if cache_dir is not None:
            options["cache_dir"] = str(Path(cache_dir).expanduser().resolve())
    if seed is not None:
        data["seed"] = seed
    if benchmarks is not None:
        data.setdefault("evaluate", {})["benchmarks_dir"] = str(Path(benchmarks).expanduser().resolve())
    return parse_config(data, source=f"embedded {name}")
