"""Judge quality against labelled examples: precision, recall, F1, accuracy; unscored apart.

Metrics are computed on the rows the judge scored; unscored rows are counted and reported
separately (never folded into "safe").
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ares_rlhf.errors import DataError
from ares_rlhf.inputs import MAX_LABELS_BYTES, read_text
from ares_rlhf.judges.base import HarmJudge
from ares_rlhf.records import JudgeLabel, JudgeVerdict

REQUIRED_COLUMNS = ("prompt", "response", "label")
HARMFUL_VALUES = frozenset({"harmful", "unsafe", "1", "true", "yes"})
SAFE_VALUES = frozenset({"safe", "harmless", "0", "false", "no"})


@dataclass
class LabelledExample:
    """One row of a labels file: the gold label is ``harmful`` (True) or safe (False)."""

    prompt: str
    response: str
    harmful: bool
    line: int
    extra: dict[str, str] = field(default_factory=dict)


def parse_label(value: str) -> bool | None:
    """True for harmful, False for safe, None for an unknown value."""
    text = value.strip().lower()
    if text in HARMFUL_VALUES:
        return True
    if text in SAFE_VALUES:
        return False
    return None


def load_labelled_csv(
    path: str | Path, where: dict[str, str] | None = None
) -> list[LabelledExample]:
    """Read a CSV with columns prompt, response, label (+ any others, kept in ``extra``).

    ``where`` keeps only rows whose named columns equal the given values.
    Raises ``DataError`` naming the file and line for any problem.
    """
    path = Path(path)
    # UTF-8 with or without a BOM (spreadsheet exports add one), size-limited, no binary data
    text = read_text(path, what="labels file", error=DataError, max_bytes=MAX_LABELS_BYTES)
    try:
        with io.StringIO(text, newline="") as handle:
            reader = csv.DictReader(handle)
            columns = [c.strip() for c in (reader.fieldnames or [])]
            missing = [c for c in REQUIRED_COLUMNS if c not in columns]
            if missing:
                raise DataError(
                    f"{path}: missing column(s) {', '.join(missing)}; a labels file needs "
                    f"{', '.join(REQUIRED_COLUMNS)} (found: {', '.join(columns) or 'no header'})"
                )
            for column in where or {}:
                if column not in columns:
                    raise DataError(f"{path}: cannot filter on {column!r}: no such column")
            reader.fieldnames = columns
            examples = []
            end_of_previous = reader.line_num
            for row in reader:
                line, end_of_previous = end_of_previous + 1, reader.line_num  # first line of row
                if any(row.get(c) is None for c in REQUIRED_COLUMNS):
                    raise DataError(f"{path}: line {line}: too few fields")
                harmful = parse_label(row["label"])
                if harmful is None:
                    raise DataError(
                        f"{path}: line {line}: unknown label {row['label']!r}; "
                        "use harmful/safe (or unsafe, 1/0, true/false)"
                    )
                if where and any((row.get(c) or "").strip() != v for c, v in where.items()):
                    continue
                extra = {
                    k: v for k, v in row.items() if k not in REQUIRED_COLUMNS and isinstance(v, str)
                }
                examples.append(
                    LabelledExample(row["prompt"], row["response"], harmful, line, extra)
                )
    except UnicodeDecodeError as error:
        raise DataError(f"{path}: not UTF-8 text ({error.reason})") from None
    except csv.Error as error:
        raise DataError(f"{path}: not a valid CSV file ({error})") from None
    if not examples:
        raise DataError(f"{path}: no labelled rows" + (" match the filter" if where else ""))
    return examples


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


@dataclass
class JudgeMetrics:
    """Confusion counts and rates on the scored rows (harmful = positive class)."""

    n: int
    scored: int
    unscored: int
    tp: int
    fp: int
    tn: int
    fn: int

    @property
    def unscored_rate(self) -> float | None:
        return _ratio(self.unscored, self.n)

    @property
    def precision(self) -> float | None:
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> float | None:
        return _ratio(self.tp, self.tp + self.fn)

    @property
    def f1(self) -> float | None:
        return _ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn)

    @property
    def accuracy(self) -> float | None:
        return _ratio(self.tp + self.tn, self.scored)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for name in ("precision", "recall", "f1", "accuracy", "unscored_rate"):
            data[name] = getattr(self, name)
        return data


def compute_metrics(gold: Sequence[bool], verdicts: Sequence[JudgeVerdict]) -> JudgeMetrics:
    """Compare gold labels (True = harmful) with verdicts; unscored verdicts are set apart."""
    if len(gold) != len(verdicts):
        raise ValueError(f"{len(gold)} gold labels but {len(verdicts)} verdicts")
    tp = fp = tn = fn = unscored = 0
    for harmful, verdict in zip(gold, verdicts, strict=True):
        if verdict.label is JudgeLabel.UNSCORED:
            unscored += 1
        elif verdict.label is JudgeLabel.HARMFUL:
            tp, fp = (tp + 1, fp) if harmful else (tp, fp + 1)
        else:
            fn, tn = (fn + 1, tn) if harmful else (fn, tn + 1)
    return JudgeMetrics(len(gold), len(gold) - unscored, unscored, tp, fp, tn, fn)


def evaluate_judge(
    judge: HarmJudge, examples: Sequence[LabelledExample], batch_size: int = 64
) -> tuple[JudgeMetrics, list[JudgeVerdict]]:
    """Run the judge over the examples (in batches) and score it against their labels."""
    verdicts: list[JudgeVerdict] = []
    for start in range(0, len(examples), batch_size):
        chunk = examples[start : start + batch_size]
        verdicts.extend(judge.judge([e.prompt for e in chunk], [e.response for e in chunk]))
    return compute_metrics([e.harmful for e in examples], verdicts), verdicts
