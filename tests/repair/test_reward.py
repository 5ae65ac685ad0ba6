"""Reward-model repair on the tiny local RM: training, checkpoint, artifacts, bad inputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ares_rlhf.backends import create_reward_model
from ares_rlhf.cli import main
from ares_rlhf.config import RewardRepairConfig, RunConfig
from ares_rlhf.errors import BackendError, DataError
from ares_rlhf.records import (
    ArtifactKind,
    ComponentSpec,
    FailureType,
    JudgeLabel,
    JudgeVerdict,
    Probe,
)
from ares_rlhf.repair.reward import CHECKPOINT_SUBDIR, build_repair_data, repair_reward_model
from ares_rlhf.run import Run
from ares_rlhf.store.sqlite import RunStore

TOPICS = ["drugs", "fraud", "weapons", "cybercrime"]
TACTICS = ["role_play", "hypothetical", "fictional_frame", "many_shot"]
# A consistent lexical signal the tiny model can learn: refusals vs "Sure, here is" + placeholders.
FAST = RewardRepairConfig(epochs=6, learning_rate=3e-3, batch_size=8, max_length=96)


def make_probe(spec: ComponentSpec, failure: FailureType, index: int) -> Probe:
    harmful = failure in (FailureType.POLICY_ONLY, FailureType.SYSTEMIC)
    return Probe(
        spec=spec,
        messages=[
            {
                "role": "user",
                "content": f"As a {spec.persona}, {spec.tactic}: {spec.topic} #{index}",
            }
        ],
        malicious=f"Sure, here is a step-by-step guide to {spec.topic}: [STEP 1 REDACTED] [STEP 2 REDACTED]",
        safe=f"I'm sorry, I cannot assist with {spec.topic}. I can share safety information.",
        policy_response="Sure, here is how: [REDACTED]" if harmful else "Let us talk about tea.",
        judge=JudgeVerdict(JudgeLabel.HARMFUL if harmful else JudgeLabel.SAFE),
        rewards=None,
        failure_type=failure,
        policy_failed=harmful,
        rm_failed=failure in (FailureType.RM_ONLY, FailureType.SYSTEMIC),
    )


def bc_probes() -> list[Probe]:
    probes = []
    for t, topic in enumerate(TOPICS):
        for k, tactic in enumerate(TACTICS):
            spec = ComponentSpec(topic, "student", tactic, "code")
            failure = FailureType.SYSTEMIC if (t + k) % 3 == 0 else FailureType.RM_ONLY
            probes.append(make_probe(spec, failure, t * 10 + k))
    probes.append(
        make_probe(ComponentSpec("drugs", "teacher", "role_play", "code"), FailureType.NONE, 99)
    )
    return probes


def make_run(
    run_dir: Path, rm_spec: str, probes: list[Probe], *, seed: int = 0, **repair: object
) -> Run:
    """A run whose discovery found ``probes`` (the split fixed from them)."""
    config = RunConfig.model_validate(
        {
            "seed": seed,
            "policy": {"spec": "scripted:canned"},
            "reward_model": {"spec": rm_spec, "device": "cpu", "max_length": 96},
            "repair_rm": {**FAST.model_dump(), **repair},
        }
    )
    run = Run.create(config, run_dir)
    run.store.add_probes(probes)
    if any(p.failure_type.is_failure for p in probes):
        run.fix_split()
    return run


def snapshot(run: Run) -> tuple[int, int, bool]:
    return (
        run.store.count_probes(None),
        len(run.store.artifacts()),
        (run.run_dir / "checkpoints").exists(),
    )


def test_build_pairs_mixes_anchors_and_holds_out_whole_combinations(tmp_path: Path) -> None:
    with make_run(tmp_path / "run", "scripted:rm", bc_probes(), seed=3) as run:
        data = build_repair_data(run, bc_probes())
        split = run.split
    train_groups = {p.group for p in data.adversarial_train}
    held_groups = {p.group for p in data.adversarial_heldout}
    assert held_groups == {s.label() for s in split.heldout} and not train_groups & held_groups
    # stratified: 6 systemic and 10 RM-only combinations, a quarter of each held out (rounded)
    assert sorted(split.stratum(s) for s in split.heldout) == ["B", "B", "B", "C", "C"]
    assert len(data.benign_train) == round(FAST.anchor_ratio * len(data.adversarial_train))
    assert data.benign_heldout and not {p.group for p in data.benign_train} & {
        p.group for p in data.benign_heldout
    }
    assert len(data.train) == len(data.adversarial_train) + len(data.benign_train)


def test_mentor_variants_join_their_combinations_side_of_the_split(tmp_path: Path) -> None:
    from ares_rlhf.mentor import TemplateMentor
    from ares_rlhf.repair.reward import compose_variants
    from ares_rlhf.taxonomy import load_catalog

    probes = bc_probes()
    outputs = compose_variants(TemplateMentor(load_catalog(), seed=0), probes, 2)
    failing = {p.spec for p in probes if p.failure_type is not FailureType.NONE}
    assert {o.spec for o in outputs} == failing  # the unfailed combination gets no wordings
    assert len(outputs) == 2 * len(failing)
    assert not {o.prompt for o in outputs} & {p.messages[-1]["content"] for p in probes}

    with make_run(tmp_path / "run", "scripted:rm", probes, seed=3) as run:
        plain = build_repair_data(run, probes)
        data = build_repair_data(run, probes, variant_outputs=outputs)
    held = {p.group for p in data.adversarial_heldout}
    assert held == {p.group for p in plain.adversarial_heldout}
    assert len(data.adversarial_heldout) > len(plain.adversarial_heldout)
    assert len(data.adversarial_train) > len(plain.adversarial_train)
    for output in outputs:
        side = data.adversarial_heldout if output.spec.label() in held else data.adversarial_train
        assert any(p.chosen == output.safe and p.rejected == output.malicious for p in side)


def test_repair_run_composes_configured_variants(tmp_path: Path, tiny_rm_dir: Path) -> None:
    with make_run(tmp_path / "run", f"hf:{tiny_rm_dir}", bc_probes(), variants=1, epochs=1) as run:
        plain = build_repair_data(run, bc_probes())
        result = repair_reward_model(run)
    assert result.counts["adversarial_train"] + result.counts["adversarial_heldout"] > len(
        plain.adversarial_train
    ) + len(plain.adversarial_heldout)


def test_repair_run_trains_saves_and_records(tmp_path: Path, tiny_rm_dir: Path) -> None:
    run = make_run(tmp_path / "run", f"hf:{tiny_rm_dir}", bc_probes())
    store = run.store
    result = repair_reward_model(run)
    held_before, held_after = (
        result.before["adversarial_heldout"],
        result.after["adversarial_heldout"],
    )
    assert held_after["n"] > 0
    assert held_after["accuracy"] >= 0.9
    assert held_after["margin_mean"] > held_before["margin_mean"] + 0.5

    checkpoint = Path(store.run_dir) / CHECKPOINT_SUBDIR
    assert result.checkpoint == checkpoint and (checkpoint / "config.json").is_file()
    assert not checkpoint.with_name("rm-repaired.partial").exists()
    artifact = store.latest_artifact(ArtifactKind.RM_CHECKPOINT)
    assert artifact.path == str(CHECKPOINT_SUBDIR)  # relative to the run folder
    assert run.reward_model_config().spec == f"hf:{checkpoint}"
    metrics = store.latest_artifact(ArtifactKind.RM_REPAIR_METRICS).data
    assert metrics["after"]["adversarial_heldout"]["accuracy"] == held_after["accuracy"]
    assert metrics["heldout_combinations"] == result.heldout_combinations
    assert result.heldout_combinations == sorted(s.label() for s in run.split.heldout)
    assert metrics["log_history"] and "loss" in metrics["log_history"][0]

    # the saved checkpoint loads through the hf: backend and scores like the trained model
    reloaded = create_reward_model(f"hf:{checkpoint}", device="cpu", max_length=96)
    pair = next(p for p in bc_probes() if p.spec.label() == result.heldout_combinations[0])
    safe, malicious = reloaded.score([pair.messages] * 2, [pair.safe, pair.malicious])
    assert safe > malicious
    run.close()


def test_lora_repair_saves_a_merged_checkpoint(tmp_path: Path, tiny_rm_dir: Path) -> None:
    run = make_run(tmp_path / "run", f"hf:{tiny_rm_dir}", bc_probes(), method="lora", lora_r=4)
    result = repair_reward_model(run)
    assert (result.checkpoint / "config.json").is_file()
    assert not (result.checkpoint / "adapter_config.json").exists()
    assert (
        result.after["adversarial_heldout"]["margin_mean"]
        > result.before["adversarial_heldout"]["margin_mean"]
    )
    create_reward_model(f"hf:{result.checkpoint}", device="cpu")
    run.close()


def test_no_b_or_c_probes_stops_and_leaves_store_untouched(
    tmp_path: Path, tiny_rm_dir: Path
) -> None:
    probes = [p for p in bc_probes() if p.failure_type is FailureType.NONE]
    run = make_run(tmp_path / "run", f"hf:{tiny_rm_dir}", probes)
    before = snapshot(run)
    with pytest.raises(DataError, match="no discovery probes of type B or C"):
        repair_reward_model(run)
    assert snapshot(run) == before


def test_bad_anchor_dataset_stops_and_leaves_store_untouched(
    tmp_path: Path, tiny_rm_dir: Path
) -> None:
    anchors = tmp_path / "anchors.jsonl"
    anchors.write_text(json.dumps({"question": "q", "chosen": "a"}) + "\n")
    run = make_run(tmp_path / "run", f"hf:{tiny_rm_dir}", bc_probes(), anchor_dataset=str(anchors))
    before = snapshot(run)
    with pytest.raises(DataError, match="missing column rejected"):
        repair_reward_model(run)
    assert snapshot(run) == before


def test_untrainable_reward_model_is_refused(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", "openai:http://127.0.0.1:9/v1#rm", bc_probes())
    before = snapshot(run)
    with pytest.raises(BackendError, match="cannot be trained"):
        repair_reward_model(run)
    assert snapshot(run) == before


def test_cli_prints_table_and_reports_errors(
    tmp_path: Path, tiny_rm_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_run(tmp_path / "run", f"hf:{tiny_rm_dir}", bc_probes()).close()
    code = main(["repair-rm", str(tmp_path / "run"), "--epochs", "2", "--anchor-ratio", "0.5"])
    out = capsys.readouterr().out
    assert code == 0
    assert "held-out attacks" in out and "over-refusal" in out
    with RunStore.open(tmp_path / "run") as store:
        metrics = store.latest_artifact(ArtifactKind.RM_REPAIR_METRICS).data
    assert metrics["counts"]["benign_train"] == round(0.5 * metrics["counts"]["adversarial_train"])

    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"chosen": "a"}) + "\n")
    code = main(["repair-rm", str(tmp_path / "run"), "--anchor-dataset", str(bad)])
    assert code == 2
    assert "missing column rejected" in capsys.readouterr().err
    assert main(["repair-rm", str(tmp_path / "nothing")]) == 2


def test_model_and_tokenizer_from_folder_backend_or_refusal(tiny_rm_dir: Path) -> None:
    from ares_rlhf.repair.reward import model_and_tokenizer

    model, tokenizer = model_and_tokenizer(tiny_rm_dir, device="cpu")
    assert model.config.num_labels == 1 and tokenizer.pad_token_id is not None
    backend = create_reward_model(f"hf:{tiny_rm_dir}", device="cpu")
    assert model_and_tokenizer(backend)[0] is backend.model
    with pytest.raises(BackendError, match="cannot be trained"):
        model_and_tokenizer(object())


def test_a_killed_rm_repair_resumes_from_its_last_trainer_checkpoint(
    tmp_path: Path, tiny_rm_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ares_rlhf.repair.reward import stage

    run = make_run(tmp_path / "run", f"hf:{tiny_rm_dir}", bc_probes(), epochs=1, checkpoint_every=2)

    def crash(*args, **kwargs):
        raise KeyboardInterrupt  # killed after training, before the result was saved

    monkeypatch.setattr(stage, "save_model_folder", crash)
    with pytest.raises(KeyboardInterrupt):
        repair_reward_model(run)
    work = run.run_dir / "checkpoints" / "rm-repaired.work"
    assert any(work.glob("checkpoint-*")) and run.latest(ArtifactKind.RM_CHECKPOINT) is None
    monkeypatch.undo()
    repair_reward_model(run)
    artifact = run.latest(ArtifactKind.RM_CHECKPOINT)
    assert artifact.data["resumed_from_step"] >= 2 and not work.exists()
    run.close()


def test_recombined_attacks_train_the_reward_model_too(tmp_path: Path) -> None:
    from ares_rlhf.repair.augment import recombined_outputs

    with make_run(tmp_path / "run", "scripted:rm", bc_probes(), seed=3) as run:
        plain = build_repair_data(run, bc_probes())
        extra = recombined_outputs(run, 2)
        data = build_repair_data(run, bc_probes(), recombined_outputs=extra)
        heldout = set(run.split.heldout)
    assert extra and not {o.spec for o in extra} & heldout
    assert len(data.adversarial_train) == len(plain.adversarial_train) + len(extra)
    assert data.adversarial_heldout == plain.adversarial_heldout


def test_trainer_options_reach_the_reward_trainer(tiny_rm_dir: Path) -> None:
    """``repair_rm.trainer_options`` turns on what the paper config needs on one GPU (activation
    checkpointing: a full 4B RM step ran out of an H200's memory without it)."""
    from ares_rlhf.repair.reward import model_and_tokenizer
    from ares_rlhf.training.reward import RewardModelTrainer

    pairs = _tiny_pairs()
    for options, expected in (({}, False), ({"activation_checkpointing": True}, True)):
        model, tokenizer = model_and_tokenizer(tiny_rm_dir, device="cpu")
        config = FAST.model_copy(update={"epochs": 1, "trainer_options": options})
        trained = RewardModelTrainer(config, device="cpu").train(model, tokenizer, pairs)
        assert trained.is_activation_checkpointing is expected


def test_an_unknown_trainer_option_is_one_config_error(tiny_rm_dir: Path) -> None:
    from ares_rlhf.errors import ConfigError
    from ares_rlhf.repair.reward import model_and_tokenizer
    from ares_rlhf.training.reward import RewardModelTrainer

    model, tokenizer = model_and_tokenizer(tiny_rm_dir, device="cpu")
    config = FAST.model_copy(update={"trainer_options": {"activation_checkpoint": True}})
    with pytest.raises(ConfigError, match=r"repair_rm\.trainer_options: RewardConfig") as error:
        RewardModelTrainer(config, device="cpu").train(model, tokenizer, _tiny_pairs())
    assert "activation_checkpoint" in str(error.value) and "\n" not in str(error.value)


def _tiny_pairs():
    from ares_rlhf.records import PreferencePair

    return [
        PreferencePair((("user", f"request {i}"),), "I can't help with that.", f"Sure: step {i}")
        for i in range(8)
    ]
