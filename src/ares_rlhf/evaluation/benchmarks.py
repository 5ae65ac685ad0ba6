"""Held-out safety benchmarks: HarmBench, StrongREJECT and XSTest, for any policy spec.

Data comes from a user-given place, never from the package: a folder laid out like
``harmbench/harmbench_behaviors_text_test.csv``, ``strongreject/strongreject_dataset.csv``,
``xstest/xstest_prompts.csv`` (the upstream file names), a CSV file per benchmark, or a Hugging
Face dataset id (``walledai/HarmBench``...) loaded with ``datasets``.

Figures (docs/verify.md):

* HarmBench (standard behaviors) and StrongREJECT: **safety rate** = responses the judge labels
  safe / all prompts. An unscored response is not counted as safe; it is reported separately.
* XSTest: **over-refusal rate** = safe prompts whose answer is a full refusal (``is_refusal``) /
  safe prompts; plus the judge's safety rate on XSTest's unsafe contrast prompts.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ares_rlhf.backends import ChatModel, SamplingParams
from ares_rlhf.errors import DataError
from ares_rlhf.judges.base import HarmJudge
from ares_rlhf.records import JudgeLabel
from ares_rlhf.text.refusal import is_refusal

BENCHMARKS = ("harmbench", "strongreject", "xstest")
_LOCAL_FILES = {
    "harmbench": (
        "harmbench/harmbench_behaviors_text_test.csv",
        "harmbench_behaviors_text_test.csv",
        "harmbench/harmbench_behaviors_text_all.csv",
    ),
    "strongreject": ("strongreject/strongreject_dataset.csv", "strongreject_dataset.csv"),
    "xstest": ("xstest/xstest_prompts.csv", "xstest_prompts.csv"),
}
_PROMPT_COLUMNS = {
    "harmbench": ("Behavior", "behavior", "prompt"),
    "strongreject": ("forbidden_prompt", "prompt"),
    "xstest": ("prompt", "Prompt"),
}


@dataclass(frozen=True)
class BenchmarkPrompt:
    """One benchmark prompt; ``label`` is ``unsafe`` (should be refused) or ``safe``."""

    benchmark: str
    id: str
    prompt: str
    category: str
    label: str


def _column(row: dict[str, Any], names: Sequence[str], where: str) -> str:
    for name in names:
        if name in row and row[name] is not None:
            return str(row[name])
    raise DataError(f"{where}: no column {' / '.join(names)} (columns: {', '.join(row)})")


def _read_rows(name: str, source: str | Path, hf_split: str = "train") -> tuple[list[dict], str]:
    """Rows of a benchmark from a folder, a CSV file, or a Hugging Face dataset id."""
    path = Path(source).expanduser()
    if path.is_dir():
        for relative in _LOCAL_FILES[name]:
            candidate = path / relative
            if candidate.is_file():
                path = candidate
                break
        else:
            raise DataError(
                f"{source}: no {name} file (looked for {', '.join(_LOCAL_FILES[name])})"
            )
    if path.is_file():
        with path.open(newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle)), str(path)
    if str(source).startswith((".", "/", "~")):
        raise DataError(f"{source}: no such file or folder for {name}")
    try:
        from datasets import load_dataset

        dataset = load_dataset(str(source), split=hf_split)
    except Exception as error:  # noqa: BLE001 - any hub/loading failure is the user's input
        raise DataError(f"{name}: cannot load dataset {source!r}: {error}") from None
    return [dict(row) for row in dataset], str(source)


def _limit(items: list[BenchmarkPrompt], limit: int | None, seed: int) -> list[BenchmarkPrompt]:
    """A seeded sample of ``limit`` prompts, kept in file order."""
    if limit is None or limit >= len(items):
        return items
    keep = sorted(random.Random(seed).sample(range(len(items)), limit))
    return [items[i] for i in keep]


def load_harmbench(
    source: str | Path,
    *,
    functional_category: str | None = "standard",
    limit: int | None = None,
    seed: int = 0,
) -> list[BenchmarkPrompt]:
    """HarmBench text behaviors (default: the ``standard`` FunctionalCategory)."""
    rows, where = _read_rows("harmbench", source)
    items = []
    for index, row in enumerate(rows):
        category = row.get("FunctionalCategory") or row.get("category") or ""
        if (
            functional_category
            and row.get("FunctionalCategory", functional_category) != functional_category
        ):
            continue
        items.append(
            BenchmarkPrompt(
                "harmbench",
                str(row.get("BehaviorID") or index),
                _column(row, _PROMPT_COLUMNS["harmbench"], where),
                str(row.get("SemanticCategory") or category),
                "unsafe",
            )
        )
    return _limit(items, limit, seed)


def load_strongreject(
    source: str | Path, *, limit: int | None = None, seed: int = 0
) -> list[BenchmarkPrompt]:
    """StrongREJECT forbidden prompts."""
    rows, where = _read_rows("strongreject", source)
    items = [
        BenchmarkPrompt(
            "strongreject",
            str(index),
            _column(row, _PROMPT_COLUMNS["strongreject"], where),
            str(row.get("category") or ""),
            "unsafe",
        )
        for index, row in enumerate(rows)
    ]
    return _limit(items, limit, seed)


def load_xstest(
    source: str | Path, *, limit: int | None = None, seed: int = 0
) -> list[BenchmarkPrompt]:
    """XSTest prompts with their ``safe`` / ``unsafe`` label and type."""
    rows, where = _read_rows("xstest", source, hf_split="test")
    items = []
    for index, row in enumerate(rows):
        label = str(row.get("label") or "").strip().lower()
        if label not in ("safe", "unsafe"):
            raise DataError(
                f"{where}: row {index + 1}: label must be safe or unsafe, got {label!r}"
            )
        items.append(
            BenchmarkPrompt(
                "xstest",
                str(row.get("id") or index),
                _column(row, _PROMPT_COLUMNS["xstest"], where),
                str(row.get("type") or ""),
                label,
            )
        )
    return _limit(items, limit, seed)


def load_benchmark_suite(
    source: str | Path, *, limit: int | None = None, seed: int = 0
) -> dict[str, list[BenchmarkPrompt]]:
    """All three benchmarks from one folder (``limit`` prompts each, seeded sample)."""
    return {
        "harmbench": load_harmbench(source, limit=limit, seed=seed),
        "strongreject": load_strongreject(source, limit=limit, seed=seed),
        "xstest": load_xstest(source, limit=limit, seed=seed),
    }


def _safety(labels: Sequence[JudgeLabel]) -> dict[str, Any]:
    n = len(labels)
    safe = sum(label is JudgeLabel.SAFE for label in labels)
    harmful = sum(label is JudgeLabel.HARMFUL for label in labels)
    return {
        "n": n,
        "safety_rate": safe / n if n else None,
        "harmful_rate": harmful / n if n else None,
        "unscored": n - safe - harmful,
    }


def evaluate_benchmarks(
    policy: ChatModel,
    judge: HarmJudge,
    suite: dict[str, list[BenchmarkPrompt]],
    *,
    sampling: SamplingParams | None = None,
) -> dict[str, dict[str, Any]]:
    """Answer every prompt with ``policy`` and compute each benchmark's figures."""
    results: dict[str, dict[str, Any]] = {}
    for name, items in suite.items():
        if not items:
            continue
        prompts = [item.prompt for item in items]
        answers = policy.generate([[{"role": "user", "content": p}] for p in prompts], sampling)
        if name == "xstest":
            safe_answers = [a for a, i in zip(answers, items, strict=True) if i.label == "safe"]
            unsafe = [
                (i.prompt, a) for a, i in zip(answers, items, strict=True) if i.label == "unsafe"
            ]
            refused = sum(is_refusal(a) for a in safe_answers)
            figures: dict[str, Any] = {
                "n_safe": len(safe_answers),
                "over_refusal_rate": refused / len(safe_answers) if safe_answers else None,
            }
            if unsafe:
                verdicts = judge.judge([p for p, _ in unsafe], [a for _, a in unsafe])
                unsafe_figures = _safety([v.label for v in verdicts])
                figures["unsafe_safety_rate"] = unsafe_figures["safety_rate"]
                figures["n_unsafe"] = unsafe_figures["n"]
            results[name] = figures
        else:
            verdicts = judge.judge(prompts, answers)
            results[name] = _safety([v.label for v in verdicts])
    return results


def evaluate_policy_spec(
    spec: str,
    judge: HarmJudge,
    suite: dict[str, list[BenchmarkPrompt]],
    *,
    sampling: SamplingParams | None = None,
    **options: Any,
) -> dict[str, dict[str, Any]]:
    """Load a policy from its spec (``hf:...``), evaluate it on ``suite``, then close it."""
    from ares_rlhf.backends import create_chat_model

    policy = create_chat_model(spec, **options)
    try:
        return evaluate_benchmarks(policy, judge, suite, sampling=sampling)
    finally:
        policy.close()
