"""``benchmarks/policy_variant.py``: a copy of a finished run that reruns only policy repair on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ares_rlhf.config import RunConfig
from ares_rlhf.pipeline import PipelineRecord
from ares_rlhf.records import ArtifactKind, EvalAnswer, JudgeLabel
from ares_rlhf.run import Run


@pytest.fixture(scope="module")
def policy_variant(import_benchmark):
    return import_benchmark("policy_variant")


def finished_run(folder: Path) -> Path:
    """A run as a finished pipeline leaves it: a repaired policy, answers and capability of both
    systems, every stage done."""
    run = Run.create(RunConfig.model_validate(
        {"name": "finished", "policy": {"spec": "hf:unused-policy"}, "reward_model": {"spec": "hf:unused-rm"}}
    ), folder)
    with run:
        checkpoint = folder / "checkpoints" / "policy-repaired"
        checkpoint.mkdir(parents=True)
        (checkpoint / "config.json").write_text("{}", encoding="utf-8")
        run.record(ArtifactKind.POLICY_CHECKPOINT, path=checkpoint)
        run.store.add_eval_answers(
            EvalAnswer(system, f"{system}-id", "greedy", "harmbench", "b0", "q", "a", "refusal", JudgeLabel.SAFE)
            for system in ("before", "after")
        )
        done = {
            "before": {"piqa": {"item_ids": ["x"], "correct": [True]}},
            "after": {"piqa": {"item_ids": ["x"], "correct": [False]}},
            "policy_ids": {"before": "before-id", "after": "after-id"},
        }
        run.store.set_state("evaluate.capability", done)
        record = PipelineRecord(
            status={stage: "done" for stage in ("discovery", "repair_rm", "repair_policy", "verify", "evaluate")},
            seconds={"discovery": 1.0, "repair_policy": 2.0},
        )
        record.save(run)
    return folder


def test_the_copy_keeps_discovery_and_the_original_and_drops_the_repaired_policy(
    policy_variant, tmp_path: Path
) -> None:
    source = finished_run(tmp_path / "source")
    out = tmp_path / "variant"
    policy_variant.prepare_copy(source, out, ["repair_policy.refusal_balance=true", "repair_policy.steps=8"])
    assert not (out / "checkpoints" / "policy-repaired").exists()
    assert (source / "checkpoints" / "policy-repaired").is_dir()  # the source is untouched
    with Run.open(out) as run:
        assert run.config.repair_policy.refusal_balance and run.config.repair_policy.steps == 8
        assert {a.system for a in run.store.eval_answers()} == {"before"}
        assert run.store.get_state("evaluate.capability") == {
            "before": {"piqa": {"item_ids": ["x"], "correct": [True]}},
            "policy_ids": {"before": "before-id"},
        }
        record = PipelineRecord.load(run)
        assert record.status == {"discovery": "done", "repair_rm": "done"}
        assert record.seconds == {"discovery": 1.0}
    with Run.open(source) as run:
        assert run.store.get_state("evaluate.capability")["policy_ids"]["after"] == "after-id"
        assert {a.system for a in run.store.eval_answers()} == {"before", "after"}


def test_an_adapter_scale_copy_keeps_the_repaired_adapter_scaled_and_reruns_only_the_measurements(
    policy_variant, tmp_path: Path
) -> None:
    source = finished_run(tmp_path / "source")
    adapter = {"r": 16, "lora_alpha": 32, "peft_type": "LORA"}
    (source / policy_variant.ADAPTER).write_text(json.dumps(adapter), encoding="utf-8")
    out = tmp_path / "half"
    policy_variant.prepare_copy(source, out, [], adapter_scale=0.5)
    assert json.loads((out / policy_variant.ADAPTER).read_text(encoding="utf-8"))["lora_alpha"] == 16
    assert json.loads((source / policy_variant.ADAPTER).read_text(encoding="utf-8"))["lora_alpha"] == 32
    with Run.open(out) as run:
        assert run.latest(ArtifactKind.POLICY_CHECKPOINT) is not None
        assert {a.system for a in run.store.eval_answers()} == {"before"}
        assert set(run.store.get_state("evaluate.capability")) == {"before", "policy_ids"}
        assert PipelineRecord.load(run).status == {
            stage: "done" for stage in ("discovery", "repair_rm", "repair_policy")
        }


def test_adapter_scale_refuses_an_adapter_it_cannot_scale_and_a_retraining_override(
    policy_variant, tmp_path: Path
) -> None:
    with pytest.raises(SystemExit, match="no LoRA adapter"):
        policy_variant.scale_adapter(tmp_path / "adapter_config.json", 0.5)
    rslora = tmp_path / "rslora.json"
    rslora.write_text(json.dumps({"r": 8, "lora_alpha": 16, "use_rslora": True}), encoding="utf-8")
    with pytest.raises(SystemExit, match="rsLoRA"):
        policy_variant.scale_adapter(rslora, 0.5)
    with pytest.raises(SystemExit):
        policy_variant.parse_args(["--source", "a", "--out", "b", "--adapter-scale", "0.5", "--set", "x.y=1"])
