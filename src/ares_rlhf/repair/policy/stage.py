"""Repair stage 2: optimise the run's policy against its repaired reward model, with a KL anchor.

Algorithms (``repair_policy.algorithm``):

* ``grpo`` (default): TRL ``GRPOTrainer``; group-relative advantages over ``num_generations``
  samples per prompt, KL anchor ``beta`` to the initial policy.
* ``rloo``: TRL ``RLOOTrainer``; leave-one-out baseline over the same groups, KL anchor ``beta``.
* ``dpo-rm``: offline and cheaper. Sample ``num_generations`` answers per prompt with the current
  policy, add the known-good (Mentor's safe response / benign request's helpful answer) and
  known-bad candidates, rank every candidate with the repaired RM and train TRL ``DPOTrainer``
  on best-vs-worst pairs (``beta`` is DPO's beta: the strength of the implicit KL anchor).
  With ``iterations`` = K > 1 (LoRA), the prompts and steps are split K ways and each part is
  sampled from the policy the part before trained (iterative DPO; each part's DPO reference is
  the previous part's policy, TRL's copy of the adapter it is given). With
  ``carry_attack_pairs`` a later part also trains on the earlier parts' attack pairs that reject
  the policy's own answer.

Training uses at most ``repair_policy.max_prompts`` prompts (default ``steps x batch_size``, what
the steps consume; sampling more for ``dpo-rm`` would be wasted). The trainer checkpoints every
``checkpoint_every`` steps into ``RUN_DIR/checkpoints/policy-repaired.work`` (with the ranked
``dpo-rm`` pairs), so a killed repair resumes from its last complete step. The result is saved
atomically under ``RUN_DIR/checkpoints/policy-repaired`` (``policy-repaired.r<k>`` in round k > 1,
so round k's "before" figures still answer with round k - 1's policy) and recorded with its
training log.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ares_rlhf.backends import RewardModel, reward_model_from_config
from ares_rlhf.config import ModelConfig, PolicyConfig
from ares_rlhf.errors import ConfigError, DataError
from ares_rlhf.judges.base import HarmJudge
from ares_rlhf.records import ArtifactKind
from ares_rlhf.repair.policy.balance import balance_refusal_pairs
from ares_rlhf.repair.policy.budget import budget_scale, scaled_repair_config
from ares_rlhf.repair.policy.loading import load_trainable_policy, resolve_device
from ares_rlhf.repair.policy.prompts import RepairPrompt, RepairPrompts, collect_repair_prompts
from ares_rlhf.repair.policy.ranking import RankedPair, build_preference_pairs
from ares_rlhf.repair.policy.reward import RepairReward
from ares_rlhf.repair.policy.saving import finalize_saved_policy, save_policy
from ares_rlhf.repair.policy.trainers import dpo_trainer, online_trainer
from ares_rlhf.training.progress import Progress, attach_progress
from ares_rlhf.training.reward import latest_checkpoint

if TYPE_CHECKING:
    from ares_rlhf.run import Run

log = logging.getLogger(__name__)

CHECKPOINT_DIR = "checkpoints"
REPAIRED_POLICY_DIR = "policy-repaired"
PAIRS_FILE = "dpo-pairs.json"
ITERATION_ADAPTER = "adapter"
"""Where a finished ``dpo-rm`` iteration (not the last) saves its adapter, so a resume skips it."""


@dataclass
class PolicyRepairResult:
    """What one policy repair produced."""

    path: Path
    algorithm: str
    steps: int
    seconds: float
    counts: dict[str, int] = field(default_factory=dict)
    train_loss: float | None = None
    resumed_from_step: int | None = None
    log_history: list[dict[str, Any]] = field(default_factory=list)


class PolicyRepairer:
    """Optimise a run's policy against its repaired RM; :meth:`run` saves and records the result.

    ``start`` is the policy repair starts from (default: the one the current round started from,
    round 1's being the configured policy, so a repeated repair replaces an earlier one of the
    same round instead of stacking on it); ``reward_model`` defaults to the run's current
    (repaired) RM.
    """

    def __init__(
        self,
        run: Run,
        *,
        start: PolicyConfig | None = None,
        reward_model: ModelConfig | RewardModel | None = None,
        judge: HarmJudge | None = None,
        output_dir: str | Path | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.run_ = run
        self.progress = progress
        """``progress(done, total, label)``: sampling (dpo-rm) and training steps."""
        self.budget_scale = budget_scale(run)
        """A later round's share of the configured budget (:mod:`.budget`); 1.0 in round 1."""
        self.config = scaled_repair_config(run.config.repair_policy, self.budget_scale)
        self.seed = run.config.seed
        # round 1 repairs the configured policy; a later round the policy the round started from
        self.policy_config = start or run.policy_config(at_round_start=True)
        self._reward_source = reward_model or run.reward_model_config()
        if self.config.judge_veto and judge is None:
            judge = run.judge
        self.judge = judge
        # round k > 1 saves beside round 1's policy, which its "before" figures still answer with
        default_dir = run.run_dir / CHECKPOINT_DIR / run.key(REPAIRED_POLICY_DIR)
        self.output_dir = Path(output_dir or default_dir)
        self.work_dir = self.output_dir.with_name(self.output_dir.name + ".work")
        self.pairs: list[RankedPair] = []
        self._extra_counts: dict[str, int] = {}

    @property
    def max_prompts(self) -> int:
        return self.config.max_prompts or self.config.steps * self.config.batch_size

    def _reward_model(self) -> RewardModel:
        if isinstance(self._reward_source, RewardModel):
            return self._reward_source
        return reward_model_from_config(self._reward_source)

    def prompts(self) -> RepairPrompts:
        """The training prompts (the seeded mix, cut to :attr:`max_prompts`)."""
        prompts = collect_repair_prompts(self.run_, config=self.config)
        prompts.cut(self.max_prompts)
        return prompts

    def _fingerprint(self, prompts: list[RepairPrompt]) -> str:
        blob = json.dumps(
            {
                "config": self.config.model_dump(mode="json"),
                "policy": self.policy_config.spec,
                "prompts": [p.messages for p in prompts],
            },
            sort_keys=True,
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def _ranked_pairs(
        self,
        policy: Any,
        reward: RepairReward,
        prompts: list[RepairPrompt],
        work_dir: Path,
        sample_seed: int,
    ) -> list[RankedPair]:
        """The ``dpo-rm`` pairs: reused from ``work_dir`` when a killed repair left them."""
        path = work_dir / PAIRS_FILE
        fingerprint = self._fingerprint(prompts)
        if path.is_file():
            try:
                stored = json.loads(path.read_text(encoding="utf-8"))
                if stored.get("fingerprint") == fingerprint:
                    return [RankedPair(**row) for row in stored["pairs"]]
            except (OSError, ValueError, TypeError, KeyError):
                pass  # unreadable or from other settings: sample again
        pairs = build_preference_pairs(
            policy.chat,
            prompts,
            reward,
            samples=self.config.num_generations,
            max_new_tokens=self.config.max_new_tokens,
            seed=sample_seed,
            batch_size=max(1, self.config.batch_size * 2),
            progress=self.progress,
        )
        work_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(
            json.dumps({"fingerprint": fingerprint, "pairs": [asdict(p) for p in pairs]}),
            encoding="utf-8",
        )
        tmp.replace(path)
        return pairs

    def run(self) -> PolicyRepairResult:
        from transformers import set_seed

        started = time.perf_counter()
        set_seed(self.seed)
        prompts = self.prompts()
        if not prompts.train:
            raise DataError(f"{self.run_.run_dir}: no training prompts for policy repair")
        if self.config.algorithm == "dpo-rm" and self.config.beta <= 0:
            raise ConfigError("repair_policy.beta must be > 0 for dpo-rm (it is DPO's beta)")
        policy = load_trainable_policy(self.policy_config)
        reward = RepairReward(
            self._reward_model(),
            length_penalty=self.config.length_penalty,
            max_new_tokens=self.config.max_new_tokens,
            judge=self.judge if self.config.judge_veto else None,
            stops=policy.stops,
        )
        if self.config.iterations > 1 and (
            self.config.algorithm != "dpo-rm" or self.config.method != "lora"
        ):
            raise ConfigError("repair_policy.iterations > 1 needs algorithm dpo-rm and method lora")
        if self.config.iterations > self.config.steps:
            raise ConfigError(
                f"repair_policy.iterations ({self.config.iterations}) is more than its steps "
                f"({self.config.steps})"
            )
        device = resolve_device(self.policy_config.device)
        log.info("policy repair: %s, %d prompts", self.config.algorithm, len(prompts.train))
        adapter_base = None if self.config.method == "full" else policy.adapter_base
        if self.config.algorithm == "dpo-rm":
            trainer, output, resume = self._train_dpo_rm(policy, reward, prompts, device)
        else:
            trainer = online_trainer(
                self.config, policy, reward, prompts.train, self.work_dir, device, self.seed
            )
            output, resume = self._train(trainer, self.work_dir, adapter_base)
        accelerator = trainer.accelerator
        seconds = time.perf_counter() - started
        metadata = {
            "algorithm": self.config.algorithm,
            "method": self.config.method,
            "steps": self.config.steps,
            "seed": self.seed,
            "initial_policy": self.policy_config.spec,
            "chat_format": self.policy_config.chat_format,
        }
        if accelerator.num_processes > 1:
            # sharded (ZeRO-3 / FSDP) weights are gathered by the trainer on every rank
            tmp = self.output_dir.with_name(self.output_dir.name + ".partial")
            trainer.save_model(str(tmp))
            accelerator.wait_for_everyone()
            if not accelerator.is_main_process:
                return PolicyRepairResult(self.output_dir, self.config.algorithm, 0, seconds)
            path = finalize_saved_policy(
                tmp, policy.tokenizer, self.output_dir, adapter_base=adapter_base, metadata=metadata
            )
        else:
            path = save_policy(
                trainer.model,
                policy.tokenizer,
                self.output_dir,
                adapter_base=adapter_base,
                metadata=metadata,
            )
        history = [dict(entry) for entry in trainer.state.log_history]
        shutil.rmtree(self.work_dir, ignore_errors=True)
        result = PolicyRepairResult(
            path=path,
            algorithm=self.config.algorithm,
            steps=self.config.steps,
            seconds=seconds,
            counts={**prompts.counts, **self._extra_counts},
            train_loss=getattr(output, "training_loss", None),
            resumed_from_step=int(resume.name.rpartition("-")[2]) if resume else None,
            log_history=history,
        )
        self.run_.record(
            ArtifactKind.POLICY_CHECKPOINT,
            {
                "algorithm": result.algorithm,
                "method": self.config.method,
                "steps": result.steps,
                "seconds": round(seconds, 2),
                "train_loss": result.train_loss,
                "initial_policy": self.policy_config.spec,
                "resumed_from_step": result.resumed_from_step,
                "budget_scale": round(self.budget_scale, 4),
                "log_history": history,
                **result.counts,
            },
            path=path,
        )
        return result

    def _train(
        self, trainer: Any, work_dir: Path, adapter_base: str | None
    ) -> tuple[Any, Path | None]:
        """Train (from the last checkpoint in ``work_dir`` if any); (output, resumed checkpoint)."""
        if (
            trainer.accelerator.num_processes > 1
            and self.config.method == "lora"
            and adapter_base is None
        ):
            raise ConfigError(
                f"policy {self.policy_config.spec!r} is not an hf: model folder or hub id, so its "
                "repair adapter would need merging; on several processes point policy.spec at a "
                "merged model folder (or use method: full)"
            )
        attach_progress(trainer, "training", self.progress)
        resume = latest_checkpoint(work_dir) if self.config.checkpoint_every else None
        output = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
        return output, resume

    def _iteration_dirs(self) -> list[Path]:
        count = self.config.iterations
        if count == 1:
            return [self.work_dir]
        return [self.work_dir / f"iteration-{i + 1}" for i in range(count)]

    def _train_dpo_rm(
        self, policy: Any, reward: RepairReward, prompts: RepairPrompts, device: str
    ) -> tuple[Any, Any, Path | None]:
        """``dpo-rm`` in ``iterations`` parts (interleaved prompt slices, steps split evenly):
        each part ranks answers sampled from the policy the part before trained. A finished part
        (not the last) leaves its adapter, so a killed repair resumes after it."""
        count = self.config.iterations
        dirs = self._iteration_dirs()
        chunks = [prompts.train[i::count] for i in range(count)]
        steps = [self.config.steps // count + (i < self.config.steps % count) for i in range(count)]
        finished = max(
            (
                i
                for i in range(count - 1)
                if (dirs[i] / ITERATION_ADAPTER / "adapter_config.json").is_file()
            ),
            default=-1,
        )
        adapter_base = policy.adapter_base
        counts: dict[str, int] = {}
        trained: list[RankedPair] = []
        trainer = output = resume = None
        for i in range(count):
            pairs = self._ranked_pairs(policy, reward, chunks[i], dirs[i], self.seed + 7919 * i)
            if not pairs:
                raise DataError(
                    "dpo-rm: every prompt's candidates scored the same; no pairs to train"
                )
            if self.config.carry_attack_pairs and trained:
                carried = own_answer_attack_pairs(trained)
                counts["dpo_pairs_carried"] = counts.get("dpo_pairs_carried", 0) + len(carried)
                pairs = pairs + carried
            for key, value in (
                ("dpo_pairs", len(pairs)),
                ("dpo_pairs_chosen_known_good", sum(p.chosen_is_known_good for p in pairs)),
                ("dpo_pairs_rejected_known_bad", sum(p.rejected_is_known_bad for p in pairs)),
                ("dpo_pairs_chosen_own_refusal", sum(p.chosen_is_own_refusal for p in pairs)),
            ):
                counts[key] = counts.get(key, 0) + value
            if self.config.refusal_balance:
                consumed = steps[i] * self.config.batch_size
                pairs, balance = balance_refusal_pairs(pairs, consumed, self.seed + i)
                if not pairs:
                    raise DataError("dpo-rm: refusal_balance left no pairs to train")
                for key, value in balance.items():
                    counts[key] = counts.get(key, 0) + value
            trained += [p for p in pairs if p not in trained]
            if i < finished:
                continue
            if i == finished:  # resumed after this part: carry on from its adapter
                from peft import PeftModel

                model = PeftModel.from_pretrained(
                    policy.model, str(dirs[i] / ITERATION_ADAPTER), is_trainable=True
                )
                policy.model = policy.chat.model = model
                continue
            config = self.config.model_copy(update={"steps": steps[i]})
            trainer = dpo_trainer(config, policy, pairs, dirs[i], device, self.seed)
            output, resume = self._train(trainer, dirs[i], adapter_base)
            if count > 1:
                model = trainer.model
                if "ref" in getattr(model, "peft_config", {}):
                    model.delete_adapter("ref")  # TRL's reference copy: not part of the policy
                model.eval()
                policy.model = policy.chat.model = model
                if i < count - 1:
                    model.save_pretrained(str(dirs[i] / ITERATION_ADAPTER))
        self.pairs = trained
        self._extra_counts = {**counts, **({"iterations": count} if count > 1 else {})}
        return trainer, output, resume


def own_answer_attack_pairs(pairs: list[RankedPair]) -> list[RankedPair]:
    """Attack pairs whose rejected answer is one the policy sampled (not the Mentor's known-bad
    text): with ``judge_veto`` that is an answer of the policy the judge called harmful."""
    return [p for p in pairs if p.kind != "benign" and not p.rejected_is_known_bad]


def repair_policy(run: Run, **options: Any) -> PolicyRepairResult:
    """Run policy repair on ``run`` (see :class:`PolicyRepairer` for the options)."""
    return PolicyRepairer(run, **options).run()


__all__ = [
    "CHECKPOINT_DIR",
    "REPAIRED_POLICY_DIR",
    "PolicyRepairResult",
    "PolicyRepairer",
    "repair_policy",
]
