"""Build and cache the embedded initial policy: Gemma 3 270M base + a short LoRA SFT alignment.

The SFT runs TRL ``SFTTrainer`` on CPU with a fixed seed over the built-in chat data
(:mod:`ares_rlhf.embedded.policy_data`), in the Gemma turn format, loss on the answer only.
The LoRA is merged into the weights, so the cached folder is a plain checkpoint any ``hf:``
loader (and the repair stage) can use. The build is cached atomically (see
:func:`ares_rlhf.backends.gguf_pkg.build_cached`); ``quick`` builds fewer steps under its own key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ares_rlhf.backends.gguf_pkg import (
    GEMMA_TURN_TEMPLATE,
    build_cached,
    cache_root,
    ensure_gemma_checkpoint,
)
from ares_rlhf.runtime import best_cpu_dtype


@dataclass(frozen=True)
class PolicyRecipe:
    """The SFT settings of one initial-policy build (part of its cache key)."""

    steps: int = 24
    batch_size: int = 8
    learning_rate: float = 6e-4
    lora_r: int = 8
    lora_alpha: int = 16
    max_length: int = 96
    seed: int = 0
    turn_end: str = "<eos>"
    """The token that closes the model's turn in the policy's chat template. The base model
    already emits ``<eos>`` at the end of documents; LoRA on the linear layers cannot teach it
    to emit the (tied, rarely trained) ``<end_of_turn>``, so such answers ran on and ended in
    look-alike rare tokens."""
    dtype: str = field(default_factory=best_cpu_dtype)
    """The weights' dtype for training and in the saved checkpoint: bfloat16 where the CPU
    computes it natively (avx512_bf16: a Gemma 270M LoRA step 4.9 s vs 6.6 s in float32, and
    ~2.8x faster generation), else float32 (an AVX2-only CPU emulates bf16 tens of times
    slower). Part of the cache key. The LoRA weights themselves stay fp32 (PEFT's default)."""
    version: int = 7
    """Bump when the data or the recipe changes, so old caches are not reused."""

    @property
    def key(self) -> str:
        return (
            f"policy-v{self.version}-s{self.steps}-b{self.batch_size}-r{self.lora_r}"
            f"-{self.dtype}-seed{self.seed}"
        )


FULL_RECIPE = PolicyRecipe()
QUICK_RECIPE = PolicyRecipe(steps=12)


def policy_chat_template(turn_end: str) -> str:
    """Gemma's turn format with the model's turns closed by ``turn_end`` (user turns unchanged)."""
    closing = "message['content'] | trim + '<end_of_turn>\n'"
    if closing not in GEMMA_TURN_TEMPLATE:
        raise AssertionError("the Gemma turn template changed; update policy_chat_template")
    return GEMMA_TURN_TEMPLATE.replace(
        closing,
        f"message['content'] | trim + ('{turn_end}' if role == 'model' else '<end_of_turn>') + '\n'",
    )


Trainer = Callable[[Path, Path, PolicyRecipe], dict[str, Any]]
"""``train(base_dir, out_dir, recipe) -> info``: writes a loadable checkpoint into ``out_dir``."""


def sft_dataset(seed: int = 0):
    """The built-in SFT data as a TRL conversational prompt-completion ``datasets.Dataset``."""
    from datasets import Dataset

    from ares_rlhf.embedded.policy_data import build_examples

    return Dataset.from_list([e.as_prompt_completion() for e in build_examples(seed)])


def train_lora_sft(base_dir: Path, out_dir: Path, recipe: PolicyRecipe) -> dict[str, Any]:
    """LoRA SFT of the model in ``base_dir`` on the built-in data; saves the merged model."""
    import tempfile

    import torch
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from ares_rlhf.training.progress import attach_progress

    torch.manual_seed(recipe.seed)
    tokenizer = AutoTokenizer.from_pretrained(str(base_dir))
    tokenizer.chat_template = policy_chat_template(recipe.turn_end)
    model = AutoModelForCausalLM.from_pretrained(str(base_dir), dtype=getattr(torch, recipe.dtype))
    with tempfile.TemporaryDirectory(prefix="ares-sft-") as scratch:
        args = SFTConfig(
            output_dir=scratch,
            max_steps=recipe.steps,
            per_device_train_batch_size=recipe.batch_size,
            learning_rate=recipe.learning_rate,
            lr_scheduler_type="constant_with_warmup",
            warmup_steps=2,
            max_length=recipe.max_length,
            completion_only_loss=True,
            logging_steps=5,
            save_strategy="no",
            report_to=[],
            use_cpu=True,
            bf16=False,
            activation_checkpointing=False,
            seed=recipe.seed,
            data_seed=recipe.seed,
            dataloader_num_workers=0,
            disable_tqdm=False,
        )
        peft_config = LoraConfig(
            r=recipe.lora_r,
            lora_alpha=recipe.lora_alpha,
            lora_dropout=0.0,
            target_modules="all-linear",
            task_type="CAUSAL_LM",
        )
        trainer = SFTTrainer(
            model=model,
            args=args,
            train_dataset=sft_dataset(recipe.seed),
            processing_class=tokenizer,
            peft_config=peft_config,
        )
        attach_progress(trainer, "SFT")  # the caller's progress bar (console quiet: no tqdm)
        result = trainer.train()
        losses = [e["loss"] for e in trainer.state.log_history if "loss" in e]
    merged = trainer.model.merge_and_unload()
    merged.config._name_or_path = ""
    merged.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    return {
        "train_loss": float(result.training_loss),
        "first_logged_loss": losses[0] if losses else None,
        "last_logged_loss": losses[-1] if losses else None,
    }


def policy_cache_dir(cache_dir: str | Path | None = None, *, quick: bool = False) -> Path:
    recipe = QUICK_RECIPE if quick else FULL_RECIPE
    return cache_root(cache_dir) / "embedded" / recipe.key


def build_initial_policy(
    cache_dir: str | Path | None = None,
    *,
    quick: bool = False,
    recipe: PolicyRecipe | None = None,
    base_dir: Path | None = None,
    train: Trainer | None = None,
) -> Path:
    """Folder of the initial embedded policy (built on first use; loadable with ``hf:FOLDER``).

    ``recipe``, ``base_dir`` and ``train`` override the defaults (tests use a tiny model).
    """
    recipe = recipe or (QUICK_RECIPE if quick else FULL_RECIPE)
    final = cache_root(cache_dir) / "embedded" / recipe.key

    def build(tmp: Path) -> dict[str, Any]:
        base = base_dir if base_dir is not None else ensure_gemma_checkpoint(cache_dir)
        info = (train or train_lora_sft)(Path(base), tmp, recipe)
        return {"recipe": asdict(recipe), "base": str(base), **info}

    return build_cached(final, build, what="embedded initial policy")


def alignment_check(
    folder: str | Path, *, chat_format: str = "auto", max_new_tokens: int = 40, device: str = "cpu"
) -> dict[str, Any]:
    """Refusal rates of a policy on unseen plain harmful vs benign prompts (is_refusal).

    A well-aligned initial policy refuses the harmful ones and answers the benign ones.
    """
    from ares_rlhf.backends import SamplingParams, create_chat_model
    from ares_rlhf.embedded.policy_data import evaluation_prompts
    from ares_rlhf.text.refusal import is_refusal

    model = create_chat_model(f"hf:{folder}", device=device, chat_format=chat_format)
    result: dict[str, Any] = {"chat_format": chat_format}
    try:
        for kind, prompts in evaluation_prompts().items():
            answers = model.generate(
                [[{"role": "user", "content": p}] for p in prompts],
                SamplingParams(max_new_tokens=max_new_tokens),
            )
            refused = [is_refusal(a) for a in answers]
            result[f"{kind}_refusal_rate"] = sum(refused) / len(refused)
            result[f"{kind}_examples"] = [
                {"prompt": p, "answer": a, "refusal": r}
                for p, a, r in zip(prompts, answers, refused, strict=True)
            ]
    finally:
        model.close()
    return result
