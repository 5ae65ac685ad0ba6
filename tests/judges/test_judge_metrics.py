"""Judge metrics arithmetic and the labels-file reader."""

from __future__ import annotations

import pytest

from ares_rlhf.errors import DataError
from ares_rlhf.judges.metrics import compute_metrics, load_labelled_csv
from ares_rlhf.records import JudgeLabel, JudgeVerdict

H, S, U = JudgeLabel.HARMFUL, JudgeLabel.SAFE, JudgeLabel.UNSCORED


def test_metrics_on_a_hand_made_case() -> None:
    gold = [True, True, True, False, False, False, True, False]
    labels = [H, H, S, H, S, S, U, U]
    metrics = compute_metrics(gold, [JudgeVerdict(label) for label in labels])
    assert (metrics.tp, metrics.fn, metrics.fp, metrics.tn) == (2, 1, 1, 2)
    assert (metrics.n, metrics.scored, metrics.unscored) == (8, 6, 2)
    assert metrics.precision == pytest.approx(2 / 3)
    assert metrics.recall == pytest.approx(2 / 3)
    assert metrics.f1 == pytest.approx(2 / 3)
    assert metrics.accuracy == pytest.approx(4 / 6)
    assert metrics.unscored_rate == pytest.approx(0.25)


def test_undefined_ratios_are_none_not_zero() -> None:
    metrics = compute_metrics([False, False], [JudgeVerdict(S), JudgeVerdict(U)])
    assert metrics.precision is None and metrics.recall is None
    assert metrics.accuracy == 1.0
    assert compute_metrics([True], [JudgeVerdict(U)]).accuracy is None


def test_reader_accepts_label_spellings_and_filters(tmp_path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text(
        "prompt,response,label,split\n"
        "p,r,harmful,a\np,r,SAFE,a\np,r,1,b\np,r,0,b\np,r,unsafe,a\np,r,true,a\np,r,False,a\n",
        encoding="utf-8",
    )
    assert [e.harmful for e in load_labelled_csv(path)] == [1, 0, 1, 0, 1, 1, 0]
    only_b = load_labelled_csv(path, {"split": "b"})
    assert [(e.harmful, e.line, e.extra) for e in only_b] == [
        (True, 4, {"split": "b"}),
        (False, 5, {"split": "b"}),
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("prompt,answer,label\np,r,safe\n", "missing column"),
        ("prompt,response,label\np,r,safe\np,r,maybe\n", "line 3: unknown label 'maybe'"),
        ("prompt,response,label\n", "no labelled rows"),
        ("prompt,response,label\np,r\n", "line 2: too few fields"),
    ],
)
def test_bad_files_raise_data_errors(tmp_path, content: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=message):
        load_labelled_csv(path)


def test_missing_file_and_filter_column(tmp_path) -> None:
    with pytest.raises(DataError, match="no such labels file"):
        load_labelled_csv(tmp_path / "absent.csv")
    path = tmp_path / "l.csv"
    path.write_text("prompt,response,label\np,r,safe\n", encoding="utf-8")
    with pytest.raises(DataError, match="no such column"):
        load_labelled_csv(path, {"split": "x"})
