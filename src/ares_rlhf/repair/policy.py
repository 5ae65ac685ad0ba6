"""Repair stage 2: optimise the policy against the repaired reward model (TRL), with a KL anchor.

Algorithms (``PolicyRepairConfig.algorithm``):

* ``grpo`` (default): TRL ``GRPOTrainer``; group-relative advantages over ``num_generations``
  samples per prompt, KL anchor ``beta`` to the initial policy.
* ``rloo``: TRL ``RLOOTrainer``; leave-one-out baseline over the same groups, KL anchor ``beta``.
* ``dpo-rm``: offline and cheaper. Sample ``num_generations`` answers per prompt with the current
  policy, add the Mentor's safe response (adversarial prompts) or a helpful answer (benign
  prompts) as one more candidate, rank every candidate with the repaired RM and train TRL
  ``DPOTrainer`` on best-vs-worst pairs (``beta`` is DPO's beta: the strength of the implicit
  KL anchor to the initial policy).

The reward is always our ``RewardModel.score`` wrapped as a TRL reward *function*, so the RM
reads the conversation through its own tokenizer (an encoder RM such as MiniLM has no chat
template), plus the optional length penalty and judge veto (see :class:`RepairReward`).
LoRA (peft) is the default; the reference for the KL anchor is then the same model with the
adapter disabled. The result is saved atomically under ``RUN_DIR/checkpoints/policy-repaired``
and recorded as ``Artifact(kind="policy_checkpoint")``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ares_rlhf.backends import (
    COMMON_OPTIONS,
    RewardModel,
    SamplingParams,
    chat_model_from_config,
    create_reward_model,
    reward_model_from_config,
    split_spec,
)
from ares_rlhf.config import ModelConfig, PolicyConfig, PolicyRepairConfig, RunConfig
from ares_rlhf.errors import BackendError, ConfigError, DataError
from ares_rlhf.judges.base import HarmJudge
from ares_rlhf.records import Artifact, Message
from ares_rlhf.repair.prompts import RepairPrompt, RepairPrompts, collect_repair_prompts
from ares_rlhf.store.sqlite import RunStore

log = logging.getLogger(__name__)

CHECKPOINT_DIR = "checkpoints"
REPAIRED_POLICY_DIR = "policy-repaired"
METADATA_FILE = "ares-policy.json"
PLAIN_PROMPT = "Question: {question}\nAnswer:"
"""How a conversation is rendered for a policy without a chat template (``chat_format: plain``)."""


# -- spec resolution ------------------------------------------------------------------------------
def _repaired(store: RunStore, kind: str, original: Any) -> Any:
    """``original`` (a model config) pointing at the latest ``kind`` checkpoint, if one exists."""
    artifact = store.latest_artifact(kind)
    if artifact is None or not artifact.path or not Path(artifact.path).exists():
        return original
    # backend-specific options of another scheme (e.g. embedded:) do not apply to hf:
    options = original.options if split_spec(original.spec)[0] == "hf" else {}
    return original.model_copy(
        update={"spec": "hf:" + str(artifact.path), "options": dict(options)}
    )


def resolve_reward_spec(store: RunStore, config: RunConfig) -> ModelConfig:
    """The repaired RM (latest ``rm_checkpoint`` artifact) as a ``ModelConfig``, else the original."""
    return _repaired(store, "rm_checkpoint", config.reward_model)


def resolve_policy_spec(store: RunStore, config: RunConfig) -> str:
    """The repaired policy's spec when the run holds one, else the configured policy's spec."""
    return resolve_policy_config(store, config).spec


def resolve_policy_config(store: RunStore, config: RunConfig) -> PolicyConfig:
    """``config.policy`` with its spec pointing at the repaired checkpoint when there is one."""
    return _repaired(store, "policy_checkpoint", config.policy)


# -- reward ---------------------------------------------------------------------------------------
def _completion_text(completion: Any) -> str:
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list):  # conversational: [{"role": "assistant", "content": ...}]
        return "".join(m.get("content", "") for m in completion if m.get("role") == "assistant")
    return str(completion)


class RepairReward:
    """The repair reward, callable as a TRL reward function.

    ``reward = RM score - length_penalty * words / max_new_tokens``; with ``judge_veto`` a
    response the judge labels harmful gets ``min(batch rewards) - 1`` instead, so it ranks below
    every other answer of its batch. Defaults (``PolicyRepairConfig``): no length penalty, no
    veto, i.e. the repaired RM's score alone.
    """

    __name__ = "ares_repaired_rm"

    def __init__(
        self,
        reward_model: RewardModel,
        *,
        length_penalty: float = 0.0,
        max_new_tokens: int = 64,
        judge: HarmJudge | None = None,
        stops: Sequence[str] = (),
    ) -> None:
        self.reward_model = reward_model
        self.stops = list(stops)
        self.length_penalty = length_penalty
        self.max_new_tokens = max_new_tokens
        self.judge = judge

    def cut(self, text: str) -> str:
        """The answer as the backend would return it (cut at a stop string, stripped)."""
        for stop in self.stops:
            position = text.find(stop)
            if position != -1:
                text = text[:position]
        return text.strip()

    def score(
        self, conversations: Sequence[list[Message]], responses: Sequence[str]
    ) -> list[float]:
        """One reward per (conversation, response)."""
        responses = [self.cut(r) for r in responses]
        scores = [float(s) for s in self.reward_model.score(list(conversations), list(responses))]
        if self.length_penalty:
            scores = [
                s - self.length_penalty * len(r.split()) / self.max_new_tokens
                for s, r in zip(scores, responses, strict=True)
            ]
        if self.judge is not None and scores:
            prompts = [c[-1]["content"] for c in conversations]
            verdicts = self.judge.judge(prompts, list(responses))
            floor = min(scores) - 1.0
            scores = [floor if v.harmful else s for s, v in zip(scores, verdicts, strict=True)]
        return scores

    def __call__(self, prompts: list[Any], completions: list[Any], **kwargs: Any) -> list[float]:
        conversations = [json.loads(c) for c in kwargs["conversation"]]
        return self.score(conversations, [_completion_text(c) for c in completions])


# -- model loading and prompt rendering -----------------------------------------------------------
def _resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


@dataclass
class LoadedPolicy:
    """The policy loaded for training, through its chat backend."""

    chat: Any
    """The backend chat model (samples for ``dpo-rm``; renders prompts exactly as at inference)."""
    model: Any
    tokenizer: Any
    adapter_base: str | None
    """Where a repair adapter's base lives (the policy's own hf target), or ``None``: save merged."""

    @property
    def conversational(self) -> bool:
        return bool(getattr(self.chat, "uses_chat_template", False))

    def trainer_prompt(self, conversation: list[Message]) -> Any:
        """The prompt as the trainer sees it: messages (chat template) or the rendered text."""
        if self.conversational:
            return [dict(m) for m in conversation]
        render = getattr(self.chat, "render", None)
        return render(conversation) if callable(render) else render_plain_prompt(conversation)

    @property
    def stops(self) -> list[str]:
        """Text after which the backend cuts an answer (the plain format's next ``Question:``)."""
        if self.conversational:
            return []
        from ares_rlhf.backends.hf import PLAIN_STOP

        return [PLAIN_STOP]


def load_trainable_policy(policy: ModelConfig) -> LoadedPolicy:
    """Load the policy through its backend for training.

    A policy that is itself a LoRA adapter (an SFT adapter, an earlier repair) is loaded merged,
    so a fresh repair adapter trains on top and the KL anchor is the full initial policy; such a
    policy (and any non-``hf:`` one) is saved merged after repair.
    """
    chat = chat_model_from_config(policy)
    model = getattr(chat, "model", None)
    tokenizer = getattr(chat, "tokenizer", None)
    if model is None or tokenizer is None:
        raise BackendError(
            f"policy {policy.spec!r}: policy repair needs a local transformers model "
            "(an hf: spec or the embedded policy), not a remote or simulated one"
        )
    if hasattr(model, "peft_config"):
        model = model.merge_and_unload()
        chat.model = model
    scheme, target = split_spec(policy.spec)
    adapter_base = None
    if scheme == "hf" and not (Path(target).expanduser() / "adapter_config.json").exists():
        local = Path(target).expanduser()
        adapter_base = str(local.resolve()) if local.exists() else target
    elif scheme == "embedded":
        # the embedded policy is served from a plain (already merged) cached model folder
        folder = Path(str(getattr(model, "name_or_path", "") or "/nonexistent"))
        if (folder / "config.json").is_file() and not (folder / "adapter_config.json").exists():
            adapter_base = str(folder.resolve())
    return LoadedPolicy(chat, model, tokenizer, adapter_base)


def render_plain_prompt(conversation: Sequence[Message]) -> str:
    """A Question/Answer prompt (fallback when the backend has no renderer of its own)."""
    question = next((m["content"] for m in reversed(conversation) if m["role"] == "user"), "")
    return PLAIN_PROMPT.format(question=question)


# -- the repairer -----------------------------------------------------------------------------------
@dataclass
class PolicyRepairResult:
    """What one policy repair produced."""

    path: Path
    algorithm: str
    steps: int
    seconds: float
    counts: dict[str, int] = field(default_factory=dict)
    train_loss: float | None = None


class PolicyRepairer:
    """Optimise a run's policy against its repaired RM; ``train()`` returns the checkpoint path.

    ``store`` gives the prompts (and receives the split, artifact and metrics); ``policy`` and
    ``reward_model`` default to the run config's policy and the run's repaired RM.
    """

    def __init__(
        self,
        config: PolicyRepairConfig,
        *,
        store: RunStore,
        policy: ModelConfig | None = None,
        reward_model: ModelConfig | RewardModel | None = None,
        judge: HarmJudge | None = None,
        seed: int | None = None,
        output_dir: str | Path | None = None,
        max_prompts: int | None = None,
    ) -> None:
        self.config = config
        self.max_prompts = max_prompts
        """Train on at most this many prompts of the (shuffled) mix: for quick runs."""
        self.store = store
        run_config = _run_config(store)
        self.run_config = run_config
        self.seed = run_config.seed if seed is None else seed
        self.policy_config = policy or run_config.policy
        self._reward_source = reward_model or resolve_reward_spec(store, run_config)
        self.judge = judge
        if config.judge_veto and judge is None:
            raise ConfigError("repair_policy.judge_veto is on but no judge was given")
        self.output_dir = Path(output_dir or store.run_dir / CHECKPOINT_DIR / REPAIRED_POLICY_DIR)
        self.pairs: list[PreferencePair] = []
        self._extra_counts: dict[str, int] = {}

    def _reward_model(self) -> RewardModel:
        if isinstance(self._reward_source, RewardModel):
            return self._reward_source
        return reward_model_from_config(self._reward_source)

    def prompts(self) -> RepairPrompts:
        """The training prompts (the seeded mix, cut to ``max_prompts`` when set)."""
        prompts = collect_repair_prompts(
            self.store,
            benign_ratio=self.config.benign_ratio,
            heldout_fraction=self.config.heldout_fraction,
            seed=self.seed,
            known_bad_candidates=self.config.known_bad_candidates,
        )
        if self.max_prompts is not None and len(prompts.train) > self.max_prompts:
            prompts.train = prompts.train[: self.max_prompts]
            prompts.counts["adversarial"] = sum(p.kind == "adversarial" for p in prompts.train)
            prompts.counts["benign"] = sum(p.kind == "benign" for p in prompts.train)
        return prompts

    def train(self) -> Path:
        """Run the configured algorithm, save the policy and record it; returns the checkpoint."""
        return self.run().path

    def run(self) -> PolicyRepairResult:
        from transformers import set_seed

        started = time.perf_counter()
        set_seed(self.seed)
        prompts = self.prompts()
        if not prompts.train:
            raise DataError(f"{self.store.run_dir}: no training prompts for policy repair")
        policy = load_trainable_policy(self.policy_config)
        reward = RepairReward(
            self._reward_model(),
            length_penalty=self.config.length_penalty,
            max_new_tokens=self.config.max_new_tokens,
            judge=self.judge if self.config.judge_veto else None,
            stops=policy.stops,
        )
        work_dir = self.output_dir.with_name(self.output_dir.name + ".work")
        device = _resolve_device(self.policy_config.device)
        if self.config.algorithm == "dpo-rm":
            trainer = self._dpo_trainer(policy, reward, prompts, work_dir, device)
        else:
            trainer = self._online_trainer(policy, reward, prompts, work_dir, device)
        log.info("policy repair: %s, %d prompts", self.config.algorithm, len(prompts.train))
        accelerator = trainer.accelerator
        adapter_base = None if self.config.method == "full" else policy.adapter_base
        if accelerator.num_processes > 1 and self.config.method == "lora" and adapter_base is None:
            raise ConfigError(
                f"policy {self.policy_config.spec!r} is not an hf: model folder or hub id, so its "
                "repair adapter would need merging; on several processes point policy.spec at a "
                "merged model folder (or use method: full)"
            )
        output = trainer.train()
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
        shutil.rmtree(work_dir, ignore_errors=True)
        result = PolicyRepairResult(
            path=path,
            algorithm=self.config.algorithm,
            steps=self.config.steps,
            seconds=seconds,
            counts={**prompts.counts, **self._extra_counts},
            train_loss=getattr(output, "training_loss", None),
        )
        self.store.add_artifact(
            Artifact(
                kind="policy_checkpoint",
                path=str(path),
                data={
                    "algorithm": result.algorithm,
                    "method": self.config.method,
                    "steps": result.steps,
                    "seconds": round(seconds, 2),
                    "train_loss": result.train_loss,
                    "initial_policy": self.policy_config.spec,
                    **result.counts,
                },
            )
        )
        return result

    # -- trainers ------------------------------------------------------------------------------
    def _common_args(self, work_dir: Path, device: str) -> dict[str, Any]:
        import torch

        on_gpu = device.startswith("cuda")
        return {
            "output_dir": str(work_dir),
            "max_steps": self.config.steps,
            "learning_rate": self.config.learning_rate,
            "seed": self.seed,
            "data_seed": self.seed,
            "use_cpu": not on_gpu,
            "bf16": bool(on_gpu and torch.cuda.is_bf16_supported()),
            "activation_checkpointing": False,
            "logging_steps": 1,
            "save_strategy": "no",
            "report_to": [],
            "disable_tqdm": True,
        }

    def _peft_config(self) -> Any:
        if self.config.method != "lora":
            return None
        from peft import LoraConfig

        return LoraConfig(
            r=self.config.lora_r,
            lora_alpha=2 * self.config.lora_r,
            lora_dropout=0.0,
            target_modules="all-linear",
            task_type="CAUSAL_LM",
        )

    def _anchor_reference(self, model: Any, work_dir: Path) -> None:
        """Full fine-tuning with a KL anchor: TRL reloads the reference from ``_name_or_path``."""
        if self.config.method == "full" and self.config.beta > 0:
            start = work_dir / "initial-policy"
            model.save_pretrained(start)
            model.config._name_or_path = str(start)

    def _online_trainer(self, policy: LoadedPolicy, reward, prompts, work_dir, device):
        from datasets import Dataset

        rows = [
            {
                "prompt": policy.trainer_prompt(p.messages),
                "conversation": json.dumps(p.messages, ensure_ascii=False),
            }
            for p in prompts.train
        ]
        self._anchor_reference(policy.model, work_dir)
        common = self._common_args(work_dir, device)
        group = self.config.num_generations
        online = {
            "per_device_train_batch_size": self.config.batch_size * group,
            "num_generations": group,
            "max_completion_length": self.config.max_new_tokens,
            "beta": self.config.beta,
            "temperature": 1.0,
        }
        if self.config.algorithm == "grpo":
            from trl import GRPOConfig as TrainerConfig
            from trl import GRPOTrainer as Trainer
        elif self.config.algorithm == "rloo":
            from trl import RLOOConfig as TrainerConfig
            from trl import RLOOTrainer as Trainer
        else:
            raise ConfigError(f"unknown policy repair algorithm {self.config.algorithm!r}")
        return Trainer(
            model=policy.model,
            reward_funcs=[reward],
            args=TrainerConfig(**{**common, **online, **self.config.trainer_options}),
            train_dataset=Dataset.from_list(rows),
            processing_class=policy.tokenizer,
            peft_config=self._peft_config(),
        )

    def _dpo_trainer(self, policy: LoadedPolicy, reward, prompts, work_dir, device):
        from datasets import Dataset
        from trl import DPOConfig, DPOTrainer

        if self.config.beta <= 0:
            raise ConfigError("repair_policy.beta must be > 0 for dpo-rm (it is DPO's beta)")
        pairs = build_preference_pairs(
            policy.chat,
            prompts.train,
            reward,
            samples=self.config.num_generations,
            max_new_tokens=self.config.max_new_tokens,
            seed=self.seed,
            batch_size=max(1, self.config.batch_size * 2),
        )
        if not pairs:
            raise DataError("dpo-rm: every prompt's candidates scored the same; no pairs to train")
        self.pairs = pairs
        self._extra_counts = {
            "dpo_pairs": len(pairs),
            "dpo_pairs_chosen_known_good": sum(p.chosen_is_known_good for p in pairs),
            "dpo_pairs_rejected_known_bad": sum(p.rejected_is_known_bad for p in pairs),
        }
        rows = []
        for pair in pairs:
            prompt = policy.trainer_prompt(pair.messages)
            if policy.conversational:
                chosen = [{"role": "assistant", "content": pair.chosen}]
                rejected = [{"role": "assistant", "content": pair.rejected}]
            else:
                chosen, rejected = " " + pair.chosen.strip(), " " + pair.rejected.strip()
            rows.append({"prompt": prompt, "chosen": chosen, "rejected": rejected})
        self._anchor_reference(policy.model, work_dir)
        args = DPOConfig(
            **{
                **self._common_args(work_dir, device),
                "per_device_train_batch_size": self.config.batch_size,
                "beta": self.config.beta,
                "max_length": 512,
                **(
                    {"loss_type": ["sigmoid", "sft"], "loss_weights": [1.0, nll]}
                    if (nll := self.config.chosen_nll_weight) > 0
                    else {}
                ),
                **self.config.trainer_options,
            }
        )
        ref_model = None
        if self.config.method == "full":
            import copy

            ref_model = copy.deepcopy(policy.model)
        return DPOTrainer(
            model=policy.model,
            ref_model=ref_model,
            args=args,
            train_dataset=Dataset.from_list(rows),
            processing_class=policy.tokenizer,
            peft_config=self._peft_config(),
        )


@dataclass
class PreferencePair:
    """One ``dpo-rm`` training pair, ranked by the repair reward."""

    messages: list[Message]
    chosen: str
    rejected: str
    chosen_reward: float
    rejected_reward: float
    kind: str
    chosen_is_known_good: bool = False
    """The chosen answer is the Mentor's safe response / the benign example's answer."""
    rejected_is_known_bad: bool = False
    """The rejected answer is the prompt's known-bad candidate (malicious / needless refusal)."""


def build_preference_pairs(
    chat: Any,
    prompts: Sequence[RepairPrompt],
    reward: RepairReward,
    *,
    samples: int,
    max_new_tokens: int,
    seed: int,
    batch_size: int = 8,
    temperature: float = 0.8,
    min_margin: float = 1e-6,
) -> list[PreferencePair]:
    """Sample answers with the current policy, add the known answers, keep best vs worst.

    Candidates per prompt: ``samples`` answers of the policy, the known-good answer (the
    Mentor's safe response, a benign example's helpful answer) and the prompt's ``known_bad``
    answer if set (the Mentor's malicious response, a needless refusal); the repair reward
    ranks them and the best and worst make the pair.
    """
    candidates: list[list[str]] = [[] for _ in prompts]
    for sample in range(samples):
        params = SamplingParams(
            max_new_tokens=max_new_tokens, temperature=temperature, top_p=0.95, seed=seed + sample
        )
        for start in range(0, len(prompts), batch_size):
            chunk = prompts[start : start + batch_size]
            answers = chat.generate([p.messages for p in chunk], params)
            for offset, answer in enumerate(answers):
                candidates[start + offset].append(answer)
    known: list[tuple[int | None, int | None]] = []  # (known-good, known-bad) candidate index
    for prompt, options in zip(prompts, candidates, strict=True):
        good = bad = None
        if prompt.safe:
            good = len(options)
            options.append(prompt.safe)
        if prompt.known_bad:
            bad = len(options)
            options.append(prompt.known_bad)
        known.append((good, bad))
    conversations = [p.messages for p, opts in zip(prompts, candidates, strict=True) for _ in opts]
    flat = [answer for opts in candidates for answer in opts]
    scores = reward.score(conversations, flat)
    pairs: list[PreferencePair] = []
    cursor = 0
    for prompt, options, (good, bad) in zip(prompts, candidates, known, strict=True):
        own = scores[cursor : cursor + len(options)]
        cursor += len(options)
        best = max(range(len(options)), key=own.__getitem__)
        worst = min(range(len(options)), key=own.__getitem__)
        if own[best] - own[worst] <= min_margin or options[best].strip() == options[worst].strip():
            continue
        pairs.append(
            PreferencePair(
                messages=prompt.messages,
                chosen=options[best],
                rejected=options[worst],
                chosen_reward=own[best],
                rejected_reward=own[worst],
                kind=prompt.kind,
                chosen_is_known_good=best == good,
                rejected_is_known_bad=worst == bad,
            )
        )
    return pairs


# -- saving -----------------------------------------------------------------------------------------
def save_policy(
    model: Any,
    tokenizer: Any,
    out_dir: str | Path,
    *,
    adapter_base: str | None,
    metadata: dict[str, Any],
) -> Path:
    """Write the policy to ``out_dir`` atomically: a LoRA adapter folder, or merged weights.

    An adapter folder records its base (``base_model_name_or_path``) so ``hf:OUT_DIR`` applies it
    to that base (``adapter_base``); without one the weights are merged and saved in full (the
    base is not on disk, e.g. the initial policy was itself an adapter merged before repair).
    """
    out_dir = Path(out_dir)
    tmp = out_dir.with_name(out_dir.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    if hasattr(model, "peft_config") and adapter_base is None:
        model = model.merge_and_unload()
    model.save_pretrained(tmp)
    return finalize_saved_policy(
        tmp, tokenizer, out_dir, adapter_base=adapter_base, metadata=metadata
    )


def finalize_saved_policy(
    tmp: Path,
    tokenizer: Any,
    out_dir: Path,
    *,
    adapter_base: str | None,
    metadata: dict[str, Any],
) -> Path:
    """Add tokenizer, adapter base and metadata to saved weights in ``tmp``; move into place."""
    adapter_config = tmp / "adapter_config.json"
    is_adapter = adapter_config.is_file()
    if is_adapter and adapter_base is not None:
        data = json.loads(adapter_config.read_text(encoding="utf-8"))
        data["base_model_name_or_path"] = adapter_base
        adapter_config.write_text(json.dumps(data, indent=2), encoding="utf-8")
    tokenizer.save_pretrained(tmp)
    info = {**metadata, "format": "lora-adapter" if is_adapter else "full"}
    (tmp / METADATA_FILE).write_text(json.dumps(info, indent=2), encoding="utf-8")
    old = out_dir.with_name(out_dir.name + ".old")
    if old.exists():
        shutil.rmtree(old)
    if out_dir.exists():
        os.replace(out_dir, old)
    os.replace(tmp, out_dir)
    shutil.rmtree(old, ignore_errors=True)
    return out_dir


def _run_config(store: RunStore) -> RunConfig:
    from ares_rlhf.config import parse_config

    return parse_config(store.config(), source=f"{store.run_dir} (stored config)")


def reward_options(config: ModelConfig) -> dict[str, Any]:
    """The backend options of a model config (common options plus backend-specific ones)."""
    options = {name: getattr(config, name) for name in COMMON_OPTIONS}
    options.update(config.options)
    return options


def create_repaired_reward_model(store: RunStore, config: RunConfig) -> RewardModel:
    """Load the run's repaired RM (or the original when RM repair has not run)."""
    spec = resolve_reward_spec(store, config)
    return create_reward_model(spec.spec, **reward_options(spec))
