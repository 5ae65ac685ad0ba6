import re
from pathlib import Path

import pytest
import yaml

from ares_rlhf.errors import CatalogError
from ares_rlhf.taxonomy import load_catalog
from ares_rlhf.taxonomy.catalog import FRAGMENT_SLOTS

REQUIRED_TACTICS = {
    "direct_request",
    "role_play",
    "fictional_frame",
    "hypothetical",
    "academic_framing",
    "authority_urgency",
    "refusal_suppression",
    "prefix_injection",
    "payload_splitting",
    "obfuscation",
    "many_shot",
    "benign_decomposition",
    "crescendo",
    "context_building",
}


def test_builtin_catalog_sizes_and_required_tactics() -> None:
    catalog = load_catalog()
    sizes = catalog.sizes()
    assert sizes["topic"] >= 10 and sizes["persona"] >= 8
    assert sizes["tactic"] >= 14 and sizes["goal"] >= 6
    assert REQUIRED_TACTICS <= set(catalog.ids("tactic"))
    assert catalog.combination_count == len(list(catalog.all_specs()))


def test_builtin_topics_cover_benchmark_categories() -> None:
    categories = {c for t in load_catalog().components["topic"].values() for c in t.categories}
    for needed in [
        "harmbench:chemical_biological",
        "harmbench:cybercrime_intrusion",
        "harmbench:copyright",
        "harmbench:harassment_bullying",
        "harmbench:illegal",
        "harmbench:misinformation_disinformation",
        "strongreject:disinformation_and_deception",
        "strongreject:illegal_goods_and_services",
        "strongreject:non_violent_crimes",
        "strongreject:sexual_content",
        "strongreject:violence",
        "strongreject:hate_harassment_and_discrimination",
    ]:
        assert needed in categories


def test_malicious_fragments_hold_no_operational_content() -> None:
    """Shipped malicious texts read like compliance openings but are topic-free templates.

    The only slot is ``{subject}`` (so no topic-specific detail can appear), list items carry no
    number, quantity or placeholder, and the texts stay short.
    """
    catalog = load_catalog()
    for goal in catalog.components["goal"].values():
        for text in goal.fragment("malicious"):
            assert set(re.findall(r"\{([^{}]*)\}", text)) <= {"subject"}, goal.id
            assert not re.search(r"\[[A-Z]", text), goal.id
            steps = re.findall(r"^\s*(?:\d+\.|-)\s*(.+)$", text, re.MULTILINE)
            assert not any(re.search(r"\d", step) for step in steps), (goal.id, steps)
            assert len(text) < 400, goal.id


def test_shipped_prompt_fragments_are_natural_language() -> None:
    """No [PLACEHOLDER] in subjects, asks or frames: real requests have none."""
    catalog = load_catalog()
    for components in catalog.components.values():
        for component in components.values():
            for name in set(component.fragments) & {"subjects", "asks", "frames", "intros", "turns"}:
                for text in _texts(component.fragments[name]):
                    assert not re.search(r"\[[A-Z]", text), (component.id, text)


def _texts(value) -> list[str]:
    """Every string in a fragment list (multi-turn tactics nest alternatives in lists)."""
    if isinstance(value, str):
        return [value]
    return [text for item in value for text in _texts(item)]


def _write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "extra.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _topic(cid: str = "new_topic", **over: object) -> dict:
    return {"id": cid, "description": "d", "subjects": ["s [X]"], "redirects": ["r"], **over}


def test_user_catalog_adds_and_overrides(tmp_path: Path) -> None:
    path = _write(
        tmp_path, {"topics": [_topic(), _topic("cybercrime", description="mine", override=True)]}
    )
    catalog = load_catalog(["builtin", path])
    assert "new_topic" in catalog.ids("topic")
    assert catalog.get("topic", "cybercrime").description == "mine"


def test_user_catalog_can_replace_everything(tmp_path: Path) -> None:
    data = {
        "replace": True,
        "topics": [_topic()],
        "personas": [{"id": "p", "description": "d", "intros": ["hi"]}],
        "tactics": [{"id": "t", "description": "d", "frames": ["{intro} {request}"]}],
        "goals": [
            {
                "id": "g",
                "description": "d",
                "asks": ["do {subject}"],
                "malicious": ["ok [X]"],
                "safe": ["no {redirect}"],
            }
        ],
    }
    catalog = load_catalog(["builtin", _write(tmp_path, data)])
    assert catalog.combination_count == 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"topics": [_topic(), _topic()]}, "duplicate id 'new_topic'"),
        ({"topics": [_topic("cybercrime")]}, "duplicate id 'cybercrime'"),
        ({"topics": [_topic("ghost", override=True)]}, "override of unknown topic id 'ghost'"),
        ({"topics": [_topic(description="")]}, "topics[0] (new_topic).description"),
        ({"topics": [_topic(subjects=[])]}, "subjects: must be a non-empty list"),
        ({"topics": [_topic(subjects=["  "])]}, "subjects[0]: must be a non-empty string"),
        ({"topics": [_topic(subjects=["about {target}"])]}, "unknown reference {target}"),
        (
            {"tactics": [{"id": "t", "description": "d", "frames": ["{intro} {subject}"]}]},
            "unknown reference {subject}",
        ),
        ({"topics": [_topic(colour="red")]}, "unknown field 'colour'"),
        ({"topicz": []}, "unknown section 'topicz'"),
        ({"topics": [_topic("Bad Id")]}, "must use lower-case"),
    ],
)
def test_bad_catalogs_are_rejected_clearly(tmp_path: Path, data: dict, message: str) -> None:
    path = _write(tmp_path, data)
    with pytest.raises(CatalogError) as info:
        load_catalog(["builtin", path])
    assert message in str(info.value)
    assert str(path) in str(info.value)


def test_every_fragment_type_is_declared() -> None:
    catalog = load_catalog()
    for ctype, fragments in FRAGMENT_SLOTS.items():
        for component in catalog.components[ctype].values():
            expected = set(fragments) - ({"frames"} if component.multi_turn else set())
            assert set(component.fragments) == expected
