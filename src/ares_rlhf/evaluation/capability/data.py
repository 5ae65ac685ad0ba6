"""Readers for the offline capability-benchmark files, one per upstream format.

Each reader takes a capability data folder laid out with the upstream file names (the layout of
``shared/data/capability/``, see its ``SOURCES.md``) and returns the task's documents as plain
dicts shaped like the Hugging Face copies lm-eval's own task definitions read, so the prompt
templates in :mod:`ares_rlhf.evaluation.capability.tasks` can stay lm-eval's. Files are read
where they lie, never copied. A missing file or a malformed record is one ``DataError`` line
naming the file (and line) and the problem.

==============  ==================================================  ==============================
task            files under the data folder                         format
==============  ==================================================  ==============================
arc_easy        ``arc/ARC-Easy-Test.jsonl``                         ARC-V1 jsonl (answerKey A-E
arc_challenge   ``arc/ARC-Challenge-Test.jsonl``                    or 1-5, via the label list)
piqa            ``piqa/valid.jsonl`` + ``piqa/valid-labels.lst``    PIQA jsonl + one label a line
hellaswag       ``hellaswag/hellaswag_val_full.txt[.bz2]``          llama.cpp text, 6 lines a task
winogrande      ``winogrande/winogrande.jsonl``                     MosaicML (context_options...)
boolq           ``boolq/boolq.jsonl``                               MosaicML (query, choices, gold)
lambada_openai  ``lambada/lambada_test.jsonl``                      OpenAI jsonl ({"text": ...})
mmlu            ``mmlu/test/<subject>_test.csv`` (+ ``mmlu/dev``)   headerless CSV, answer letter
gsm8k           ``gsm8k/test.jsonl``                                jsonl, answer ends "#### N"
==============  ==================================================  ==============================
"""

from __future__ import annotations

import bz2
import csv
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ares_rlhf.errors import DataError

Doc = dict[str, Any]

FILES: dict[str, tuple[str, ...]] = {
    "arc_easy": ("arc/ARC-Easy-Test.jsonl",),
    "arc_challenge": ("arc/ARC-Challenge-Test.jsonl",),
    "piqa": ("piqa/valid.jsonl", "piqa/valid-labels.lst"),
    "hellaswag": ("hellaswag/hellaswag_val_full.txt.bz2",),
    "winogrande": ("winogrande/winogrande.jsonl",),
    "boolq": ("boolq/boolq.jsonl",),
    "lambada_openai": ("lambada/lambada_test.jsonl",),
    "mmlu": ("mmlu/test",),
    "gsm8k": ("gsm8k/test.jsonl",),
}
"""The files each offline task reads, relative to the capability data folder."""

HELLASWAG_PLAIN = "hellaswag/hellaswag_val_full.txt"
"""The uncompressed HellaSwag text file, accepted in place of the ``.bz2``."""


def _need(path: Path) -> Path:
    if not path.exists():
        raise DataError(f"{path}: no such file")
    return path


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of every line, decoded as UTF-8 (``.bz2`` decompressed)."""
    opener: Callable[..., Any] = bz2.open if path.suffix == ".bz2" else open
    try:
        with opener(_need(path), "rt", encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                yield number, line.rstrip("\n").rstrip("\r")
    except UnicodeDecodeError as error:
        raise DataError(f"{path}: not UTF-8 text ({error.reason})") from None
    except (OSError, EOFError) as error:
        raise DataError(f"{path}: cannot read ({error})") from None


def _jsonl(path: Path) -> Iterator[tuple[int, Doc]]:
    for number, line in _lines(path):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataError(f"{path}: line {number}: not JSON ({error.msg})") from None
        if not isinstance(record, dict):
            raise DataError(f"{path}: line {number}: expected a JSON object")
        yield number, record


def _field(record: Doc, key: str, path: Path, number: int, kind: type = str) -> Any:
    value = record.get(key)
    if not isinstance(value, kind) or (kind is str and not value.strip()):
        expected = "a non-empty string" if kind is str else kind.__name__
        raise DataError(f"{path}: line {number}: field {key!r} must be {expected}")
    return value


def _non_empty(docs: list[Doc], path: Path) -> list[Doc]:
    if not docs:
        raise DataError(f"{path}: no records")
    return docs


def read_arc(path: Path) -> list[Doc]:
    """ARC jsonl -> ``{id, question, choices: {text, label}, answerKey}`` (allenai/ai2_arc)."""
    docs = []
    for number, record in _jsonl(path):
        question = _field(record, "question", path, number, dict)
        stem = _field(question, "stem", path, number)
        choices = question.get("choices")
        if not isinstance(choices, list) or len(choices) < 2:
            raise DataError(f"{path}: line {number}: question.choices must list 2+ choices")
        texts, labels = [], []
        for choice in choices:
            if not isinstance(choice, dict) or not isinstance(choice.get("text"), str):
                raise DataError(f"{path}: line {number}: a choice lacks its text")
            texts.append(choice["text"])
            labels.append(str(choice.get("label", "")))
        answer = str(record.get("answerKey", ""))
        if answer not in labels:
            raise DataError(
                f"{path}: line {number}: answerKey {answer!r} is not one of the labels {labels}"
            )
        docs.append(
            {
                "id": str(record.get("id", number)),
                "question": stem,
                "choices": {"text": texts, "label": labels},
                "answerKey": answer,
            }
        )
    return _non_empty(docs, path)


def read_piqa(questions: Path, labels: Path) -> list[Doc]:
    """PIQA ``valid.jsonl`` + ``valid-labels.lst`` -> ``{goal, sol1, sol2, label}``."""
    docs = []
    for number, record in _jsonl(questions):
        docs.append(
            {
                "goal": _field(record, "goal", questions, number),
                "sol1": _field(record, "sol1", questions, number),
                "sol2": _field(record, "sol2", questions, number),
            }
        )
    gold = []
    for number, line in _lines(labels):
        if not line.strip():
            continue
        if line.strip() not in ("0", "1"):
            raise DataError(f"{labels}: line {number}: label {line.strip()!r} is not 0 or 1")
        gold.append(int(line))
    if len(gold) != len(docs):
        raise DataError(
            f"{labels}: {len(gold)} labels for {len(docs)} questions in {questions.name}"
        )
    for doc, label in zip(docs, gold, strict=True):
        doc["label"] = label
    return _non_empty(docs, questions)


def read_hellaswag(path: Path) -> list[Doc]:
    """llama.cpp's HellaSwag text (6 lines a task: context, gold 0-3, four endings) ->
    ``{query, choices, label}`` (the fields lm-eval's ``hellaswag`` builds)."""
    lines = list(_lines(path))
    while lines and not lines[-1][1].strip():
        lines.pop()
    if len(lines) % 6:
        raise DataError(
            f"{path}: {len(lines)} lines is not a multiple of 6 (context, label, 4 endings)"
        )
    docs = []
    for start in range(0, len(lines), 6):
        number, context = lines[start]
        label = lines[start + 1][1].strip()
        if label not in ("0", "1", "2", "3"):
            raise DataError(f"{path}: line {number + 1}: label {label!r} is not 0-3")
        endings = [text.strip() for _, text in lines[start + 2 : start + 6]]
        if not context.strip() or not all(endings):
            raise DataError(f"{path}: line {number}: empty context or ending in this task")
        docs.append({"query": context.strip(), "choices": endings, "label": int(label)})
    return _non_empty(docs, path)


def read_winogrande(path: Path) -> list[Doc]:
    """MosaicML WinoGrande -> ``{context_options, continuation, gold}`` (partial scoring)."""
    docs = []
    for number, record in _jsonl(path):
        options = record.get("context_options")
        if not (isinstance(options, list) and len(options) == 2 and all(options)):
            raise DataError(f"{path}: line {number}: context_options must be 2 strings")
        gold = record.get("gold")
        if gold not in (0, 1):
            raise DataError(f"{path}: line {number}: gold must be 0 or 1")
        docs.append(
            {
                "context_options": [str(option) for option in options],
                "continuation": _field(record, "continuation", path, number).strip(),
                "gold": gold,
            }
        )
    return _non_empty(docs, path)


def read_boolq(path: Path) -> list[Doc]:
    """MosaicML BoolQ (``Passage: P\\nQuestion: Q?``) -> ``{passage, question, label}``."""
    docs = []
    for number, record in _jsonl(path):
        query = _field(record, "query", path, number)
        if record.get("choices") != ["no", "yes"] or record.get("gold") not in (0, 1):
            raise DataError(f"{path}: line {number}: choices must be ['no', 'yes'], gold 0/1")
        passage, marker, question = query.rpartition("\nQuestion: ")
        if not marker or not passage.startswith("Passage: "):
            raise DataError(f"{path}: line {number}: query is not 'Passage: ...\\nQuestion: ...'")
        docs.append(
            {
                "passage": passage[len("Passage: ") :],
                "question": question.strip().removesuffix("?"),
                "label": record["gold"],
            }
        )
    return _non_empty(docs, path)


def read_lambada(path: Path) -> list[Doc]:
    """LAMBADA (OpenAI) jsonl -> ``{text}``; the target is the last space-separated word."""
    docs = []
    for number, record in _jsonl(path):
        text = _field(record, "text", path, number)
        if " " not in text.strip():
            raise DataError(f"{path}: line {number}: text has no context before its last word")
        docs.append({"text": text})
    return _non_empty(docs, path)


def _mmlu_file(path: Path, subject: str) -> list[Doc]:
    docs = []
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            for row in csv.reader(handle):
                if not row:
                    continue
                number = len(docs) + 1
                if len(row) != 6:
                    raise DataError(
                        f"{path}: record {number}: {len(row)} fields, expected 6 "
                        "(question, A, B, C, D, answer)"
                    )
                if row[5].strip() not in ("A", "B", "C", "D"):
                    raise DataError(f"{path}: record {number}: answer {row[5]!r} is not A-D")
                docs.append(
                    {
                        "question": row[0],
                        "subject": subject,
                        "choices": row[1:5],
                        "answer": "ABCD".index(row[5].strip()),
                    }
                )
    except UnicodeDecodeError as error:
        raise DataError(f"{path}: not UTF-8 text ({error.reason})") from None
    except csv.Error as error:
        raise DataError(f"{path}: malformed CSV ({error})") from None
    return _non_empty(docs, path)


def mmlu_subjects(data_dir: Path) -> list[str]:
    """Subjects with a ``mmlu/test/<subject>_test.csv`` file, sorted."""
    folder = _need(Path(data_dir) / "mmlu" / "test")
    subjects = sorted(p.name[: -len("_test.csv")] for p in folder.glob("*_test.csv"))
    if not subjects:
        raise DataError(f"{folder}: no <subject>_test.csv files")
    return subjects


def read_mmlu(data_dir: Path, subject: str, split: str) -> list[Doc]:
    """One MMLU subject's ``test`` or ``dev`` (few-shot) split -> ``{question, subject,
    choices, answer}`` (cais/mmlu; answer is the index of the letter)."""
    return _mmlu_file(Path(data_dir) / "mmlu" / split / f"{subject}_{split}.csv", subject)


def read_gsm8k(path: Path) -> list[Doc]:
    """GSM8K jsonl -> ``{question, answer}`` (the answer ends with ``#### <number>``)."""
    docs = []
    for number, record in _jsonl(path):
        answer = _field(record, "answer", path, number)
        if "#### " not in answer:
            raise DataError(f"{path}: line {number}: answer lacks its final '#### <number>'")
        docs.append({"question": _field(record, "question", path, number), "answer": answer})
    return _non_empty(docs, path)


def hellaswag_file(data_dir: Path) -> Path:
    """The HellaSwag file under ``data_dir``: the ``.bz2`` or, failing that, the plain text."""
    compressed = Path(data_dir) / FILES["hellaswag"][0]
    plain = Path(data_dir) / HELLASWAG_PLAIN
    return plain if not compressed.exists() and plain.exists() else compressed


def read_task(task: str, data_dir: str | Path) -> list[Doc]:
    """The evaluation documents of an offline task (MMLU: every subject, subjects sorted)."""
    root = Path(data_dir)
    if task in ("arc_easy", "arc_challenge"):
        return read_arc(root / FILES[task][0])
    if task == "piqa":
        return read_piqa(root / FILES["piqa"][0], root / FILES["piqa"][1])
    if task == "hellaswag":
        return read_hellaswag(hellaswag_file(root))
    if task == "winogrande":
        return read_winogrande(root / FILES["winogrande"][0])
    if task == "boolq":
        return read_boolq(root / FILES["boolq"][0])
    if task == "lambada_openai":
        return read_lambada(root / FILES["lambada_openai"][0])
    if task == "mmlu":
        return [doc for s in mmlu_subjects(root) for doc in read_mmlu(root, s, "test")]
    if task == "gsm8k":
        return read_gsm8k(root / FILES["gsm8k"][0])
    raise DataError(f"unknown offline capability task {task!r}; known: {', '.join(FILES)}")


def available_tasks(data_dir: str | Path) -> list[str]:
    """The offline tasks whose files are all present under ``data_dir`` (not yet parsed)."""
    root = Path(data_dir)
    found = []
    for task, files in FILES.items():
        paths = [hellaswag_file(root)] if task == "hellaswag" else [root / f for f in files]
        if all(path.exists() for path in paths):
            found.append(task)
    return found
