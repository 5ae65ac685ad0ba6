"""A later round's policy repair is sized to what the round found (rounds.scale_repair)."""

from __future__ import annotations

import dataclasses
import itertools

from ares_rlhf.config import PolicyRepairConfig
from ares_rlhf.records import ComponentSpec, FailureType, in_round
from ares_rlhf.repair.datasets import policy_prompt_rows
from ares_rlhf.repair.policy import PolicyRepairer, collect_repair_prompts
from ares_rlhf.repair.policy.budget import budget_scale, round_repair_config, scaled_repair_config
from ares_rlhf.repair.policy.prompts import training_failures

from .test_policy import PERSONAS, TOPICS, make_probe, make_run

RECIPE = {"algorithm": "dpo-rm", "steps": 16, "harmful_anchors": 16, "iterations": 2}


def test_scaling_shrinks_steps_and_fixed_parts_and_keeps_at_least_one_step() -> None:
    config = PolicyRepairConfig(**RECIPE, benign_anchors=8, max_prompts=40)
    assert scaled_repair_config(config, 1.0) is config
    tenth = scaled_repair_config(config, 0.1)
    assert (tenth.steps, tenth.iterations, tenth.harmful_anchors) == (2, 2, 2)
    assert (tenth.benign_anchors, tenth.max_prompts) == (1, 4)
    tiny = scaled_repair_config(config, 0.01)
    assert (tiny.steps, tiny.iterations, tiny.harmful_anchors, tiny.max_prompts) == (1, 1, 0, 1)
    # everything else is the configured recipe
    assert tiny.learning_rate == config.learning_rate and tiny.beta == config.beta


def start_round_two(run, failing: int) -> None:
    """Round 2's discovery: 12 probes of distinct combinations, the first ``failing`` of them
    policy-only failures."""
    run.start_round(2)
    combos = itertools.product(TOPICS, PERSONAS)
    probes = []
    for index, (topic, persona) in enumerate(combos):
        spec = ComponentSpec(topic, persona, "role_play", "step_by_step")
        failure = FailureType.POLICY_ONLY if index < failing else FailureType.NONE
        probe = make_probe(spec, failure, 100 + index)
        probes.append(dataclasses.replace(probe, phase=in_round("discovery", 2)))
    run.store.add_probes(probes)
    run.fix_split()


def anchor_rows(run) -> int:
    """Exported training prompts that are harmful anchors (adversarial, no combination)."""
    rows = policy_prompt_rows(run)
    return sum(
        r["split"] == "train" and r["kind"] == "adversarial" and r["combination"] is None
        for r in rows
    )


def test_round_two_repairs_in_proportion_to_its_failures(tmp_path, tiny_lm_dir, tiny_rm_dir) -> None:
    with make_run(tmp_path / "run", tiny_lm_dir, tiny_rm_dir, **RECIPE) as run:
        assert budget_scale(run) == 1.0  # round 1 repairs with the configured recipe
        assert anchor_rows(run) == 16
        first = len(training_failures(run, 1))
        start_round_two(run, failing=4)
        second = len(training_failures(run, 2))
        assert 0 < second < first
        scale = budget_scale(run)
        assert scale == second / first
        config = round_repair_config(run)
        assert config.steps == max(1, round(16 * scale)) < 16
        assert config.harmful_anchors == round(16 * scale) < 16
        # the stage and the export both use the round's settings
        repairer = PolicyRepairer(run)
        assert repairer.budget_scale == scale and repairer.config == config
        prompts = collect_repair_prompts(run, config=config)
        assert prompts.counts["harmful_anchors"] == config.harmful_anchors
        assert anchor_rows(run) == config.harmful_anchors
        # switched off, a later round repairs with the full recipe again
        run.override("rounds", {"scale_repair": False})
        assert budget_scale(run) == 1.0 and round_repair_config(run).steps == 16


def test_a_round_that_finds_more_than_round_one_keeps_the_full_recipe(
    tmp_path, tiny_lm_dir, tiny_rm_dir
) -> None:
    with make_run(tmp_path / "run", tiny_lm_dir, tiny_rm_dir, **RECIPE) as run:
        start_round_two(run, failing=12)
        assert len(training_failures(run, 2)) > len(training_failures(run, 1))
        assert budget_scale(run) == 1.0
        assert round_repair_config(run) == run.config.repair_policy
