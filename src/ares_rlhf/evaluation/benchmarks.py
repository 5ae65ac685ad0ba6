"""Held-out safety benchmarks: loaders for HarmBench, StrongREJECT, JailbreakBench, AdvBench and
XSTest, and their figures, for any policy spec.

Data comes from a user-given place, never from the package: a folder laid out with the upstream
file names (each may also sit in a subfolder named after the benchmark)::

    harmbench/harmbench_behaviors_text_test.csv     HarmBench (standard behaviors by default)
    strongreject/strongreject_dataset.csv           StrongREJECT
    jailbreakbench/harmful-behaviors.csv            JailbreakBench harmful behaviors
    jailbreakbench/benign-behaviors.csv             JailbreakBench benign behaviors
    advbench/harmful_behaviors.csv                  AdvBench harmful behaviors
    xstest/xstest_prompts.csv                       XSTest (safe prompts + unsafe contrasts)

a CSV file per benchmark, or a Hugging Face dataset id (``walledai/HarmBench``,
``JailbreakBench/JBB-Behaviors``...) loaded with ``datasets``. Column names are matched without
regard to case (the JailbreakBench hub copy capitalises them); a UTF-8 byte-order mark is
accepted. A missing file, a missing column or a malformed row (not UTF-8, too few or too many
fields, an empty prompt, an unknown label, a repeated id) is one ``DataError`` line naming the
file, the row and the problem.

Figures (docs/verify.md):

* harmful prompts (``label == "unsafe"``): **safety rate** = responses the judge labels safe /
  all prompts. An unscored response is not counted as safe; it is reported separately.
* benign prompts (``label == "safe"``: XSTest's safe prompts, JailbreakBench benign): XSTest's
  three classes via :func:`refusal_class`: full compliance, full refusal, partial refusal
  (an empty answer is unscored).
"""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ares_rlhf.backends import ChatModel, SamplingParams
from ares_rlhf.errors import DataError
from ares_rlhf.judges.base import HarmJudge
from ares_rlhf.records import JudgeLabel
from ares_rlhf.text.refusal import is_refusal, refusal_kind

HARMFUL_BENCHMARKS = ("harmbench", "strongreject", "jailbreakbench", "advbench")
"""Benchmarks of harmful requests (safety rate)."""
BENIGN_BENCHMARKS = ("xstest", "jailbreakbench_benign")
"""Benchmarks with benign requests (over-refusal classes; XSTest also has unsafe contrasts)."""
BENCHMARKS = HARMFUL_BENCHMARKS + BENIGN_BENCHMARKS

REFUSAL_CLASSES = ("full_compliance", "full_refusal", "partial_refusal")
"""XSTest's response classes for benign prompts."""

_LOCAL_FILES = {
    "harmbench": (
        "harmbench/harmbench_behaviors_text_test.csv",
        "harmbench_behaviors_text_test.csv",
        "harmbench/harmbench_behaviors_text_all.csv",
    ),
    "strongreject": ("strongreject/strongreject_dataset.csv", "strongreject_dataset.csv"),
    "jailbreakbench": (
        "jailbreakbench/harmful-behaviors.csv",
        "jailbreakbench/data/harmful-behaviors.csv",
        "harmful-behaviors.csv",
    ),
    "jailbreakbench_benign": (
        "jailbreakbench/benign-behaviors.csv",
        "jailbreakbench/data/benign-behaviors.csv",
        "benign-behaviors.csv",
    ),
    "advbench": (
        "advbench/harmful_behaviors.csv",
        "advbench/data/advbench/harmful_behaviors.csv",
        "harmful_behaviors.csv",
    ),
    "xstest": ("xstest/xstest_prompts.csv", "xstest_prompts.csv"),
}
_PROMPT_COLUMNS = {
    "harmbench": ("Behavior", "prompt"),
    "strongreject": ("forbidden_prompt", "prompt"),
    "jailbreakbench": ("Goal", "prompt"),
    "advbench": ("goal", "prompt"),
    "xstest": ("prompt",),
}


@dataclass(frozen=True)
class BenchmarkPrompt:
    """One benchmark prompt; ``label`` is ``unsafe`` (should be refused) or ``safe``."""

    benchmark: str
    id: str
    prompt: str
    category: str
    label: str


# -- reading rows -----------------------------------------------------------------------------------
@dataclass
class _Table:
    """Rows of one benchmark source, each with where it came from (for error messages)."""

    where: str
    columns: dict[str, str]
    """lower-cased name -> name as written."""
    rows: list[tuple[str, dict[str, Any]]]
    """(position such as ``row 3 (line 4)``, row)."""

    def column(self, names: Sequence[str]) -> str:
        """The first of ``names`` that the table has (case-insensitive), as written in it."""
        for name in names:
            if name.lower() in self.columns:
                return self.columns[name.lower()]
        raise DataError(
            f"{self.where}: no column {' / '.join(names)} "
            f"(columns: {', '.join(self.columns.values()) or 'none'})"
        )

    def optional(self, names: Sequence[str]) -> str | None:
        return next((self.columns[n.lower()] for n in names if n.lower() in self.columns), None)


def _text(row: dict[str, Any], column: str | None) -> str:
    value = row.get(column) if column else None
    return "" if value is None else str(value).strip()


def _read_csv(path: Path) -> _Table:
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise DataError(
            f"{path}: line {line}: not UTF-8 text (byte {data[error.start]:#04x}); "
            "save the file as UTF-8"
        ) from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        header = [name.strip() for name in (reader.fieldnames or [])]
        if not any(header):
            raise DataError(f"{path}: empty file (no header row)")
        reader.fieldnames = header
        rows: list[tuple[str, dict[str, Any]]] = []
        end_of_previous = reader.line_num
        for number, row in enumerate(reader, start=1):
            line, end_of_previous = end_of_previous + 1, reader.line_num
            position = f"row {number} (line {line})"
            if None in row:
                raise DataError(
                    f"{path}: {position}: too many fields ({len(header)} columns in the header)"
                )
            if any(value is None for value in row.values()):
                raise DataError(
                    f"{path}: {position}: too few fields ({len(header)} columns in the header)"
                )
            rows.append((position, row))
    except csv.Error as error:
        raise DataError(f"{path}: line {reader.line_num}: malformed CSV ({error})") from None
    return _Table(str(path), {name.lower(): name for name in header}, rows)


def _find_local(name: str, folder: Path) -> Path | None:
    return next((folder / r for r in _LOCAL_FILES[name] if (folder / r).is_file()), None)


def _read_rows(
    name: str, source: str | Path, hf_split: str = "train", hf_name: str | None = None
) -> _Table:
    """Rows of a benchmark from a folder, a CSV file, or a Hugging Face dataset id."""
    path = Path(source).expanduser()
    if path.is_dir():
        found = _find_local(name, path)
        if found is None:
            raise DataError(
                f"{source}: no {name} file (looked for {', '.join(_LOCAL_FILES[name])})"
            )
        path = found
    if path.is_file():
        return _read_csv(path)
    if str(source).startswith((".", "/", "~")):
        raise DataError(f"{source}: no such file or folder for {name}")
    try:
        from datasets import load_dataset

        dataset = load_dataset(str(source), hf_name, split=hf_split)
    except Exception as error:  # noqa: BLE001 - any hub/loading failure is the user's input
        raise DataError(f"{name}: cannot load dataset {source!r}: {error}") from None
    columns = {str(c).lower(): str(c) for c in dataset.column_names}
    rows = [(f"row {i}", dict(row)) for i, row in enumerate(dataset, start=1)]
    return _Table(f"{source} ({hf_split})", columns, rows)


def _prompt(table: _Table, row: dict[str, Any], column: str, position: str) -> str:
    prompt = _text(row, column)
    if not prompt:
        raise DataError(f"{table.where}: {position}: empty prompt (column {column})")
    return prompt


def _unique(table: _Table, items: list[tuple[str, BenchmarkPrompt]]) -> list[BenchmarkPrompt]:
    seen: dict[str, str] = {}
    for position, item in items:
        if item.id in seen:
            raise DataError(
                f"{table.where}: {position}: id {item.id!r} repeats {seen[item.id]}; "
                "every prompt needs its own id"
            )
        seen[item.id] = position
    return [item for _, item in items]


def _limit(items: list[BenchmarkPrompt], limit: int | None, seed: int) -> list[BenchmarkPrompt]:
    """A seeded sample of ``limit`` prompts, kept in file order."""
    if limit is None or limit >= len(items):
        return items
    if limit < 0:
        raise DataError(f"sample size must be >= 0, got {limit}")
    keep = sorted(random.Random(seed).sample(range(len(items)), limit))
    return [items[i] for i in keep]


# -- loaders ----------------------------------------------------------------------------------------
def load_harmbench(
    source: str | Path,
    *,
    functional_category: str | None = "standard",
    limit: int | None = None,
    seed: int = 0,
) -> list[BenchmarkPrompt]:
    """HarmBench text behaviors (default: the ``standard`` FunctionalCategory)."""
    table = _read_rows("harmbench", source)
    prompt_column = table.column(_PROMPT_COLUMNS["harmbench"])
    functional = table.optional(("FunctionalCategory",))
    semantic = table.optional(("SemanticCategory", "category"))
    behavior_id = table.optional(("BehaviorID",))
    items = []
    for index, (position, row) in enumerate(table.rows):
        if functional_category and functional and _text(row, functional) != functional_category:
            continue
        category = _text(row, semantic) or _text(row, functional)
        item_id = _text(row, behavior_id) or str(index)
        prompt = _prompt(table, row, prompt_column, position)
        items.append((position, BenchmarkPrompt("harmbench", item_id, prompt, category, "unsafe")))
    return _limit(_unique(table, items), limit, seed)


def load_strongreject(
    source: str | Path, *, limit: int | None = None, seed: int = 0
) -> list[BenchmarkPrompt]:
    """StrongREJECT forbidden prompts."""
    table = _read_rows("strongreject", source)
    prompt_column = table.column(_PROMPT_COLUMNS["strongreject"])
    category = table.optional(("category",))
    items = [
        (
            position,
            BenchmarkPrompt(
                "strongreject",
                str(index),
                _prompt(table, row, prompt_column, position),
                _text(row, category),
                "unsafe",
            ),
        )
        for index, (position, row) in enumerate(table.rows)
    ]
    return _limit(_unique(table, items), limit, seed)


def load_jailbreakbench(
    source: str | Path, *, split: str = "harmful", limit: int | None = None, seed: int = 0
) -> list[BenchmarkPrompt]:
    """JailbreakBench behaviors: ``split="harmful"`` (label unsafe) or ``"benign"`` (label safe).

    Columns (upstream): index, goal, target, behavior, category, source; the prompt is ``goal``.
    A hub id is read as its ``behaviors`` configuration, split ``harmful`` / ``benign``.
    """
    if split not in ("harmful", "benign"):
        raise DataError(f"jailbreakbench: split must be harmful or benign, got {split!r}")
    name = "jailbreakbench" if split == "harmful" else "jailbreakbench_benign"
    table = _read_rows(name, source, hf_split=split, hf_name="behaviors")
    prompt_column = table.column(_PROMPT_COLUMNS["jailbreakbench"])
    index_column = table.optional(("index",))
    category = table.optional(("category",))
    label = "unsafe" if split == "harmful" else "safe"
    items = []
    for index, (position, row) in enumerate(table.rows):
        item_id = _text(row, index_column) or str(index)
        prompt = _prompt(table, row, prompt_column, position)
        items.append(
            (position, BenchmarkPrompt(name, item_id, prompt, _text(row, category), label))
        )
    return _limit(_unique(table, items), limit, seed)


def load_advbench(
    source: str | Path, *, limit: int | None = None, seed: int = 0
) -> list[BenchmarkPrompt]:
    """AdvBench harmful behaviors (columns goal, target; the prompt is ``goal``)."""
    table = _read_rows("advbench", source)
    prompt_column = table.column(_PROMPT_COLUMNS["advbench"])
    items = [
        (
            position,
            BenchmarkPrompt(
                "advbench", str(index), _prompt(table, row, prompt_column, position), "", "unsafe"
            ),
        )
        for index, (position, row) in enumerate(table.rows)
    ]
    return _limit(_unique(table, items), limit, seed)


def load_xstest(
    source: str | Path, *, limit: int | None = None, seed: int = 0
) -> list[BenchmarkPrompt]:
    """XSTest prompts with their ``safe`` / ``unsafe`` label and type."""
    table = _read_rows("xstest", source, hf_split="test")
    prompt_column = table.column(_PROMPT_COLUMNS["xstest"])
    label_column = table.column(("label",))
    id_column = table.optional(("id",))
    type_column = table.optional(("type",))
    items = []
    for index, (position, row) in enumerate(table.rows):
        label = _text(row, label_column).lower()
        if label not in ("safe", "unsafe"):
            raise DataError(
                f"{table.where}: {position}: label must be safe or unsafe, got {label!r}"
            )
        item_id = _text(row, id_column) or str(index)
        prompt = _prompt(table, row, prompt_column, position)
        items.append(
            (position, BenchmarkPrompt("xstest", item_id, prompt, _text(row, type_column), label))
        )
    return _limit(_unique(table, items), limit, seed)


def _load(name: str, path: Path, limit: int | None, seed: int, **options: Any):
    if name == "harmbench":
        return load_harmbench(path, limit=limit, seed=seed, **options)
    if name == "strongreject":
        return load_strongreject(path, limit=limit, seed=seed)
    if name == "jailbreakbench":
        return load_jailbreakbench(path, split="harmful", limit=limit, seed=seed)
    if name == "jailbreakbench_benign":
        return load_jailbreakbench(path, split="benign", limit=limit, seed=seed)
    if name == "advbench":
        return load_advbench(path, limit=limit, seed=seed)
    return load_xstest(path, limit=limit, seed=seed)


def load_benchmark_suite(
    source: str | Path,
    *,
    benchmarks: Sequence[str] | None = None,
    limit: int | Mapping[str, int | None] | None = None,
    seed: int = 0,
    harmbench_category: str | None = "standard",
) -> dict[str, list[BenchmarkPrompt]]:
    """Every safety benchmark found in the folder ``source`` (see the module docstring).

    ``benchmarks`` chooses which (a chosen one that is missing is an error; otherwise missing
    ones are simply absent); ``limit`` is a seeded sample size for all benchmarks or per name
    (``{"xstest": 100}``; names not given are loaded whole). A folder with none is a ``DataError``.
    """
    folder = Path(source).expanduser()
    if not folder.is_dir():
        raise DataError(f"{source}: not a folder of benchmark files")
    chosen = list(BENCHMARKS if benchmarks is None else benchmarks)
    unknown = [name for name in chosen if name not in BENCHMARKS]
    if unknown:
        raise DataError(f"unknown benchmark {unknown[0]!r}; known: {', '.join(BENCHMARKS)}")
    if isinstance(limit, Mapping):
        bad = [name for name in limit if name not in BENCHMARKS]
        if bad:
            raise DataError(f"sample size for unknown benchmark {bad[0]!r}")
    suite: dict[str, list[BenchmarkPrompt]] = {}
    for name in chosen:
        path = _find_local(name, folder)
        if path is None:
            if benchmarks is not None:
                raise DataError(
                    f"{source}: no {name} file (looked for {', '.join(_LOCAL_FILES[name])})"
                )
            continue
        size = limit.get(name) if isinstance(limit, Mapping) else limit
        options = {"functional_category": harmbench_category} if name == "harmbench" else {}
        suite[name] = _load(name, path, size, seed, **options)
    if not suite:
        names = sorted({Path(files[0]).name for files in _LOCAL_FILES.values()})
        raise DataError(
            f"{source}: no safety benchmark files found (looked for {', '.join(names)})"
        )
    return suite


# -- figures (single policy) ------------------------------------------------------------------------
def refusal_class(answer: str) -> str | None:
    """XSTest's class of an answer to a benign prompt: ``full_compliance``, ``full_refusal``,
    ``partial_refusal``, or ``None`` (unscored) for an empty answer."""
    if not answer or not answer.strip():
        return None
    kind = refusal_kind(answer)
    if kind == "full":
        return "full_refusal"
    return "partial_refusal" if kind == "partial" else "full_compliance"


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
    """Answer every prompt with ``policy`` and compute each benchmark's figures (no pairing,
    no intervals; ``evaluation.safety`` gives the paired before/after evaluation)."""
    results: dict[str, dict[str, Any]] = {}
    for name, items in suite.items():
        if not items:
            continue
        prompts = [item.prompt for item in items]
        answers = policy.generate([[{"role": "user", "content": p}] for p in prompts], sampling)
        if any(item.label == "safe" for item in items):
            safe_answers = [a for a, i in zip(answers, items, strict=True) if i.label == "safe"]
            unsafe = [
                (i.prompt, a) for a, i in zip(answers, items, strict=True) if i.label == "unsafe"
            ]
            refused = sum(is_refusal(a) for a in safe_answers)
            classes = [refusal_class(a) for a in safe_answers]
            figures: dict[str, Any] = {
                "n_safe": len(safe_answers),
                "over_refusal_rate": refused / len(safe_answers) if safe_answers else None,
                **{
                    f"{kind}_rate": classes.count(kind) / len(classes) if classes else None
                    for kind in REFUSAL_CLASSES
                },
                "unscored": classes.count(None),
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
