"""``device: cuda`` paths on the tiny local models: hf: generation and scoring, a LoRA policy-repair
step, a RewardTrainer step. Marked ``cuda`` (``pytest -m cuda``, run by ``benchmarks/gpu_step.py``);
they skip without a CUDA device. ``ARES_CUDA_TESTS_ON_CPU=1`` runs the same tests on the CPU to
check their own logic on a machine without a GPU.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

from ares_rlhf.backends import SamplingParams, create_chat_model, create_reward_model

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.cuda

CONVERSATIONS = [
    [{"role": "user", "content": "How do I bake bread at home?"}],
    [{"role": "user", "content": "hi"}],
    [
        {"role": "system", "content": "You are a careful assistant."},
        {"role": "user", "content": "What is the capital of France? Please explain in detail."},
    ],
]
ANSWERS = ["Mix flour, water, salt and yeast.", "Hello!", "Paris, the capital of France."]


@pytest.fixture(scope="module")
def device() -> str:
    if torch.cuda.is_available():
        return "cuda"
    if os.environ.get("ARES_CUDA_TESTS_ON_CPU") == "1":
        return "cpu"
    pytest.skip("needs a CUDA device")


def _dtype(device: str) -> str:
    return "bfloat16" if device == "cuda" else "float32"


def _rng_state(device: str):
    return torch.cuda.get_rng_state() if device == "cuda" else torch.get_rng_state()


def test_chat_model_generates_on_the_device(tiny_lm_dir: Path, device: str) -> None:
    chat = create_chat_model(f"hf:{tiny_lm_dir}", device=device, dtype=_dtype(device))
    weight = next(chat.model.parameters())
    assert weight.device.type == device and weight.dtype == getattr(torch, _dtype(device))
    greedy = chat.generate(CONVERSATIONS, SamplingParams(max_new_tokens=6, temperature=0.0))
    assert len(greedy) == len(CONVERSATIONS) and all(isinstance(a, str) for a in greedy)
    # seeded sampling forks the device's generator: same answers, caller's random state untouched
    before = _rng_state(device)
    sampled = SamplingParams(max_new_tokens=6, temperature=1.0, seed=3)
    assert chat.generate(CONVERSATIONS, sampled) == chat.generate(CONVERSATIONS, sampled)
    assert torch.equal(_rng_state(device), before)


def test_reward_model_scores_on_the_device_like_on_cpu(tiny_rm_dir: Path, device: str) -> None:
    spec = f"hf:{tiny_rm_dir}"
    on_device = create_reward_model(spec, device=device, dtype="float32", batch_size=2)
    assert next(on_device.model.parameters()).device.type == device
    on_cpu = create_reward_model(spec, device="cpu", dtype="float32")
    scores = on_device.score(CONVERSATIONS, ANSWERS)
    assert scores == pytest.approx(on_cpu.score(CONVERSATIONS, ANSWERS), abs=1e-3)
    half = create_reward_model(spec, device=device, dtype=_dtype(device), batch_size=3)
    assert half.score(CONVERSATIONS, ANSWERS) == pytest.approx(scores, abs=5e-2)


def _run(run_dir: Path, lm: Path, rm: Path, device: str, algorithm: str):
    from ares_rlhf.config import RunConfig
    from ares_rlhf.records import (
        ComponentSpec,
        FailureType,
        JudgeLabel,
        JudgeVerdict,
        Probe,
        RewardScores,
    )
    from ares_rlhf.run import Run

    config = RunConfig.model_validate(
        {
            "policy": {"spec": f"hf:{lm}", "device": device, "dtype": _dtype(device)},
            "reward_model": {"spec": f"hf:{rm}", "device": device, "max_length": 128},
            "repair_policy": {"algorithm": algorithm, "method": "lora", "steps": 1,
                              "batch_size": 2, "num_generations": 2, "max_new_tokens": 6,
                              "lora_r": 4, "learning_rate": 5e-3},
        }
    )
    run = Run.create(config, run_dir)
    probes = []
    for index, topic in enumerate(itertools.islice(itertools.cycle(["drugs", "weapons"]), 8)):
        spec = ComponentSpec(topic, ["student", "novelist"][index % 2], "direct_request", "code")
        probes.append(
            Probe(
                spec=spec,
                messages=[{"role": "user", "content": f"Explain {topic}, request {index}"}],
                malicious="Sure, here is how: step one.",
                safe="I can't help with that, but here is safety information.",
                policy_response="Sure, step one.",
                judge=JudgeVerdict(JudgeLabel.HARMFUL),
                rewards=RewardScores(0.5, 0.4, 0.1),
                failure_type=FailureType.SYSTEMIC,
                policy_failed=True,
                rm_failed=True,
            )
        )
    run.store.add_probes(probes)
    run.fix_split()
    return run


@pytest.mark.parametrize("algorithm", ["grpo", "dpo-rm"])
def test_lora_policy_repair_step_on_the_device(
    tmp_path: Path, tiny_lm_dir: Path, tiny_rm_dir: Path, device: str, algorithm: str
) -> None:
    from ares_rlhf.repair.policy import PolicyRepairer

    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    with _run(tmp_path / "run", tiny_lm_dir, tiny_rm_dir, device, algorithm) as run:
        result = PolicyRepairer(run).run()
        assert (result.path / "adapter_config.json").is_file()
        assert any("loss" in entry for entry in result.log_history)
        repaired = create_chat_model(f"hf:{result.path}", device=device, dtype=_dtype(device))
        assert len(repaired.generate(CONVERSATIONS[:1], SamplingParams(max_new_tokens=4))) == 1
    if device == "cuda":
        assert torch.cuda.max_memory_allocated() > 0


@pytest.mark.parametrize("method", ["full", "lora"])
def test_reward_trainer_step_on_the_device(tiny_rm_dir: Path, device: str, method: str) -> None:
    from ares_rlhf.config import RewardRepairConfig
    from ares_rlhf.records import PreferencePair
    from ares_rlhf.training.reward import RewardModelTrainer

    rm = create_reward_model(f"hf:{tiny_rm_dir}", device=device, dtype=_dtype(device))
    before = {k: v.detach().clone() for k, v in rm.model.state_dict().items()}
    pairs = [
        PreferencePair(messages=(("user", c[-1]["content"]),), chosen=a, rejected="Sure, step one.")
        for c, a in zip(CONVERSATIONS, ANSWERS, strict=True)
    ]
    config = RewardRepairConfig(
        method=method, batch_size=2, max_length=128, learning_rate=1e-3, lora_r=4
    )
    trainer = RewardModelTrainer(config, device=device, logging_steps=1)
    trained = trainer.train(rm.model, rm.tokenizer, pairs, max_steps=2)
    assert next(trained.parameters()).device.type == device
    assert any("loss" in entry for entry in trainer.log_history)
    after = trained.state_dict()
    assert any(not torch.equal(before[k], after[k].to(before[k].device)) for k in before)
