"""TemplateMentor: shape, safety markers, variation and determinism."""

from __future__ import annotations

import re

import pytest

from ares_rlhf.config import MentorConfig
from ares_rlhf.mentor import TemplateMentor, mentor_from_config
from ares_rlhf.mentor.template import encode_request, split_request
from ares_rlhf.records import ComponentSpec
from ares_rlhf.taxonomy import load_catalog
from ares_rlhf.text.refusal import is_refusal

SPEC = ComponentSpec("cybercrime", "novelist", "role_play", "step_by_step")


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def test_output_shape_and_content(catalog) -> None:
    out = TemplateMentor(catalog, seed=0).compose([SPEC])[0]
    assert out is not None and out.spec == SPEC
    assert [m["role"] for m in out.messages] == ["user"]
    intros = catalog.get("persona", "novelist").fragment("intros")
    subjects = catalog.get("topic", "cybercrime").fragment("subjects")
    assert any(intro in out.prompt for intro in intros)
    subject = next(s for s in subjects if s in out.prompt)
    assert subject in out.malicious and subject in out.safe
    assert not re.search(r"\d", re.sub(r"(?m)^\d+\.", "", out.malicious))  # no specifics
    assert is_refusal(out.safe) and not is_refusal(out.malicious)
    redirects = catalog.get("topic", "cybercrime").fragment("redirects")
    assert any(r in out.safe for r in redirects)
    assert out.mentor_id == "template" and not out.mentor_refused


def test_deterministic_per_seed_and_variant(catalog) -> None:
    a = TemplateMentor(catalog, seed=3).compose([SPEC] * 5, variants=range(5))
    b = TemplateMentor(catalog, seed=3).compose([SPEC] * 5, variants=range(5))
    assert [o.prompt for o in a] == [o.prompt for o in b]
    other_seed = TemplateMentor(catalog, seed=4).compose([SPEC] * 5, variants=range(5))
    assert [o.prompt for o in a] != [o.prompt for o in other_seed]


def test_variants_give_different_wordings(catalog) -> None:
    outs = TemplateMentor(catalog, seed=0).compose([SPEC] * 12, variants=range(12))
    assert len({o.prompt for o in outs}) >= 6


def test_every_builtin_spec_composes_without_leftover_slots(catalog) -> None:
    specs = list(catalog.all_specs())
    outs = TemplateMentor(catalog, seed=1).compose(specs)
    assert len(outs) == len(specs)
    for out in outs:
        text = out.prompt + out.malicious + out.safe
        assert not re.search(r"\{[a-z_]*\}", text), text
        assert out.prompt and out.malicious and out.safe
        assert is_refusal(out.safe), out.safe


def test_split_and_encode_request() -> None:
    assert split_request("a b c d e") == ("a b c", "d e")
    assert split_request("single") == ("single", "")
    assert encode_request("how to do it") == "it do to how"


def test_obfuscation_and_splitting_frames_use_the_request(catalog) -> None:
    mentor = TemplateMentor(catalog, seed=0)
    spec = ComponentSpec("fraud", "anonymous", "obfuscation", "code")
    out = mentor.compose_one(spec)
    subjects = catalog.get("topic", "fraud").fragment("subjects")
    assert any(encode_request(s).split()[0] in out.prompt for s in subjects)
    split = mentor.compose_one(ComponentSpec("fraud", "anonymous", "payload_splitting", "code"))
    assert "{request_a}" not in split.prompt and "{request_b}" not in split.prompt


def test_variant_count_must_match(catalog) -> None:
    with pytest.raises(ValueError):
        TemplateMentor(catalog).compose([SPEC, SPEC], variants=[0])


def test_mentor_from_config_builds_template(catalog) -> None:
    mentor = mentor_from_config(MentorConfig(), catalog, seed=2)
    assert isinstance(mentor, TemplateMentor) and mentor.seed == 2
