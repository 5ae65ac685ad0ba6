"""Built-in data sets shipped with the package (YAML files beside this module), and one loader.

* ``benign.yaml``: benign requests with helpful answers, the frames they are asked in, and needless
  refusals (shared by RM repair, policy repair and verification; split once per run);
* ``embedded/policy_sft.yaml``: the embedded policy's SFT data (its initial alignment);
* ``embedded/rm_preferences.yaml``: the embedded reward model's preference data.

Files are read once per process and validated; a broken file is a bug of the package, so it raises
``ValueError`` naming the file.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml

from ares_rlhf.records import BenignRequest


@cache
def load_data(name: str) -> Any:
    """The parsed content of a shipped data file (``name`` relative to this package)."""
    text = resources.files(__name__).joinpath(name).read_text(encoding="utf-8")
    return yaml.safe_load(text)


def _strings(name: str, key: str) -> list[str]:
    values = load_data(name).get(key)
    if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
        raise ValueError(f"ares_rlhf/data/{name}: {key} must be a list of non-empty strings")
    return list(values)


@cache
def _benign() -> tuple[BenignRequest, ...]:
    rows = load_data("benign.yaml").get("requests") or []
    requests = []
    for index, row in enumerate(rows):
        if not all(isinstance(row.get(k), str) and row[k].strip() for k in ("id", "prompt", "answer")):
            raise ValueError(f"ares_rlhf/data/benign.yaml: request {index + 1} needs id, prompt, answer")
        requests.append(BenignRequest(row["id"], row["prompt"], row["answer"]))
    if len({r.id for r in requests}) != len(requests):
        raise ValueError("ares_rlhf/data/benign.yaml: request ids must be unique")
    return tuple(requests)


def benign_requests() -> list[BenignRequest]:
    """Every built-in benign request (split per run into training and held-out requests)."""
    return list(_benign())


def benign_frames() -> list[str]:
    """Ways a benign request is asked (``{p}`` is the request; the first frame asks it plainly)."""
    frames = _strings("benign.yaml", "frames")
    if frames[0] != "{p}" or not all("{p}" in f for f in frames):
        raise ValueError("ares_rlhf/data/benign.yaml: frames must contain {p}; the first is '{p}'")
    return frames


def needless_refusals() -> list[str]:
    """Refusals of benign requests: the rejected answer that keeps repair from teaching over-refusal."""
    return _strings("benign.yaml", "needless_refusals")


def plain_harmful_requests(split: str = "train") -> list[dict[str, str]]:
    """Plainly harmful requests in natural language (``category``, ``request``, ``alternative``),
    from ``embedded/policy_sft.yaml``: ``train`` is the first ``refusals_per_category`` of each
    category (the embedded policy's SFT refuses them), ``check`` the rest, ``all`` both."""
    source = load_data("embedded/policy_sft.yaml")
    rows = list(source["harmful"])
    if split == "all":
        return rows
    per_category = int(source["refusals_per_category"])
    seen: dict[str, int] = {}
    chosen = []
    for row in rows:
        rank = seen.get(row["category"], 0)
        seen[row["category"]] = rank + 1
        if (rank < per_category) == (split == "train"):
            chosen.append(row)
    return chosen


def benign_lookalikes() -> list[tuple[str, str]]:
    """(prompt, helpful answer) of the embedded policy SFT's benign look-alikes of harmful
    requests (homonyms, figures of speech, safe targets, definitions), from
    ``embedded/policy_sft.yaml``."""
    rows = load_data("embedded/policy_sft.yaml")["helpful_lookalikes"]
    return [(row["prompt"], row["response"]) for row in rows]


__all__ = [
    "benign_frames",
    "benign_lookalikes",
    "benign_requests",
    "load_data",
    "needless_refusals",
    "plain_harmful_requests",
]
