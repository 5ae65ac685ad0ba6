"""Repair stage 1: Bradley-Terry fine-tuning of the reward model on what discovery found.

Follows TRL's trainer + config pattern: a :class:`RewardRepairer` driven by a
``RewardRepairConfig`` builds the pairs (adversarial pairs from B/C probes, split by component
combination, mixed with anchor pairs), trains with TRL ``RewardTrainer`` (full fine-tuning or
LoRA, merged before saving), and evaluates before vs after on held-out data.

Inputs are encoded with the scoring backend's own ``HFRewardModel.encode``, so the model is
trained on exactly the text (chat template, or text pair for encoders such as MiniLM) that it is
scored on later. :func:`repair_run` does it all for a run folder and records the results.
"""

from __future__ import annotations

import logging
import os
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ares_rlhf.config import RewardRepairConfig
from ares_rlhf.errors import BackendError, DataError
from ares_rlhf.records import Artifact, FailureType, MentorOutput, Probe
from ares_rlhf.repair.anchors import builtin_benign_split, load_anchor_dataset
from ares_rlhf.repair.pairs import (
    REPAIR_FAILURES,
    PreferencePair,
    adversarial_pairs,
    mentor_pairs,
    split_by_group,
)

logger = logging.getLogger(__name__)

CHECKPOINT_SUBDIR = Path("checkpoints") / "rm-repaired"
TRAINABLE_SCHEMES = ("hf", "embedded")
MAX_ANCHOR_EVAL = 400
"""Held-out anchor pairs scored before and after (a random subset of larger datasets)."""

EVAL_SETS = ("adversarial_heldout", "adversarial_train", "anchor_heldout", "benign_heldout")


@dataclass
class RepairData:
    """The pairs of one repair: what it trains on and the held-out sets it is judged on."""

    adversarial_train: list[PreferencePair]
    adversarial_heldout: list[PreferencePair]
    anchor_train: list[PreferencePair] = field(default_factory=list)
    anchor_heldout: list[PreferencePair] = field(default_factory=list)
    benign_train: list[PreferencePair] = field(default_factory=list)
    benign_heldout: list[PreferencePair] = field(default_factory=list)
    seed: int = 0

    @property
    def train(self) -> list[PreferencePair]:
        """Adversarial + anchor + benign training pairs, shuffled with the seed."""
        mixed = [*self.adversarial_train, *self.anchor_train, *self.benign_train]
        random.Random(self.seed).shuffle(mixed)
        return mixed

    def eval_sets(self) -> dict[str, list[PreferencePair]]:
        return {name: getattr(self, name) for name in EVAL_SETS}

    def counts(self) -> dict[str, int]:
        names = ("adversarial_train", "anchor_train", "benign_train", *EVAL_SETS)
        return {name: len(getattr(self, name)) for name in dict.fromkeys(names)}

    def heldout_combinations(self) -> list[str]:
        return sorted({p.group for p in self.adversarial_heldout})


def _sample(
    pairs: Sequence[PreferencePair], count: int, rng: random.Random
) -> list[PreferencePair]:
    """``count`` pairs: shuffled passes over ``pairs`` (repeats only when count > len(pairs))."""
    out: list[PreferencePair] = []
    while pairs and len(out) < count:
        chunk = list(pairs)
        rng.shuffle(chunk)
        out.extend(chunk[: count - len(out)])
    return out


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


class RewardRepairer:
    """Fine-tunes a reward model on preference pairs (TRL ``RewardTrainer``, Bradley-Terry)."""

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

    # -- data --------------------------------------------------------------------------------
    def build_pairs(
        self,
        probes: Sequence[Probe],
        anchor_pairs: Sequence[PreferencePair] | None = None,
        variant_outputs: Sequence[MentorOutput] = (),
    ) -> RepairData:
        """Adversarial pairs from B/C probes, split by combination, mixed with anchors.

        ``variant_outputs`` (new Mentor wordings of the B/C combinations, see
        :func:`compose_variants`) add safe-over-malicious pairs to their combination's side of
        the split. ``anchor_pairs`` overrides ``config.anchor_dataset`` (already loaded pairs).
        Raises ``DataError`` when the probes hold no B or C failure, or the anchor dataset is
        unusable.
        """
        pairs = adversarial_pairs(probes)
        if pairs:
            pairs += mentor_pairs(variant_outputs, known=pairs)
        if not pairs:
            counts: dict[str, int] = {}
            for probe in probes:
                if probe.phase == "discovery":
                    counts[probe.failure_type.value] = counts.get(probe.failure_type.value, 0) + 1
            found = ", ".join(f"{k}={v}" for k, v in sorted(counts.items())) or "no probes"
            raise DataError(
                "nothing to repair the reward model on: the run has no discovery probes of type "
                f"{FailureType.RM_ONLY.value} or {FailureType.SYSTEMIC.value} ({found})"
            )
        cfg = self.config
        adv_train, adv_heldout = split_by_group(pairs, cfg.heldout_fraction, self.seed)
        if anchor_pairs is None and cfg.anchor_dataset:
            anchor_pairs = load_anchor_dataset(cfg.anchor_dataset)
        anchor_train_pool, anchor_heldout = split_by_group(
            list(anchor_pairs or []), cfg.heldout_fraction, self.seed
        )
        if len(anchor_heldout) > MAX_ANCHOR_EVAL:
            anchor_heldout = random.Random(self.seed).sample(anchor_heldout, MAX_ANCHOR_EVAL)
        benign_train_pool, benign_heldout = builtin_benign_split(cfg.heldout_fraction, self.seed)
        rng = random.Random(self.seed)
        wanted = round(cfg.anchor_ratio * len(adv_train))
        n_general = wanted // 2 if anchor_train_pool else 0
        return RepairData(
            adversarial_train=adv_train,
            adversarial_heldout=adv_heldout,
            anchor_train=_sample(anchor_train_pool, n_general, rng),
            anchor_heldout=anchor_heldout,
            benign_train=_sample(benign_train_pool, wanted - n_general, rng),
            benign_heldout=benign_heldout,
            seed=self.seed,
        )

    # -- scoring -----------------------------------------------------------------------------
    def scorer(self, model: Any, tokenizer: Any) -> Any:
        """An ``HFRewardModel`` over an in-memory model, encoding within ``config.max_length``."""
        from ares_rlhf.backends.hf import HFRewardModel

        return HFRewardModel(model, tokenizer, max_length=self.config.max_length, batch_size=32)

    def margins(self, scorer: Any, pairs: Sequence[PreferencePair]) -> list[float]:
        """score(chosen) - score(rejected) per pair (each distinct input is scored once)."""
        keys: dict[tuple[Any, str], int] = {}
        for pair in pairs:
            for response in (pair.chosen, pair.rejected):
                keys.setdefault((pair.messages, response), len(keys))
        items = list(keys)
        scores = scorer.score([_conversation(m) for m, _ in items], [r for _, r in items])
        return [
            scores[keys[(p.messages, p.chosen)]] - scores[keys[(p.messages, p.rejected)]]
            for p in pairs
        ]

    def evaluate(self, scorer: Any, data: RepairData) -> dict[str, dict[str, Any]]:
        """Pairwise accuracy and margin distribution on every evaluation set."""
        return {
            name: margin_summary(self.margins(scorer, pairs))
            for name, pairs in data.eval_sets().items()
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
        self, model: Any, tokenizer: Any, pairs: Sequence[PreferencePair], *, max_steps: int = -1
    ) -> Any:
        """Train ``model`` on ``pairs`` and return the trained model (LoRA merged into it)."""
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
        with tempfile.TemporaryDirectory(prefix="ares-rm-train-") as scratch:
            args = RewardConfig(
                output_dir=scratch,
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
                save_strategy="no",
                report_to=[],
                logging_steps=self.logging_steps,
                disable_tqdm=True,
                warmup_steps=0,
                lr_scheduler_type="linear",
            )
            trainer = RewardTrainer(
                model=model,
                args=args,
                train_dataset=dataset,
                processing_class=tokenizer,
                data_collator=_PreferenceCollator(tokenizer.pad_token_id),
                peft_config=peft_config,
            )
            trainer.train()
            trained = trainer.model
        if peft_config is not None:
            trained = trained.merge_and_unload()
        trained.eval()
        return trained


def _conversation(messages: tuple[tuple[str, str], ...]) -> list[dict[str, str]]:
    return [{"role": role, "content": content} for role, content in messages]


def save_checkpoint(model: Any, tokenizer: Any, folder: Path) -> Path:
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


# -- whole-run repair ----------------------------------------------------------------------------


@dataclass
class RepairResult:
    """What :func:`repair_run` did: the checkpoint, pair counts and before/after metrics."""

    checkpoint: Path
    counts: dict[str, int]
    before: dict[str, dict[str, Any]]
    after: dict[str, dict[str, Any]]
    source_model: str
    method: str
    train_seconds: float
    heldout_combinations: list[str]

    def metrics(self) -> dict[str, Any]:
        return {
            "source_model": self.source_model,
            "method": self.method,
            "counts": self.counts,
            "before": self.before,
            "after": self.after,
            "train_seconds": round(self.train_seconds, 2),
            "heldout_combinations": self.heldout_combinations,
        }


def check_trainable_spec(spec: str) -> None:
    """Refuse a reward model that cannot be fine-tuned here (before anything is loaded)."""
    scheme = spec.partition(":")[0]
    if scheme not in TRAINABLE_SCHEMES:
        raise BackendError(
            f"reward model {spec!r} cannot be trained: repair-rm fine-tunes local weights, which "
            f"needs an hf: (or embedded:) reward model, not {scheme}:; point reward_model.spec at "
            "the RM's weights, e.g. hf:Skywork/Skywork-Reward-V2-Qwen3-0.6B"
        )


def model_and_tokenizer(source: Any, *, device: str | None = "auto") -> tuple[Any, Any]:
    """(model, tokenizer) from an ``HFRewardModel`` (or any backend exposing both) or a folder/hub id."""
    if isinstance(source, str | Path):
        from ares_rlhf.backends.hf import HFRewardModel

        source = HFRewardModel.from_pretrained(str(source), device=device)
    model = getattr(source, "model", None)
    tokenizer = getattr(source, "tokenizer", None)
    if model is None or tokenizer is None or not hasattr(model, "save_pretrained"):
        raise BackendError(
            f"reward model {getattr(source, 'model_id', source)!r} cannot be trained: its backend "
            "exposes no transformers model and tokenizer"
        )
    return model, tokenizer


def load_trainable_reward_model(model_config: Any) -> tuple[Any, Any]:
    """(model, tokenizer) of the run's reward model, through its backend."""
    from ares_rlhf.backends import reward_model_from_config

    check_trainable_spec(model_config.spec)
    return model_and_tokenizer(reward_model_from_config(model_config))


RM_VARIANT_BASE = 1 << 41
"""Mentor variant numbers of RM-repair wordings: far from discovery's per-slot variants."""


def compose_variants(
    mentor: Any, probes: Sequence[Probe], variants: int, base: int = RM_VARIANT_BASE
) -> list[MentorOutput]:
    """``variants`` new Mentor wordings of each combination that failed as B or C in discovery."""
    from ares_rlhf.mentor import compose_wordings

    specs = sorted(
        {p.spec for p in probes if p.phase == "discovery" and p.failure_type in REPAIR_FAILURES}
    )
    return compose_wordings(mentor, specs, variants, base)


def repair_run(
    store: Any,
    config: RewardRepairConfig | None = None,
    *,
    seed: int | None = None,
    device: str | None = None,
    progress: Any = None,
) -> RepairResult:
    """Repair the reward model of the run in ``store``; writes nothing unless repair succeeds.

    Checks every input (probes, anchor dataset, RM spec) before loading or training, saves the
    repaired RM atomically to ``RUN_DIR/checkpoints/rm-repaired`` and records the artifacts
    ``rm_checkpoint`` and ``rm_repair_metrics``.
    """
    from ares_rlhf.config import parse_config

    say = progress or (lambda message: logger.info(message))
    run_config = parse_config(store.config(), source=f"{store.run_dir} (stored run config)")
    config = config or run_config.repair_rm
    seed = run_config.seed if seed is None else seed
    model_config = run_config.reward_model
    if device:
        model_config = model_config.model_copy(update={"device": device})
    check_trainable_spec(model_config.spec)
    repairer = RewardRepairer(config, seed=seed, device=device)
    probes = store.probes("discovery")
    extra: list[MentorOutput] = []
    if config.variants:
        from ares_rlhf.mentor import run_mentor

        mentor = run_mentor(run_config, seed)
        say(f"composing {config.variants} new wording(s) per B/C combination")
        extra = compose_variants(mentor, probes, config.variants)
    data = repairer.build_pairs(probes, variant_outputs=extra)
    counts = data.counts()
    say(
        f"pairs: {counts['adversarial_train']} adversarial train, {counts['adversarial_heldout']} held out "
        f"({len(data.heldout_combinations())} combinations), {counts['anchor_train']} anchor + "
        f"{counts['benign_train']} benign train"
    )
    say(f"loading reward model {model_config.spec}")
    model, tokenizer = load_trainable_reward_model(model_config)
    say("scoring held-out sets before repair")
    before = repairer.evaluate(repairer.scorer(model, tokenizer), data)
    say(f"training ({config.method}, {config.epochs:g} epochs, {len(data.train)} pairs)")
    start = time.perf_counter()
    trained = repairer.train(model, tokenizer, data.train)
    train_seconds = time.perf_counter() - start
    say("scoring held-out sets after repair")
    after = repairer.evaluate(repairer.scorer(trained, tokenizer), data)
    checkpoint = save_checkpoint(trained, tokenizer, Path(store.run_dir) / CHECKPOINT_SUBDIR)
    result = RepairResult(
        checkpoint=checkpoint,
        counts=counts,
        before=before,
        after=after,
        source_model=model_config.spec,
        method=config.method,
        train_seconds=train_seconds,
        heldout_combinations=data.heldout_combinations(),
    )
    metrics = result.metrics()
    store.add_artifact(
        Artifact(
            kind="rm_checkpoint",
            path=str(checkpoint),
            data={
                "spec": f"hf:{checkpoint}",
                "source_model": model_config.spec,
                "method": config.method,
            },
        )
    )
    store.add_artifact(Artifact(kind="rm_repair_metrics", data=metrics))
    return result
