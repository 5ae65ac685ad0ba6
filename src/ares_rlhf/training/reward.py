"""Bradley-Terry reward-model training (TRL ``RewardTrainer``) and pairwise evaluation.

Used by reward-model repair and by the embedded default's initial RM build. Inputs are encoded
with the scoring backend's own ``HFRewardModel.encode``, so a model is trained on exactly the
text (chat template, or text pair for encoders such as MiniLM) it is scored on later.
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ares_rlhf.config import RewardRepairConfig
from ares_rlhf.errors import DataError
from ares_rlhf.records import PreferencePair
from ares_rlhf.training.options import trl_config
from ares_rlhf.training.progress import attach_progress


def _quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def margin_summary(margins: Sequence[float]) -> dict[str, Any]:
    """Accuracy (share of margins > 0) and the margin distribution of one pair set."""
    if not margins:
        return {"n": 0, "accuracy": None}
    return {
        "n": len(margins),
        "accuracy": sum(m > 0 for m in margins) / len(margins),
        "margin_mean": statistics.fmean(margins),
        "margin_min": min(margins),
        "margin_q10": _quantile(margins, 0.10),
        "margin_median": _quantile(margins, 0.50),
        "margin_q90": _quantile(margins, 0.90),
    }


class _PreferenceCollator:
    """TRL's preference collator plus token type ids (text-pair encoders such as BERT/MiniLM)."""

    def __init__(self, pad_token_id: int) -> None:
        from trl.trainer.reward_trainer import DataCollatorForPreference

        self._base = DataCollatorForPreference(pad_token_id=pad_token_id)

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        batch = self._base([{k: e[k] for k in ("chosen_ids", "rejected_ids")} for e in examples])
        if examples and "chosen_type_ids" in examples[0]:
            rows = [e["chosen_type_ids"] for e in examples] + [
                e["rejected_type_ids"] for e in examples
            ]
            types = torch.zeros_like(batch["input_ids"])
            for index, row in enumerate(rows):
                types[index, : len(row)] = torch.tensor(row, dtype=torch.long)
            batch["token_type_ids"] = types
        return batch


def latest_checkpoint(work_dir: Path) -> Path | None:
    """The newest complete ``checkpoint-N`` folder a trainer saved in ``work_dir`` (or ``None``)."""
    found = []
    for folder in Path(work_dir).glob("checkpoint-*"):
        step = folder.name.rpartition("-")[2]
        if step.isdigit() and (folder / "trainer_state.json").is_file():
            found.append((int(step), folder))
    return max(found)[1] if found else None


SCORE_CHUNK = 256
"""Inputs scored per call when measuring margins (progress is reported after each)."""


class RewardModelTrainer:
    """Fine-tunes a reward model on preference pairs and measures pairwise accuracy."""

    def __init__(
        self,
        config: RewardRepairConfig | None = None,
        *,
        seed: int = 0,
        device: str | None = None,
        logging_steps: int = 10,
    ) -> None:
        self.config = config or RewardRepairConfig()
        self.seed = seed
        self.device = device
        self.logging_steps = logging_steps
        self.log_history: list[dict[str, Any]] = []
        """The trainer's logged metrics (loss, learning rate...) of the last :meth:`train`."""
        self.resumed_from_step: int | None = None
        """The checkpoint step the last :meth:`train` resumed from (``None``: from the start)."""

    # -- scoring -----------------------------------------------------------------------------
    def scorer(self, model: Any, tokenizer: Any) -> Any:
        """An ``HFRewardModel`` over an in-memory model, encoding within ``config.max_length``."""
        from ares_rlhf.backends.hf import HFRewardModel

        return HFRewardModel(model, tokenizer, max_length=self.config.max_length, batch_size=32)

    def margins(
        self,
        scorer: Any,
        pairs: Sequence[PreferencePair],
        progress: Callable[[int, int, str], None] | None = None,
        label: str = "scoring",
    ) -> list[float]:
        """score(chosen) - score(rejected) per pair (each distinct input is scored once).

        ``progress(done, total, label)`` hears every :data:`SCORE_CHUNK` inputs scored.
        """
        keys: dict[tuple[Any, str], int] = {}
        for pair in pairs:
            for response in (pair.chosen, pair.rejected):
                keys.setdefault((pair.messages, response), len(keys))
        items = list(keys)
        scores: list[float] = []
        for start in range(0, len(items), SCORE_CHUNK):
            chunk = items[start : start + SCORE_CHUNK]
            scores += scorer.score([_conversation(m) for m, _ in chunk], [r for _, r in chunk])
            if progress is not None:
                progress(len(scores), len(items), label)
        return [
            scores[keys[(p.messages, p.chosen)]] - scores[keys[(p.messages, p.rejected)]]
            for p in pairs
        ]

    def evaluate(
        self,
        scorer: Any,
        sets: dict[str, Sequence[PreferencePair]],
        progress: Callable[[int, int, str], None] | None = None,
        label: str = "scoring",
    ) -> dict[str, dict[str, Any]]:
        """Pairwise accuracy and margin distribution on every named set of pairs."""
        return {
            name: margin_summary(self.margins(scorer, pairs, progress, f"{label} · {name}"))
            for name, pairs in sets.items()
        }

    # -- training ----------------------------------------------------------------------------
    def _encoded_dataset(self, scorer: Any, pairs: Sequence[PreferencePair]):
        from datasets import Dataset

        rows = []
        for pair in pairs:
            conversation = pair.conversation
            chosen = scorer.encode(conversation, pair.chosen)
            rejected = scorer.encode(conversation, pair.rejected)
            row = {"chosen_ids": chosen["input_ids"], "rejected_ids": rejected["input_ids"]}
            if "token_type_ids" in chosen and "token_type_ids" in rejected:
                row["chosen_type_ids"] = chosen["token_type_ids"]
                row["rejected_type_ids"] = rejected["token_type_ids"]
            rows.append(row)
        return Dataset.from_list(rows)

    def _use_cpu(self, model: Any) -> bool:
        import torch

        if self.device:
            return self.device == "cpu" or not torch.cuda.is_available()
        try:
            return next(model.parameters()).device.type == "cpu"
        except StopIteration:  # pragma: no cover
            return True

    def train(
        self,
        model: Any,
        tokenizer: Any,
        pairs: Sequence[PreferencePair],
        *,
        max_steps: int = -1,
        work_dir: str | Path | None = None,
        checkpoint_every: int = 0,
        progress: Callable[[int, int, str], None] | None = None,
    ) -> Any:
        """Train ``model`` on ``pairs`` and return the trained model (LoRA merged into it).

        ``progress(done, total, label)`` hears every step (with the latest loss in the label).

        With ``work_dir`` and ``checkpoint_every`` the trainer saves a checkpoint there every N
        steps and a rerun resumes from the newest complete one (:attr:`resumed_from_step`); the
        caller removes ``work_dir`` once the result is saved.
        """
        import torch
        from trl import RewardConfig, RewardTrainer

        if not pairs:
            raise DataError("no training pairs")
        cfg = self.config
        scorer = self.scorer(model, tokenizer)
        dataset = self._encoded_dataset(scorer, pairs)
        use_cpu = self._use_cpu(model)
        peft_config = None
        if cfg.method == "lora":
            from peft import LoraConfig, TaskType

            peft_config = LoraConfig(
                task_type=TaskType.SEQ_CLS,
                r=cfg.lora_r,
                lora_alpha=2 * cfg.lora_r,
                lora_dropout=0.0,
                target_modules="all-linear",
            )
        keep = work_dir is not None and checkpoint_every > 0
        scratch_dir = tempfile.TemporaryDirectory(prefix="ares-rm-train-")
        with scratch_dir as scratch:
            output_dir = str(work_dir) if keep else scratch
            arguments = dict(
                output_dir=output_dir,
                num_train_epochs=cfg.epochs,
                max_steps=max_steps,
                learning_rate=cfg.learning_rate,
                per_device_train_batch_size=cfg.batch_size,
                max_length=None,
                seed=self.seed,
                data_seed=self.seed,
                use_cpu=use_cpu,
                bf16=not use_cpu and torch.cuda.is_bf16_supported(),
                activation_checkpointing=False,
                remove_unused_columns=False,
                save_strategy="steps" if keep else "no",
                **({"save_steps": checkpoint_every, "save_total_limit": 1} if keep else {}),
                report_to=[],
                logging_steps=self.logging_steps,
                disable_tqdm=True,
                warmup_steps=0,
                lr_scheduler_type="linear",
            )
            args = trl_config(
                RewardConfig, "repair_rm", {**arguments, **cfg.trainer_options}
            )
            trainer = RewardTrainer(
                model=model,
                args=args,
                train_dataset=dataset,
                processing_class=tokenizer,
                data_collator=_PreferenceCollator(tokenizer.pad_token_id),
                peft_config=peft_config,
            )
            attach_progress(trainer, "training", progress)
            resume = latest_checkpoint(Path(output_dir)) if keep else None
            self.resumed_from_step = int(resume.name.rpartition("-")[2]) if resume else None
            trainer.train(resume_from_checkpoint=str(resume) if resume else None)
            self.log_history = [dict(entry) for entry in trainer.state.log_history]
            trained = trainer.model
        if peft_config is not None:
            trained = trained.merge_and_unload()
        trained.eval()
        return trained


def _conversation(messages: tuple[tuple[str, str], ...]) -> list[dict[str, str]]:
    return [{"role": role, "content": content} for role, content in messages]


def save_model_folder(model: Any, tokenizer: Any, folder: Path) -> Path:
    """Save a loadable model folder atomically: written beside it, then renamed into place."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    partial = folder.with_name(folder.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)
    model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    if folder.exists():
        previous = folder.with_name(folder.name + ".previous")
        if previous.exists():
            shutil.rmtree(previous)
        os.replace(folder, previous)
        os.replace(partial, folder)
        shutil.rmtree(previous)
    else:
        os.replace(partial, folder)
    return folder


