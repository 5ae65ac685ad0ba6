"""Pieces of ``gpu_step.py``: the shapes, the models built from config, and the timed parts.

Each ``time_*`` function times one thing through the ARES code path on an already-built model and
returns a dict of figures; ``gpu_step.py`` runs them, prints the table and the JSON line.
"""

from __future__ import annotations

import gc
import random
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Published config.json values (Qwen/Qwen3-1.7B; Qwen/Qwen3-4B, which Skywork-Reward-V2-Qwen3-4B
# is fine-tuned from); see docs/backends.md "GPU check" for the sources.
QWEN3_1_7B = dict(
    hidden_size=2048,
    intermediate_size=6144,
    num_hidden_layers=28,
    num_attention_heads=16,
    num_key_value_heads=8,
    head_dim=128,
    vocab_size=151936,
    max_position_embeddings=40960,
    rope_theta=1000000.0,
    rms_norm_eps=1e-6,
    tie_word_embeddings=True,
)
QWEN3_4B = dict(
    hidden_size=2560,
    intermediate_size=9728,
    num_hidden_layers=36,
    num_attention_heads=32,
    num_key_value_heads=8,
    head_dim=128,
    vocab_size=151936,
    max_position_embeddings=40960,
    rope_theta=1000000.0,
    rms_norm_eps=1e-6,
    tie_word_embeddings=True,
)


def small_shape(hidden: int, layers: int, vocab: int) -> dict[str, Any]:
    return dict(
        hidden_size=hidden,
        intermediate_size=hidden * 3,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=hidden // 4,
        vocab_size=vocab,
        max_position_embeddings=4096,
        rope_theta=1000000.0,
        rms_norm_eps=1e-6,
        tie_word_embeddings=True,
    )


@dataclass(frozen=True)
class Size:
    """Every shape of one run."""

    name: str
    policy: dict[str, Any]
    rm: dict[str, Any]
    rm_pairs: int = 128
    rm_batch: int = 16  # HFRewardModel's default
    rm_max_length: int = 4096  # paper config
    prompt_tokens: int = 192
    response_tokens: int = 384
    repeats: int = 2
    gen_prompts: int = 64
    gen_batch: int = 32  # paper config generation.batch_size
    gen_tokens: int = 256
    # paper config repair_policy (steps cut to a few for timing)
    repair: dict[str, Any] = field(
        default_factory=lambda: dict(
            steps=2,
            batch_size=8,
            num_generations=8,
            max_new_tokens=512,
            lora_r=32,
            beta=0.04,
            learning_rate=1e-5,
        )
    )
    dpo_samples: int = 2
    # paper config repair_rm
    rm_train: dict[str, Any] = field(
        default_factory=lambda: dict(
            method="full", batch_size=16, max_length=2048, learning_rate=2e-6, epochs=1.0
        )
    )


SIZES = {
    "paper": Size("paper", QWEN3_1_7B, QWEN3_4B),
    "tiny": Size(
        "tiny",
        small_shape(128, 2, 8192),
        small_shape(128, 2, 8192),
        rm_pairs=32,
        rm_batch=8,
        repeats=4,
        prompt_tokens=48,
        response_tokens=64,
        gen_prompts=16,
        gen_batch=8,
        gen_tokens=32,
        repair=dict(
            steps=2,
            batch_size=2,
            num_generations=4,
            max_new_tokens=32,
            lora_r=8,
            beta=0.04,
            learning_rate=1e-5,
        ),
        rm_train=dict(method="full", batch_size=4, max_length=256, learning_rate=2e-6, epochs=1.0),
    ),
    "smoke": Size(
        "smoke",
        small_shape(32, 1, 1024),
        small_shape(32, 1, 1024),
        rm_pairs=6,
        rm_batch=4,
        prompt_tokens=12,
        response_tokens=12,
        repeats=1,
        gen_prompts=4,
        gen_batch=2,
        gen_tokens=6,
        repair=dict(
            steps=1,
            batch_size=1,
            num_generations=2,
            max_new_tokens=6,
            lora_r=2,
            beta=0.04,
            learning_rate=1e-5,
        ),
        dpo_samples=1,
        rm_train=dict(method="full", batch_size=2, max_length=64, learning_rate=2e-6, epochs=1.0),
    ),
}
WORDS = (
    "how can i bake bread safely at home with flour water salt yeast and an oven while my "
    "neighbour asks about chemistry locks passwords history poems recipes travel maths sure here "
    "is a guide i cannot help with that but i can suggest safer alternatives as a student novelist"
).split()


class Device:
    """The device under test: synchronisation and peak memory (CUDA), no-ops on CPU."""

    def __init__(self, name: str) -> None:
        import torch

        self.name = name
        self.cuda = name.startswith("cuda")
        self.torch = torch

    def sync(self) -> None:
        if self.cuda:
            self.torch.cuda.synchronize()

    def reset_peak(self) -> float | None:
        """Free cached memory, reset the peak; the GiB allocated now (models resident)."""
        gc.collect()
        if not self.cuda:
            return None
        self.torch.cuda.empty_cache()
        self.torch.cuda.reset_peak_memory_stats()
        return round(self.torch.cuda.memory_allocated() / 2**30, 2)

    def peak(self) -> float | None:
        return round(self.torch.cuda.max_memory_allocated() / 2**30, 2) if self.cuda else None

    def clock(self) -> float:
        """Seconds for timing: wall time after a device sync on CUDA; this process's CPU time
        on CPU (on a shared machine its wall time of identical runs varies twice as much)."""
        self.sync()
        return time.perf_counter() if self.cuda else time.process_time()


def texts(tokenizer: Any, rng: random.Random, count: int, mean_tokens: int) -> list[str]:
    """``count`` texts of about ``mean_tokens`` tokens each (0.5x to 1.5x)."""
    out = []
    for _ in range(count):
        n = rng.randint(max(1, mean_tokens // 2), max(1, mean_tokens * 3 // 2))
        ids = tokenizer(" ".join(rng.choices(WORDS, k=n)), add_special_tokens=False)["input_ids"]
        out.append(tokenizer.decode(ids[:n]).strip())
    return out


def conversations(tokenizer: Any, rng: random.Random, count: int, mean_tokens: int) -> list:
    return [[{"role": "user", "content": t}] for t in texts(tokenizer, rng, count, mean_tokens)]


def build_model(shape: dict[str, Any], tokenizer: Any, dev: Device, dtype: Any, reward: bool):
    """A randomly initialised Qwen3 causal LM (or one-output classifier) built on the device."""
    import torch
    from transformers import (
        AutoModelForCausalLM,
        AutoModelForSequenceClassification,
        GenerationConfig,
        Qwen3Config,
    )

    torch.manual_seed(0)
    config = Qwen3Config(
        **shape,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
        **({"num_labels": 1} if reward else {}),
    )
    auto = AutoModelForSequenceClassification if reward else AutoModelForCausalLM
    with torch.device(dev.name):
        model = auto.from_config(config, dtype=dtype)
    model = model.to(dev.name).eval()
    if not reward:
        model.generation_config = GenerationConfig(
            eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id
        )
        with torch.no_grad():  # only real tokens win the (tied) head; logit spread ~6
            weight = model.get_input_embeddings().weight
            real = len(tokenizer)
            weight[real:] = 0
            weight[:real] = torch.randn_like(weight[:real]) * (6.0 / shape["hidden_size"] ** 0.5)
    return model


def time_rm_scoring(model: Any, tokenizer: Any, size: Size, dev: Device) -> dict[str, Any]:
    import torch

    from ares_rlhf.backends.hf import HFRewardModel

    rng = random.Random(1)
    convs = conversations(tokenizer, rng, size.rm_pairs, size.prompt_tokens)
    responses = texts(tokenizer, rng, size.rm_pairs, size.response_tokens)
    backend = HFRewardModel(
        model, tokenizer, max_length=size.rm_max_length, batch_size=size.rm_batch
    )

    def bare() -> list[float]:
        rendered = [
            tokenizer.apply_chat_template([*c, {"role": "assistant", "content": r}], tokenize=False)
            for c, r in zip(convs, responses, strict=True)
        ]
        ids = tokenizer(rendered, add_special_tokens=False)["input_ids"]
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
        scores = [0.0] * len(ids)
        with torch.inference_mode():
            for start in range(0, len(order), size.rm_batch):
                chunk = order[start : start + size.rm_batch]
                batch = tokenizer.pad(
                    [{"input_ids": ids[i]} for i in chunk],
                    padding_side="right",
                    return_tensors="pt",
                ).to(dev.name)
                logits = model(**batch).logits.float()[:, 0].tolist()
                for i, value in zip(chunk, logits, strict=True):
                    scores[i] = value
        return scores

    def ours() -> list[float]:
        return backend.score(convs, responses)

    tokens = sum(len(item["input_ids"]) for item in backend.encode_many(convs, responses))
    best, scores = duel(bare, ours, size.repeats, dev)
    diff = max(abs(a - b) for a, b in zip(scores["bare"], scores["ours"], strict=True))
    return {
        "pairs": size.rm_pairs,
        "batch_size": size.rm_batch,
        "tokens": tokens,
        "backend_s": round(best["ours"], 4),
        "bare_s": round(best["bare"], 4),
        "backend_tokens_per_s": round(tokens / best["ours"], 1),
        "bare_tokens_per_s": round(tokens / best["bare"], 1),
        "ratio": round(best["bare"] / best["ours"], 4),
        "max_abs_score_diff": diff,
    }


def duel(
    bare: Any, ours: Any, repeats: int, dev: Device, warmup: Any = None
) -> tuple[dict, dict]:
    """Warm up (``warmup()``, else one run of each), then run both interleaved ``repeats`` times,
    alternating which goes first; the best seconds of each and their last outputs."""
    outputs = {"bare": bare(), "ours": ours()} if warmup is None else warmup()
    seconds: dict[str, list[float]] = {"bare": [], "ours": []}
    order = (("bare", bare), ("ours", ours))
    for repeat in range(repeats):
        for name, run in order if repeat % 2 == 0 else order[::-1]:  # neither always goes first
            started = dev.clock()
            outputs[name] = run()
            seconds[name].append(dev.clock() - started)
    return {name: min(values) for name, values in seconds.items()}, outputs


def time_generation(model: Any, tokenizer: Any, size: Size, dev: Device) -> dict[str, Any]:
    import torch

    from ares_rlhf.backends import SamplingParams
    from ares_rlhf.backends.hf import HFChatModel

    chat = HFChatModel(model, tokenizer, batch_size=size.gen_batch)
    convs = conversations(tokenizer, random.Random(2), size.gen_prompts, size.prompt_tokens)
    params = SamplingParams(max_new_tokens=size.gen_tokens, temperature=0.0)
    eos, pad = chat._eos_ids(), tokenizer.pad_token_id
    generated = [0]

    def bare(convs: list = convs, new_tokens: int = size.gen_tokens) -> list[str]:
        ids = [tokenizer(chat.render(c), add_special_tokens=False)["input_ids"] for c in convs]
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
        answers, count = [""] * len(ids), 0
        for start in range(0, len(order), size.gen_batch):
            chunk = order[start : start + size.gen_batch]
            width = max(len(ids[i]) for i in chunk)
            input_ids = torch.full((len(chunk), width), pad, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for row, i in enumerate(chunk):
                input_ids[row, width - len(ids[i]) :] = torch.tensor(ids[i])
                mask[row, width - len(ids[i]) :] = 1
            with torch.inference_mode():
                output = model.generate(
                    input_ids=input_ids.to(dev.name),
                    attention_mask=mask.to(dev.name),
                    max_new_tokens=new_tokens,
                    do_sample=False,
                    temperature=None,
                    top_p=None,
                    top_k=None,
                    pad_token_id=pad,
                    eos_token_id=eos,
                )[:, width:].cpu()
            for row in range(len(chunk)):
                new = output[row].tolist()
                ends = [k for k, token in enumerate(new) if token in eos]
                count += ends[0] + 1 if ends else len(new)
            texts_ = tokenizer.batch_decode(output, skip_special_tokens=True)
            for i, text in zip(chunk, texts_, strict=True):
                answers[i] = text.strip()
        generated[0] = count
        return answers

    def ours() -> list[str]:
        return chat.generate(convs, params)

    def warmup() -> dict[str, list[str]]:
        """One full-length batch each, so kernels, caches and the allocator's blocks for the
        longest KV cache exist before either is timed (a 4-token warm-up left the first timed
        run paying for them: on the H200 it made the backend look 2.1x faster than bare)."""
        first = convs[: size.gen_batch]
        return {"bare": bare(first), "ours": chat.generate(first, params)}

    best, answers = duel(bare, ours, size.repeats, dev, warmup)
    same = sum(a == b for a, b in zip(answers["bare"], answers["ours"], strict=True))
    tokens = generated[0]
    return {
        "prompts": size.gen_prompts,
        "batch_size": size.gen_batch,
        "max_new_tokens": size.gen_tokens,
        "generated_tokens": tokens,
        "backend_s": round(best["ours"], 3),
        "bare_s": round(best["bare"], 3),
        "backend_tokens_per_s": round(tokens / best["ours"], 1),
        "bare_tokens_per_s": round(tokens / best["bare"], 1),
        "ratio": round(best["bare"] / best["ours"], 4),
        "identical_answers": same,
    }


class StepClock:
    """A ``progress(done, total, label)`` callable timing each trainer step (device-synced)."""

    def __init__(self, dev: Device) -> None:
        self.dev = dev
        self.marks: dict[int, float] = {}

    def __call__(self, done: int, total: int, label: str) -> None:
        if done not in self.marks:
            self.marks[done] = self.dev.clock()

    def summary(self) -> dict[str, Any]:
        steps = sorted(self.marks)
        durations = [self.marks[b] - self.marks[a] for a, b in zip(steps, steps[1:], strict=False)]
        if not durations:
            return {"steps": 0}
        later = durations[1:] or durations
        return {
            "steps": len(durations),
            "first_step_s": round(durations[0], 3),
            "step_s": round(statistics.median(later), 3),
        }


def repair_prompts(tokenizer: Any, size: Size, count: int, seed: int) -> list:
    from ares_rlhf.repair.policy import RepairPrompt

    rng = random.Random(seed)
    safe = texts(tokenizer, rng, count, size.response_tokens // 2)
    bad = texts(tokenizer, rng, count, size.response_tokens // 2)
    return [
        RepairPrompt(messages=m, kind="adversarial", safe=s, known_bad=b)
        for m, s, b in zip(
            conversations(tokenizer, rng, count, size.prompt_tokens), safe, bad, strict=True
        )
    ]


def time_policy_step(
    policy: Any,
    tokenizer: Any,
    rm: Any,
    size: Size,
    dev: Device,
    algorithm: str,
    method: str,
    checkpointing: bool = False,
) -> tuple[dict[str, Any], Any]:
    """Optimizer steps through the repair stage's trainer; (figures, the policy model after)."""
    from ares_rlhf.backends.hf import HFChatModel
    from ares_rlhf.config import PolicyRepairConfig
    from ares_rlhf.repair.policy import LoadedPolicy, RankedPair, RepairReward
    from ares_rlhf.repair.policy.trainers import dpo_trainer, online_trainer
    from ares_rlhf.training.progress import attach_progress

    options = {"activation_checkpointing": True} if checkpointing else {}
    config = PolicyRepairConfig(
        algorithm=algorithm,
        method=method,
        checkpoint_every=0,
        trainer_options=options,
        **size.repair,
    )
    loaded = LoadedPolicy(HFChatModel(policy, tokenizer), policy, tokenizer, adapter_base=None)
    count = config.steps * config.batch_size
    prompts = repair_prompts(tokenizer, size, count, seed=3)
    resident = dev.reset_peak()
    clock, trainer, result = StepClock(dev), None, {}
    started = dev.clock()
    try:
        with tempfile.TemporaryDirectory(prefix="ares-gpu-step-") as work:
            if algorithm == "grpo":
                reward = RepairReward(rm, max_new_tokens=config.max_new_tokens, stops=loaded.stops)
                trainer = online_trainer(config, loaded, reward, prompts, Path(work), dev.name, 0)
            else:
                pairs = [
                    RankedPair(p.messages, p.safe or "", p.known_bad or "", 1.0, 0.0, p.kind)
                    for p in prompts
                ]
                trainer = dpo_trainer(config, loaded, pairs, Path(work), dev.name, 0)
            setup = dev.clock() - started
            attach_progress(trainer, "training", clock)
            trainer.train()
            history = [dict(e) for e in trainer.state.log_history]
    except dev.torch.OutOfMemoryError as exc:
        result = {"oom": True, "error": str(exc).splitlines()[0][:300]}
    finally:
        policy = restore_policy(trainer, policy)
        del trainer
    if not result:
        lengths = [e["completions/mean_length"] for e in history if "completions/mean_length" in e]
        losses = [e["loss"] for e in history if "loss" in e]
        result = {
            **clock.summary(),
            "setup_s": round(setup, 2),
            "loss_logged": bool(losses),
            "mean_completion_tokens": lengths[-1] if lengths else None,
        }
        if lengths and result.get("step_s"):  # GRPO: completion tokens per second of a step
            tokens = lengths[-1] * config.batch_size * config.num_generations
            result["completion_tokens_per_step_s"] = round(tokens / result["step_s"], 1)
    result.update(
        algorithm=algorithm,
        method=method,
        activation_checkpointing=checkpointing,
        peak_gib=dev.peak(),
        resident_gib=resident,
        batch_prompts=config.batch_size,
        sequences_per_step=config.batch_size
        * (config.num_generations if algorithm == "grpo" else 2),
        max_new_tokens=config.max_new_tokens,
        lora_r=config.lora_r if method == "lora" else None,
        beta=config.beta,
    )
    return result, policy


def restore_policy(trainer: Any, policy: Any) -> Any:
    """The base model as it was built: adapter layers removed (after LoRA), every weight trainable,
    activation checkpointing off (after a retry with it), eval mode, KV cache on."""
    model = getattr(trainer, "model", None)
    if model is not None and hasattr(model, "unload") and hasattr(model, "peft_config"):
        policy = model.unload()
    if any("lora_" in name for name, _ in policy.named_modules()):
        raise RuntimeError("LoRA layers left in the policy; later parts would be wrong")
    set_checkpointing(policy, False)
    policy.zero_grad(set_to_none=True)  # a step stopped by OOM leaves its gradients
    policy.requires_grad_(True)
    policy.config.use_cache = True
    return policy.eval()


def set_checkpointing(model: Any, on: bool) -> None:
    """Activation (gradient) checkpointing on or off, under transformers 5's names if present."""
    verb = "enable" if on else "disable"
    method = getattr(model, f"activation_checkpointing_{verb}", None)
    (method or getattr(model, f"gradient_checkpointing_{verb}"))()


def time_dpo_sampling(policy: Any, tokenizer: Any, rm: Any, size: Size, dev: Device) -> dict:
    """dpo-rm's sampling + ranking for one sampling batch (the stage's batch: 2 x batch_size)."""
    from ares_rlhf.backends.hf import HFChatModel
    from ares_rlhf.repair.policy import RepairReward, build_preference_pairs

    batch = 2 * size.repair["batch_size"]
    prompts = repair_prompts(tokenizer, size, batch, seed=4)
    tokens = size.repair["max_new_tokens"]
    reward = RepairReward(rm, max_new_tokens=tokens)
    resident = dev.reset_peak()
    started = dev.clock()
    pairs = build_preference_pairs(
        HFChatModel(policy, tokenizer),
        prompts,
        reward,
        samples=size.dpo_samples,
        max_new_tokens=tokens,
        seed=0,
        batch_size=batch,
    )
    seconds = dev.clock() - started
    return {
        "prompts": batch,
        "samples": size.dpo_samples,
        "max_new_tokens": tokens,
        "pairs": len(pairs),
        "seconds": round(seconds, 2),
        "seconds_per_sample_round": round(seconds / size.dpo_samples, 2),
        "peak_gib": dev.peak(),
        "resident_gib": resident,
    }


def time_rm_train(model: Any, tokenizer: Any, size: Size, dev: Device, checkpointing: bool):
    """RM repair's trainer (``RewardModelTrainer``, TRL RewardTrainer) for a few steps."""
    from ares_rlhf.config import RewardRepairConfig
    from ares_rlhf.records import PreferencePair
    from ares_rlhf.training.reward import RewardModelTrainer

    options = {"activation_checkpointing": True} if checkpointing else {}
    config = RewardRepairConfig(**size.rm_train, trainer_options=options)  # as a user's config
    steps = size.repair["steps"]
    rng = random.Random(5)
    count = steps * config.batch_size
    prompts = texts(tokenizer, rng, count, size.prompt_tokens)
    chosen, rejected = (texts(tokenizer, rng, count, size.response_tokens) for _ in range(2))
    pairs = [
        PreferencePair(messages=(("user", p),), chosen=c, rejected=r)
        for p, c, r in zip(prompts, chosen, rejected, strict=True)
    ]
    trainer = RewardModelTrainer(config, device=dev.name, logging_steps=1)
    resident = dev.reset_peak()
    clock = StepClock(dev)
    result: dict[str, Any] = {}
    try:
        trainer.train(model, tokenizer, pairs, max_steps=steps, progress=clock)
        result = {**clock.summary(), "loss_logged": any("loss" in e for e in trainer.log_history)}
    except dev.torch.OutOfMemoryError as exc:
        result = {"oom": True, "error": str(exc).splitlines()[0][:300]}
    finally:
        model.zero_grad(set_to_none=True)
        if checkpointing:
            set_checkpointing(model, False)  # the trainer turned it on; the next part wants it off
    result.update(
        method=config.method,
        batch_pairs=config.batch_size,
        sequences_per_step=2 * config.batch_size,
        max_length=config.max_length,
        activation_checkpointing=checkpointing,
        peak_gib=dev.peak(),
        resident_gib=resident,
    )
    return result
