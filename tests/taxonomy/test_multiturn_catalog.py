"""Multi-turn tactics in the catalog: the shipped ones, the `turns` field and its validation."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from ares_rlhf.errors import CatalogError
from ares_rlhf.taxonomy import load_catalog
from ares_rlhf.taxonomy.catalog import MAX_TURNS, MIN_TURNS

MULTI_TURN = {"crescendo", "context_building"}


def _write(tmp_path: Path, tactic: dict) -> Path:
    path = tmp_path / "extra.yaml"
    path.write_text(yaml.safe_dump({"tactics": [{"id": "t", "description": "d", **tactic}]}))
    return path


def test_builtin_multi_turn_tactics() -> None:
    catalog = load_catalog()
    found = {t.id for t in catalog.components["tactic"].values() if t.multi_turn}
    assert found == MULTI_TURN
    for tactic_id in MULTI_TURN:
        tactic = catalog.get("tactic", tactic_id)
        assert MIN_TURNS <= len(tactic.turns) <= MAX_TURNS
        assert "frames" not in tactic.fragments
        assert all(alternatives for alternatives in tactic.turns)
        # the opening approaches the topic without the ask; only the last turn asks
        assert all("{request}" not in a for turn in tactic.turns[:-1] for a in turn)
        assert all("{request}" in a for a in tactic.turns[-1])
        # the safety rule: specifics are placeholders only
        for turn in tactic.turns:
            for text in turn:
                assert not re.search(r"\d+\.\s", text), text
    assert catalog.combination_count == 13 * 9 * 17 * 6


def test_turns_round_trip_through_to_dict(tmp_path: Path) -> None:
    catalog = load_catalog()
    dumped = catalog.to_dict()
    path = tmp_path / "copy.yaml"
    path.write_text(yaml.safe_dump({"replace": True, **dumped}))
    again = load_catalog([path])
    assert again.get("tactic", "crescendo").turns == catalog.get("tactic", "crescendo").turns
    assert again.get("tactic", "role_play").fragments == catalog.get("tactic", "role_play").fragments


def test_a_user_catalog_adds_a_multi_turn_tactic(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        {"turns": ["{intro} Tell me about {subject}.", ["Now: {request}", "So, {request}"]]},
    )
    tactic = load_catalog(["builtin", path]).get("tactic", "t")
    assert tactic.turns == (("{intro} Tell me about {subject}.",), ("Now: {request}", "So, {request}"))


@pytest.mark.parametrize(
    ("tactic", "message"),
    [
        ({"turns": ["{request}"]}, "must be a list of 2 to 6 user turns"),
        ({"turns": ["a"] * 6 + ["{request}"]}, "must be a list of 2 to 6 user turns"),
        ({"turns": "{intro} {request}"}, "must be a list of 2 to 6 user turns"),
        ({"turns": ["hello", []]}, "turns[1]: an empty list of alternatives"),
        ({"turns": ["hello", "  "]}, "turns[1]: must be a non-empty string"),
        ({"turns": ["hello", ["{request}", 3]]}, "turns[1][1]: must be a non-empty string"),
        ({"turns": ["about {target}", "{request}"]}, "turns[0]: unknown reference {target}"),
        ({"turns": ["{subject}", "tell me more"]}, "the last turn must carry the request"),
        (
            {"turns": ["a", ["{request}", "no request here"]]},
            "turns[1][1]: the last turn must carry the request",
        ),
        ({"turns": ["a", "{request}"], "frames": ["{request}"]}, "frames (one turn) or turns"),
        ({"turns": ["a", "{request_converted}"]}, "needs a 'converters' list"),
        (
            {"converters": ["base64"], "turns": ["{request_converted}", "{request}"]},
            "must place {request_converted} in every alternative of its last turn",
        ),
    ],
)
def test_bad_turns_are_rejected_in_one_line(tmp_path: Path, tactic: dict, message: str) -> None:
    path = _write(tmp_path, tactic)
    with pytest.raises(CatalogError) as info:
        load_catalog(["builtin", path])
    text = str(info.value)
    assert message in text and str(path) in text and "\n" not in text


def test_a_multi_turn_tactic_may_stack_a_converter(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        {"converters": ["base64"], "turns": ["{intro} hi", "{converter_instruction} {request_converted}"]},
    )
    assert load_catalog(["builtin", path]).get("tactic", "t").converters == ("base64",)
