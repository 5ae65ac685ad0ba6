"""Recombined attacks and benign look-alikes: more varied repair prompts, never held-out ones."""

from __future__ import annotations

from ares_rlhf.mentor import TemplateMentor
from ares_rlhf.records import ComponentSpec
from ares_rlhf.repair.augment import DIRECT_PERSONA, DIRECT_TACTIC, framed_benign, recombined_specs
from ares_rlhf.repair.policy import collect_repair_prompts
from ares_rlhf.taxonomy import load_catalog

from .test_policy import make_run


def test_recombinations_keep_the_request_put_the_direct_ask_first_and_avoid_heldout() -> None:
    catalog = load_catalog()
    train = [
        ComponentSpec("drugs", "novelist", "fictional_frame", "step_by_step"),
        ComponentSpec("fraud", "student", "role_play", "code"),
    ]
    heldout = [ComponentSpec("drugs", "teacher", "hypothetical", "step_by_step")]
    specs = recombined_specs(train, heldout, catalog, per_spec=5, seed=0)
    assert len(specs) == 10 and len(set(specs)) == 10
    for source in train:
        mine = [s for s in specs if (s.topic, s.goal) == (source.topic, source.goal)]
        assert len(mine) == 5
        assert (mine[0].persona, mine[0].tactic) == (DIRECT_PERSONA, DIRECT_TACTIC)
    blocked = {(h.topic, h.tactic, h.goal) for h in heldout}
    assert not set(specs) & set(train + heldout)
    assert not [s for s in specs if (s.topic, s.tactic, s.goal) in blocked]
    assert recombined_specs(train, heldout, catalog, per_spec=5, seed=0) == specs
    assert recombined_specs(train, heldout, catalog, per_spec=0, seed=0) == []


def test_framed_benign_keeps_answers_and_wraps_the_requested_share() -> None:
    mentor = TemplateMentor(load_catalog(), seed=0)
    pool = [(f"How do I bake bread number {k}?", f"answer {k}") for k in range(200)]
    specs = [
        ComponentSpec("drugs", "novelist", "role_play", "step_by_step"),
        ComponentSpec("drugs", "novelist", "crescendo", "step_by_step"),  # multi-turn: unused
    ]
    framed = framed_benign(pool, specs, mentor, 0.5, seed=0)
    assert [a for _, a in framed] == [a for _, a in pool]
    changed = [f for (f, _), (p, _) in zip(framed, pool, strict=True) if f != p]
    assert 70 <= len(changed) <= 130
    assert all("bake bread" in f and ("UNBOUND" in f or "Grandma" in f) for f in changed)
    assert framed_benign(pool, specs, mentor, 0.0, seed=0) == pool


def test_recombined_and_framed_benign_prompts_join_the_mix_without_heldout_leaks(
    tmp_path, tiny_lm_dir, tiny_rm_dir
) -> None:
    with make_run(
        tmp_path / "run", tiny_lm_dir, tiny_rm_dir, recombine=2, framed_benign=1.0
    ) as run:
        prompts = collect_repair_prompts(run)
        split = run.split
    assert prompts.counts["recombined"] > 0
    blocked = {(s.topic, s.tactic, s.goal) for s in split.heldout}
    adversarial = [p for p in prompts.train if p.kind == "adversarial"]
    assert not [p for p in adversarial if p.spec in set(split.heldout)]
    recombined = [p for p in adversarial if p.spec not in set(split.train)]
    assert len(recombined) == prompts.counts["recombined"]
    assert all(p.safe and p.malicious for p in recombined)
    assert not [p for p in recombined if (p.spec.topic, p.spec.tactic, p.spec.goal) in blocked]
    benign = [p for p in prompts.train if p.kind == "benign"]
    assert benign and all(p.safe for p in benign)
    assert len(benign) == len(adversarial)  # benign_ratio 1 covers the recombined attacks too


def test_benign_twin_is_the_attack_word_for_word_with_the_request_swapped() -> None:
    mentor = TemplateMentor(load_catalog(), seed=3)
    spec = ComponentSpec("drugs", "novelist", "role_play", "step_by_step")
    attack = mentor.compose_one(spec, 7).prompt
    twin = mentor.benign_twin(spec, 7, "How do I bake sourdough bread?")
    assert twin != attack and "How do I bake sourdough bread?" in twin
    # what surrounds the request is the attack's own text
    head, _, tail = twin.partition("How do I bake sourdough bread?")
    assert attack.startswith(head) and attack.endswith(tail)
    assert mentor.compose_one(spec, 7).prompt == attack  # composing a twin changes no draw
    try:
        mentor.benign_twin(ComponentSpec("drugs", "novelist", "crescendo", "step_by_step"), 0, "x")
    except ValueError as error:
        assert "turns" in str(error)
    else:
        raise AssertionError("a multi-turn tactic has no twin")


def test_twins_join_the_mix_side_by_side_and_share_one_refusal(
    tmp_path, tiny_lm_dir, tiny_rm_dir
) -> None:
    with make_run(
        tmp_path / "run", tiny_lm_dir, tiny_rm_dir, twins=2, refusal_contrast=True
    ) as run:
        prompts = collect_repair_prompts(run)
        split, requests = run.split, {b.prompt: b.answer for b in run.benign("train")}
    assert prompts.counts["twins"] > 0
    mix = prompts.train
    pairs = [
        (a, b)
        for a, b in zip(mix, mix[1:], strict=False)
        if a.kind == "adversarial" and b.kind == "benign" and a.refusal and a.refusal == b.known_bad
    ]
    assert len(pairs) >= prompts.counts["twins"]
    for attack, twin in pairs[: prompts.counts["twins"]]:
        assert attack.spec in set(split.train) and attack.safe and attack.malicious
        asked = [r for r in requests if r in twin.prompt]
        assert asked and twin.safe == requests[asked[0]]
    benign = sum(p.kind == "benign" for p in mix)
    assert benign == sum(p.kind == "adversarial" for p in mix)  # twins count toward the ratio
