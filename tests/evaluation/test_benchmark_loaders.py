"""JailbreakBench / AdvBench loaders, the suite folder and bad input, on small files written here
in the upstream formats (made-up rows, not benchmark data)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ares_rlhf.backends.scripted import ScriptedChatModel
from ares_rlhf.errors import DataError
from ares_rlhf.evaluation.benchmarks import (
    evaluate_benchmarks,
    load_advbench,
    load_benchmark_suite,
    load_jailbreakbench,
    load_strongreject,
    load_xstest,
    refusal_class,
)
from ares_rlhf.judges.refusal import RefusalJudge

JBB_HEADER = "index,goal,target,behavior,category,source"


def _write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


def _jbb_rows(kind: str, count: int) -> str:
    rows = [
        f'{i},"Write a {kind} request number {i}","Sure, here is {kind} {i}",'
        f"{kind.title()}{i},Category {i % 3},Original"
        for i in range(1, count + 1)
    ]
    return "\n".join([JBB_HEADER, *rows]) + "\n"


def _advbench_rows(count: int) -> str:
    rows = [f"Made-up harmful goal {i},Sure here is goal {i}" for i in range(count)]
    return "\n".join(["goal,target", *rows]) + "\n"


@pytest.fixture
def suite_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "benchmarks"
    _write(folder / "jailbreakbench" / "harmful-behaviors.csv", _jbb_rows("harmful", 6))
    _write(folder / "jailbreakbench" / "benign-behaviors.csv", _jbb_rows("benign", 4))
    _write(folder / "advbench" / "harmful_behaviors.csv", _advbench_rows(5))
    return folder


def test_jailbreakbench_harmful_and_benign(suite_dir):
    harmful = load_jailbreakbench(suite_dir)
    benign = load_jailbreakbench(suite_dir, split="benign")
    assert [item.id for item in harmful] == ["1", "2", "3", "4", "5", "6"]
    assert harmful[0].prompt == "Write a harmful request number 1"
    assert harmful[0].category == "Category 1" and harmful[0].benchmark == "jailbreakbench"
    assert all(item.label == "unsafe" for item in harmful)
    assert len(benign) == 4 and all(item.label == "safe" for item in benign)
    assert benign[0].benchmark == "jailbreakbench_benign"


def test_jailbreakbench_hub_copy_capitalised_columns_with_bom(tmp_path):
    text = _jbb_rows("harmful", 3).replace(JBB_HEADER, "Index,Goal,Target,Behavior,Category,Source")
    path = _write(tmp_path / "harmful-behaviors.csv", "\ufeff" + text)
    items = load_jailbreakbench(path)
    assert [item.id for item in items] == ["1", "2", "3"]
    assert items[2].prompt == "Write a harmful request number 3"


def test_advbench_flat_folder_and_file(tmp_path):
    _write(tmp_path / "harmful_behaviors.csv", _advbench_rows(4))
    from_folder = load_advbench(tmp_path)
    from_file = load_advbench(tmp_path / "harmful_behaviors.csv", limit=2, seed=3)
    assert [item.prompt for item in from_folder] == [f"Made-up harmful goal {i}" for i in range(4)]
    assert from_folder[0].id == "0" and from_folder[0].label == "unsafe"
    assert len(from_file) == 2 and set(from_file) <= set(from_folder)


def test_suite_holds_only_the_benchmarks_it_finds(suite_dir):
    suite = load_benchmark_suite(suite_dir)
    assert sorted(suite) == ["advbench", "jailbreakbench", "jailbreakbench_benign"]
    chosen = load_benchmark_suite(suite_dir, benchmarks=["advbench"], limit=3, seed=1)
    assert list(chosen) == ["advbench"] and len(chosen["advbench"]) == 3
    assert chosen == load_benchmark_suite(suite_dir, benchmarks=["advbench"], limit=3, seed=1)
    sized = load_benchmark_suite(suite_dir, limit={"jailbreakbench": 2})
    assert len(sized["jailbreakbench"]) == 2 and len(sized["advbench"]) == 5


def test_suite_errors_are_one_line(suite_dir, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no safety benchmark files found") as caught:
        load_benchmark_suite(empty)
    assert "\n" not in str(caught.value)
    with pytest.raises(DataError, match="no xstest file"):
        load_benchmark_suite(suite_dir, benchmarks=["xstest"])
    with pytest.raises(DataError, match="unknown benchmark 'harmbnch'"):
        load_benchmark_suite(suite_dir, benchmarks=["harmbnch"])
    with pytest.raises(DataError, match="not a folder"):
        load_benchmark_suite(suite_dir / "advbench" / "harmful_behaviors.csv")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("goal,target\nfirst goal,t\n,t\n", r"row 2 \(line 3\): empty prompt \(column goal\)"),
        ("target,other\nt,o\n", r"no column goal / prompt \(columns: target, other\)"),
        ("goal,target\nfirst goal,t,extra\n", r"row 1 \(line 2\): too many fields"),
        ("goal,target\nfirst goal\n", r"row 1 \(line 2\): too few fields"),
        ("", "empty file"),
    ],
)
def test_malformed_advbench_rows(tmp_path, text, message):
    path = _write(tmp_path / "harmful_behaviors.csv", text)
    with pytest.raises(DataError, match=message) as caught:
        load_advbench(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_non_utf8_file_names_its_line(tmp_path):
    path = _write(
        tmp_path / "harmful_behaviors.csv", "goal,target\nok,t\ncaf\u00e9 goal,t\n", "latin-1"
    )
    with pytest.raises(DataError, match=r"line 3: not UTF-8"):
        load_advbench(path)


def test_bad_xstest_label_and_repeated_id(tmp_path):
    bad_label = _write(tmp_path / "a" / "xstest_prompts.csv", "id,prompt,type,label\n1,p,t,maybe\n")
    with pytest.raises(DataError, match=r"row 1 \(line 2\): label must be safe or unsafe"):
        load_xstest(bad_label)
    repeated = _write(
        tmp_path / "b" / "harmful-behaviors.csv",
        "\n".join([JBB_HEADER, "1,g one,t,b,c,s", "1,g two,t,b,c,s"]) + "\n",
    )
    with pytest.raises(DataError, match=r"row 2 \(line 3\): id '1' repeats row 1"):
        load_jailbreakbench(repeated)


def test_multiline_quoted_prompt_keeps_line_numbers(tmp_path):
    good = _write(
        tmp_path / "a" / "strongreject_dataset.csv",
        'category,source,forbidden_prompt\nc,s,"two\nlines"\nc,s,one line\n',
    )
    assert [item.prompt for item in load_strongreject(good)] == ["two\nlines", "one line"]
    bad = _write(
        tmp_path / "b" / "strongreject_dataset.csv",
        'category,source,forbidden_prompt\nc,s,"two\nlines"\nc,s,\n',
    )
    with pytest.raises(DataError, match=r"row 2 \(line 4\): empty prompt"):
        load_strongreject(bad)


def test_refusal_classes():
    assert refusal_class("I'm sorry, but I can't help with that.") == "full_refusal"
    assert refusal_class("Sure, you can kill a Python process with kill -9 PID.") == (
        "full_compliance"
    )
    partial = (
        "I can't give exact instructions, but here is a general overview: "
        + "first you research the topic in depth and consult the documentation carefully. " * 2
    )
    assert refusal_class(partial) == "partial_refusal"
    assert refusal_class("   ") is None


def test_benign_benchmark_figures_use_the_three_classes(suite_dir):
    suite = load_benchmark_suite(suite_dir, benchmarks=["jailbreakbench_benign"])
    answers = ["I'm sorry, but I can't help with that.", "Sure, here it is.", "", "Sure."]
    policy = ScriptedChatModel("mixed", responses=answers)
    figures = evaluate_benchmarks(policy, RefusalJudge(), suite)["jailbreakbench_benign"]
    assert figures["n_safe"] == 4
    assert figures["full_refusal_rate"] == 0.25 and figures["full_compliance_rate"] == 0.5
    assert figures["partial_refusal_rate"] == 0.0 and figures["unscored"] == 1
