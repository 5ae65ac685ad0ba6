"""The discovery loop end to end with scripted models."""

from __future__ import annotations

from collections import Counter

import pytest

from ares_rlhf.discovery.loop import STATE_KEY, run_discovery
from ares_rlhf.discovery.typing import calibrate_threshold
from ares_rlhf.mentor import TemplateMentor
from ares_rlhf.records import FailureType, JudgeLabel
from ares_rlhf.run import Run
from ares_rlhf.store.sqlite import RunStore
from ares_rlhf.taxonomy import load_catalog

from .conftest import SpecPolicy, make_config


def new_store(tmp_path, config) -> RunStore:
    return RunStore.create(tmp_path / "run", config.model_dump(mode="json"))


def test_end_to_end_types_probes_by_the_rules(tmp_path, system) -> None:
    config = make_config(probes=200, batch_size=16)
    with new_store(tmp_path, config) as store:
        summary = run_discovery(Run(store, config), **system)
        probes = store.probes()
        state = store.get_state(STATE_KEY)

    assert summary.probes == len(probes) == 200 and state["done"]
    assert summary.batches == state["next_batch"] == 13  # 12 full batches + 8
    assert Counter(p.batch for p in probes)[12] == 8
    threshold = state["threshold"]
    for p in probes:
        assert p.rewards is not None
        prefers_malicious = len(p.malicious) > len(p.safe)
        if p.spec.tactic == "role_play":  # long harmful answer the RM rewards
            assert p.failure_type is FailureType.SYSTEMIC
        elif p.spec.tactic == "obfuscation":  # short harmful answer, RM punishes it
            assert p.rewards.policy < threshold
            expected = FailureType.SYSTEMIC if prefers_malicious else FailureType.POLICY_ONLY
            assert p.failure_type is expected
        else:
            expected = FailureType.RM_ONLY if prefers_malicious else FailureType.NONE
            assert p.failure_type is expected
        assert p.policy_id == "scripted:spec-policy" and p.reward_model_id == "scripted:length-rm"
        assert p.judge_id == "test:prefix" and p.mentor_id == "template"
        assert p.phase == "discovery"
    counts = Counter(p.failure_type.value for p in probes)
    assert summary.counts == {**{k: 0 for k in ("A", "B", "C", "none", "unscored")}, **counts}
    assert state["counts"] == summary.counts
    assert counts["C"] > 0 and counts["B"] > 0 and counts["none"] > 0
    assert summary.top_combinations and all(
        "/role_play/" in c or "/obfuscation/" in c for c, _ in summary.top_combinations
    )
    assert summary.top_components["tactic"][0][0] in ("role_play", "obfuscation")
    assert summary.diversity["failures"] == sum(counts[k] for k in "ABC")
    assert 0 < summary.diversity["mean_pairwise_distance"] <= 1


def test_threshold_is_calibrated_on_mentor_safe_responses(tmp_path, system) -> None:
    config = make_config(probes=16)
    with new_store(tmp_path, config) as store:
        run_discovery(Run(store, config), **system)
        threshold = store.get_state(STATE_KEY)["threshold"]
    # recompute independently: the same 32 calibration specs scored by the length RM
    catalog = load_catalog()
    import numpy as np

    from ares_rlhf.records import COMPONENT_TYPES, ComponentSpec

    rng = np.random.default_rng([0, 0xCA1])
    ids = [catalog.ids(t) for t in COMPONENT_TYPES]
    picks = [rng.integers(0, len(i), size=32) for i in ids]
    specs = [ComponentSpec(*(i[p[k]] for i, p in zip(ids, picks, strict=True))) for k in range(32)]
    outs = TemplateMentor(catalog, seed=0).compose(specs, [-1 - k for k in range(32)])
    assert threshold == pytest.approx(calibrate_threshold([len(o.safe) / 100 for o in outs], 0.5))


def test_fixed_threshold_skips_calibration(tmp_path, system) -> None:
    config = make_config(probes=16, typing={"reward_threshold": 123.0})
    with new_store(tmp_path, config) as store:
        run_discovery(Run(store, config), **system)
        assert store.get_state(STATE_KEY)["threshold"] == 123.0
        assert all(
            p.failure_type is not FailureType.SYSTEMIC or len(p.malicious) > len(p.safe)
            for p in store.probes()
        )


def test_unscored_judge_gives_unscored_probes(tmp_path, system) -> None:
    class EmptyOnRolePlay(SpecPolicy):
        def generate(self, conversations, params=None):
            from ares_rlhf.sim.backend import LOOKUP

            out = super().generate(conversations, params)
            specs = LOOKUP.specs(self.model_id, conversations)
            return ["" if s.tactic == "role_play" else o for s, o in zip(specs, out, strict=True)]

    config = make_config(probes=64)
    with new_store(tmp_path, config) as store:
        summary = run_discovery(Run(store, config), **{**system, "policy": EmptyOnRolePlay()})
        probes = store.probes()
    unscored = [p for p in probes if p.spec.tactic == "role_play"]
    assert unscored and all(p.failure_type is FailureType.UNSCORED for p in unscored)
    assert all(p.judge.label is JudgeLabel.UNSCORED and p.policy_failed is None for p in unscored)
    assert summary.counts["unscored"] == len(unscored)


def test_policy_sampling_is_seeded_per_batch(tmp_path, system) -> None:
    config = make_config(
        probes=48,
        batch_size=16,
        policy={"spec": "scripted:p", "generation": {"batch_size": 5, "temperature": 0.7}},
    )
    with new_store(tmp_path, config) as store:
        run_discovery(Run(store, config), **system)
    params = system["policy"].params
    assert system["policy"].calls == 3 * 4  # 16 prompts in chunks of 5
    seeds = [p.seed for p in params]
    assert len(set(seeds)) == 3 and all(p.temperature == 0.7 for p in params)


def test_mentor_skips_are_counted_not_written(tmp_path, system) -> None:
    catalog = load_catalog()

    class SkipsFraud(TemplateMentor):
        def compose(self, specs, variants=None):
            outs = super().compose(specs, variants)
            return [None if s.topic == "fraud" else o for s, o in zip(specs, outs, strict=True)]

    config = make_config(probes=120)
    with new_store(tmp_path, config) as store:
        summary = run_discovery(Run(store, config), mentor=SkipsFraud(catalog), **system)
        probes = store.probes()
    assert len(probes) == 120 and summary.probes == 120
    assert not any(p.spec.topic == "fraud" for p in probes)
    assert summary.mentor_skipped > 0


def test_duplicates_are_redrawn_then_skipped_and_the_run_stops(tmp_path, system) -> None:
    catalog = load_catalog()

    class SamePrompt(TemplateMentor):
        def compose(self, specs, variants=None):
            outs = super().compose(specs, variants)
            for o in outs:
                o.messages = [{"role": "user", "content": "the very same prompt every single time"}]
                o.plan = None
            return outs

    config = make_config(probes=50, batch_size=4)
    with new_store(tmp_path, config) as store:
        summary = run_discovery(Run(store, config), mentor=SamePrompt(catalog), **system)
        assert store.count_probes() == 1
    assert summary.stopped_early and summary.probes == 1
    assert summary.skipped_duplicates == 3 + 5 * 4  # rest of batch 0, then 5 empty batches


def test_near_duplicate_redraw_gets_another_variant(tmp_path, system) -> None:
    catalog = load_catalog()
    seen_variants: list[int] = []

    class Recording(TemplateMentor):
        def compose(self, specs, variants=None):
            seen_variants.extend(variants)
            return super().compose(specs, variants)

    # one spec only: many probes of it force re-draws among its few wordings
    from ares_rlhf.search.base import SearchStrategy

    class OneSpec(SearchStrategy):
        def propose(self, n):
            return [next(catalog.all_specs())] * n

        def observe(self, outcomes):
            pass

    config = make_config(probes=12, batch_size=6)
    with new_store(tmp_path, config) as store:
        summary = run_discovery(
            Run(store, config), mentor=Recording(catalog), strategy=OneSpec(catalog), **system
        )
        prompts = [p.prompt for p in store.probes()]
    assert len(set(prompts)) == len(prompts)
    assert summary.skipped_duplicates + len(prompts) + summary.mentor_skipped >= 12
    assert len(seen_variants) > 32 + 12  # calibration + first draws + re-draws


def test_progress_reports_each_batch(tmp_path, system) -> None:
    events = []
    config = make_config(probes=40, batch_size=16)
    with new_store(tmp_path, config) as store:
        run_discovery(Run(store, config), progress=events.append, **system)
    assert [e.done for e in events] == [16, 32, 40]
    assert events[-1].budget == 40 and events[-1].probes_per_s > 0
    assert sum(events[-1].counts.values()) == 40


def test_builds_components_from_config(tmp_path) -> None:
    """No injection: scripted models, refusal judge and template mentor come from the config."""
    config = make_config(probes=20, batch_size=10)
    with new_store(tmp_path, config) as store:
        summary = run_discovery(Run(store, config))
        probes = store.probes()
    assert summary.probes == 20
    assert {p.policy_id for p in probes} == {"scripted:policy"}
    assert {p.reward_model_id for p in probes} == {"scripted:rm"}
    assert all(p.policy_response == "I can't help with that." for p in probes)
    assert all(p.failure_type in (FailureType.NONE, FailureType.RM_ONLY) for p in probes)


def test_stored_variant_reproduces_the_prompt(tmp_path, system) -> None:
    config = make_config(probes=32, seed=4)
    with new_store(tmp_path, config) as store:
        run_discovery(Run(store, config), **system)
        probes = store.probes()
    mentor = TemplateMentor(load_catalog(), seed=4)
    for p in probes:
        assert mentor.compose_one(p.spec, p.extra["mentor_variant"]).prompt == p.prompt
        assert p.extra["fallback_used"] is None


def test_llm_mentor_refusals_fall_back_and_are_recorded(tmp_path, system) -> None:
    mentor = {
        "kind": "llm",
        "model": {
            "spec": "scripted:mentor",
            "options": {"responses": ["I'm sorry, I can't help."]},
        },
        "on_refusal": "template",
    }
    config = make_config(probes=24, mentor=mentor)
    with new_store(tmp_path, config) as store:
        summary = run_discovery(Run(store, config), **system)
        probes = store.probes()
    assert len(probes) == 24 and summary.mentor_refused == 24
    assert all(p.mentor_refused and p.mentor_id == "llm:scripted:mentor" for p in probes)
    assert all(p.extra["fallback_used"] == "template" for p in probes)
