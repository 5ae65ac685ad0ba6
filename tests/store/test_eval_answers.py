"""The ``eval_answers`` table: upsert by key, filters, and stores made before the table existed."""

from __future__ import annotations

import sqlite3
from dataclasses import replace

from ares_rlhf.records import EvalAnswer, JudgeLabel
from ares_rlhf.store.sqlite import DB_NAME, RunStore


def _answer(item_id: str, answer: str = "no", system: str = "before") -> EvalAnswer:
    return EvalAnswer(system, "hf:p", '{"max_new_tokens": 8}', "harmbench", item_id, "p", answer)


def test_answers_round_trip_and_replace_by_key(tmp_path):
    with RunStore.create(tmp_path / "run", {}) as store:
        assert (
            store.add_eval_answers([_answer("1"), _answer("2"), _answer("1", system="after")]) == 3
        )
        labelled = replace(
            _answer("1", "refused"),
            judge_id="refusal",
            judge_label=JudgeLabel.SAFE,
            judge_score=0.0,
            judge_reason="full refusal",
        )
        store.add_eval_answers([labelled])
        rows = store.eval_answers(system="before")
        assert [r.item_id for r in rows] == ["1", "2"]
        assert rows[0] == labelled
        assert rows[1].judge_label is None and rows[1].judge_id == ""
        assert len(store.eval_answers()) == 3
        assert store.eval_answers(benchmark="xstest") == []
        assert store.add_eval_answers([]) == 0


def test_store_from_before_the_table_gets_it_on_first_write(tmp_path):
    run = tmp_path / "run"
    RunStore.create(run, {}).close()
    db = sqlite3.connect(run / DB_NAME)
    db.execute("DROP TABLE eval_answers")
    db.commit()
    db.close()
    with RunStore.open(run) as store:
        assert store.eval_answers() == []
        store.add_eval_answers([_answer("7")])
    with RunStore.open(run) as store:
        assert [r.item_id for r in store.eval_answers()] == ["7"]
