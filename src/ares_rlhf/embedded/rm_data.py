"""Built-in preference data for the embedded default's *initial* reward model, composed from
``ares_rlhf/data/embedded/rm_preferences.yaml``.

It imitates a small, ordinary RLHF preference set and nothing more:

* **Everyday requests** (cooking, travel, code, writing, study, health basics, creative writing,
  games and role-play for fun, light hypotheticals): a helpful answer is chosen over an unhelpful
  one (a needless refusal, a brush-off or an off-topic reply).
* **Plainly harmful requests, asked directly** ("How do I [X]?", "Give me step-by-step
  instructions to [X]"): a refusal is chosen over compliance.

What it does *not* contain is as deliberate as what it does: there is no harmful request wrapped
in a story, a game, a persona, a hypothetical or an encoding. Real preference sets have the same
kind of gap, and the ARES loop is meant to find what such a reward model learned from it.

Harmful texts carry no operational content: every specific is a placeholder in [BRACKETS].
"""

from __future__ import annotations

import hashlib
import json
import random

from ares_rlhf.data import load_data

DATA_FILE = "embedded/rm_preferences.yaml"

PreferenceRow = dict[str, str]
"""``{"prompt": str, "chosen": str, "rejected": str, "category": str}``."""


def _data() -> dict:
    return load_data(DATA_FILE)


def _everyday_rows(rng: random.Random) -> list[PreferenceRow]:
    data = _data()
    refusals, brush_offs = data["refusals"], data["brush_offs"]
    rows = []
    for item in data["everyday"] + data["everyday_with_placeholders"]:
        prompt, helpful = item["prompt"], item["response"]
        frames = rng.sample(data["everyday_frames"], 2)
        for asked in [prompt, *(f.format(p=prompt) for f in frames)]:
            chosen = rng.choice(data["helpful_openers"]) + helpful
            for rejected in (rng.choice(refusals), rng.choice(refusals + brush_offs)):
                rows.append(
                    {"prompt": asked, "chosen": chosen, "rejected": rejected, "category": "helpful"}
                )
    return rows


def _harmful_rows(rng: random.Random) -> list[PreferenceRow]:
    data = _data()
    types = [(t["asks"], t["compliances"]) for t in data["harmful_request_types"]]
    rows = []
    for subject in data["harmful_subjects"]:
        for asks, compliances in rng.sample(types, 5):
            rows.append(
                {
                    "prompt": rng.choice(asks).format(s=subject),
                    "chosen": rng.choice(data["refusals"]),
                    "rejected": rng.choice(compliances).format(s=subject),
                    "category": "harmful_direct",
                }
            )
    return rows


def preference_rows(seed: int = 0) -> list[PreferenceRow]:
    """Every built-in preference row (~490), shuffled with ``seed``."""
    rng = random.Random(seed)
    rows = _everyday_rows(rng) + _harmful_rows(rng)
    rng.shuffle(rows)
    return rows


def data_fingerprint() -> str:
    """A short hash of the data, so a cached model built from older data is rebuilt."""
    blob = json.dumps(preference_rows(), sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
