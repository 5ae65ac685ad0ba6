"""Repair stage 1: Bradley-Terry fine-tuning of the run's reward model on what discovery found.

:func:`repair_reward_model` takes a :class:`~ares_rlhf.run.Run`: adversarial pairs from the B/C
probes (plus extra Mentor wordings of those combinations) on the training side of the run's
split, mixed with built-in benign pairs of the training benign requests and optional anchor
pairs; judged before and after on the held-out combinations, held-out anchors and held-out
benign requests. The repaired RM is saved atomically to ``RUN_DIR/checkpoints/rm-repaired``
(``rm-repaired.r<k>`` in round k > 1, beside the earlier rounds' models) and recorded (path
relative to the run folder) with its metrics.
"""

from __future__ import annotations

import logging
import random
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ares_rlhf.errors import BackendError, DataError
from ares_rlhf.records import ArtifactKind, FailureType, MentorOutput, PreferencePair, Probe
from ares_rlhf.repair.reward.anchors import load_anchor_dataset
from ares_rlhf.repair.reward.pairs import (
    REPAIR_FAILURES,
    adversarial_pairs,
    benign_pairs,
    mentor_pairs,
    own_refusal_pool,
    split_by_group,
)
from ares_rlhf.training.reward import RewardModelTrainer, save_model_folder

if TYPE_CHECKING:
    from ares_rlhf.run import Run

logger = logging.getLogger(__name__)

CHECKPOINT_SUBDIR = Path("checkpoints") / "rm-repaired"
TRAINABLE_SCHEMES = ("hf", "embedded")
MAX_ANCHOR_EVAL = 400
"""Held-out anchor pairs scored before and after (a random subset of larger datasets)."""
BENIGN_TRAIN_FRAMES = 3
"""Framings per training benign request (held-out requests are asked in every framing)."""
RM_VARIANT_BASE = 1 << 41
"""Mentor variant numbers of RM-repair wordings: far from discovery's per-slot variants."""

EVAL_SETS = (
    "adversarial_heldout",
    "adversarial_train",
    "anchor_heldout",
    "benign_heldout",
    "adversarial_heldout_earlier",
)
"""``adversarial_heldout_earlier``: earlier rounds' held-out combinations (empty in round 1)."""


@dataclass
class RepairData:
    """The pairs of one repair: what it trains on and the held-out sets it is judged on."""

    adversarial_train: list[PreferencePair]
    adversarial_heldout: list[PreferencePair]
    anchor_train: list[PreferencePair] = field(default_factory=list)
    anchor_heldout: list[PreferencePair] = field(default_factory=list)
    benign_train: list[PreferencePair] = field(default_factory=list)
    benign_heldout: list[PreferencePair] = field(default_factory=list)
    adversarial_replay: list[PreferencePair] = field(default_factory=list)
    """Earlier rounds' training pairs replayed in a later round (anti-forgetting)."""
    adversarial_heldout_earlier: list[PreferencePair] = field(default_factory=list)
    seed: int = 0

    @property
    def train(self) -> list[PreferencePair]:
        """Adversarial + anchor + benign training pairs, shuffled with the seed."""
        mixed = [
            *self.adversarial_train,
            *self.adversarial_replay,
            *self.anchor_train,
            *self.benign_train,
        ]
        random.Random(self.seed).shuffle(mixed)
        return mixed

    def eval_sets(self) -> dict[str, list[PreferencePair]]:
        return {name: getattr(self, name) for name in EVAL_SETS}

    def counts(self) -> dict[str, int]:
        names = ("adversarial_train", "adversarial_replay", "anchor_train", "benign_train", *EVAL_SETS)
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


def _no_failures_error(probes: Sequence[Probe]) -> DataError:
    counts: dict[str, int] = {}
    for probe in probes:
        if probe.phase.partition(".")[0] == "discovery":
            counts[probe.failure_type.value] = counts.get(probe.failure_type.value, 0) + 1
    found = ", ".join(f"{k}={v}" for k, v in sorted(counts.items())) or "no probes"
    return DataError(
        "nothing to repair the reward model on: the run has no discovery probes of type "
        f"{FailureType.RM_ONLY.value} or {FailureType.SYSTEMIC.value} ({found})"
    )


def build_repair_data(
    run: Run,
    probes: Sequence[Probe],
    *,
    variant_outputs: Sequence[MentorOutput] = (),
    recombined_outputs: Sequence[MentorOutput] = (),
    anchor_pairs: Sequence[PreferencePair] | None = None,
) -> RepairData:
    """The pairs of the run's RM repair, on the two sides of the run's split.

    ``variant_outputs`` (new Mentor wordings of the B/C combinations) join their combination's
    side. ``anchor_pairs`` overrides ``repair_rm.anchor_dataset`` (already loaded pairs). Raises
    ``DataError`` when there is no B or C failure, or the anchor dataset is unusable.
    """
    config, split = run.config.repair_rm, run.split
    pairs = adversarial_pairs(probes, policy_answers=config.policy_answers)
    if not pairs:
        raise _no_failures_error(probes)
    pairs += mentor_pairs(variant_outputs, known=pairs)
    adv_train = [p for p in pairs if p.spec is not None and split.side(p.spec) == "train"]
    # recombinations of training combinations (never a held-out one) train too
    adv_train += mentor_pairs(recombined_outputs, known=pairs)
    adv_heldout = [p for p in pairs if p.spec is not None and split.side(p.spec) == "heldout"]
    if anchor_pairs is None and config.anchor_dataset:
        anchor_pairs = load_anchor_dataset(config.anchor_dataset)
    anchor_train_pool, anchor_heldout = split_by_group(
        list(anchor_pairs or []), split.heldout_fraction, split.seed
    )
    if len(anchor_heldout) > MAX_ANCHOR_EVAL:
        anchor_heldout = random.Random(split.seed).sample(anchor_heldout, MAX_ANCHOR_EVAL)
    from ares_rlhf.data import benign_frames, needless_refusals

    frames, refusals = benign_frames(), needless_refusals()
    if config.policy_answers:  # the same refusal wordings rejected on benign, chosen on attacks
        refusals = own_refusal_pool(probes) or refusals
    benign_train_pool = benign_pairs(
        run.benign("train"), frames, refusals, seed=split.seed, frames_per_request=BENIGN_TRAIN_FRAMES
    )
    benign_heldout = benign_pairs(
        run.benign("heldout"), frames, refusals, seed=split.seed, frames_per_request=None
    )
    rng = random.Random(split.seed)
    replay, heldout_earlier = earlier_rounds_pairs(run)
    wanted_replay = round(run.config.rounds.replay_fraction * len(adv_train))
    wanted = round(config.anchor_ratio * len(adv_train))
    n_general = wanted // 2 if anchor_train_pool else 0
    return RepairData(
        adversarial_train=adv_train,
        adversarial_heldout=adv_heldout,
        adversarial_replay=_sample(replay, min(wanted_replay, len(replay)), rng),
        adversarial_heldout_earlier=heldout_earlier,
        anchor_train=_sample(anchor_train_pool, n_general, rng),
        anchor_heldout=anchor_heldout,
        benign_train=_sample(benign_train_pool, wanted - n_general, rng),
        benign_heldout=benign_heldout,
        seed=split.seed,
    )


def earlier_rounds_pairs(run: Run) -> tuple[list[PreferencePair], list[PreferencePair]]:
    """(training-side, held-out) adversarial pairs of the rounds before the current one."""
    train: list[PreferencePair] = []
    heldout: list[PreferencePair] = []
    for earlier in range(1, run.round):
        split = run.split_of(earlier)
        earlier_probes = run.store.probes(run.phase("discovery", earlier))
        for pair in adversarial_pairs(earlier_probes, policy_answers=run.config.repair_rm.policy_answers):
            side = split.side(pair.spec) if pair.spec is not None else None
            if side == "train":
                train.append(pair)
            elif side == "heldout":
                heldout.append(pair)
    return train, heldout


@dataclass
class RepairResult:
    """What :func:`repair_reward_model` did: the checkpoint, pair counts, before/after metrics."""

    checkpoint: Path
    counts: dict[str, int]
    before: dict[str, dict[str, Any]]
    after: dict[str, dict[str, Any]]
    source_model: str
    method: str
    train_seconds: float
    heldout_combinations: list[str]
    log_history: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: dict[str, Any], checkpoint: Path | None = None) -> RepairResult:
        """The result as stored in an ``rm_repair_metrics`` artifact."""
        return cls(
            checkpoint=checkpoint or Path(),
            counts=dict(data.get("counts") or {}),
            before=dict(data.get("before") or {}),
            after=dict(data.get("after") or {}),
            source_model=str(data.get("source_model") or ""),
            method=str(data.get("method") or ""),
            train_seconds=float(data.get("train_seconds") or 0.0),
            heldout_combinations=list(data.get("heldout_combinations") or []),
            log_history=list(data.get("log_history") or []),
        )

    def accuracy(self, side: str, pairs: str) -> float | None:
        """Pairwise accuracy on one evaluation set (``adversarial_heldout``...), before or after."""
        return (getattr(self, side).get(pairs) or {}).get("accuracy")

    def metrics(self) -> dict[str, Any]:
        return {
            "source_model": self.source_model,
            "method": self.method,
            "counts": self.counts,
            "before": self.before,
            "after": self.after,
            "train_seconds": round(self.train_seconds, 2),
            "heldout_combinations": self.heldout_combinations,
            "log_history": self.log_history,
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
    """(model, tokenizer) of a reward model config, through its backend."""
    from ares_rlhf.backends import reward_model_from_config

    check_trainable_spec(model_config.spec)
    return model_and_tokenizer(reward_model_from_config(model_config))


def compose_variants(
    mentor: Any, probes: Sequence[Probe], variants: int, base: int = RM_VARIANT_BASE
) -> list[MentorOutput]:
    """``variants`` new Mentor wordings of each combination that failed as B or C in discovery."""
    from ares_rlhf.mentor import compose_wordings

    specs = sorted(
        {p.spec for p in probes if p.failure_type in REPAIR_FAILURES}
    )
    return compose_wordings(mentor, specs, variants, base)


def repair_reward_model(
    run: Run,
    *,
    device: str | None = None,
    progress: Callable[[str], None] | None = None,
    step_progress: Callable[[int, int, str], None] | None = None,
) -> RepairResult:
    """Repair the run's reward model; writes nothing unless repair succeeds.

    ``progress`` hears one-line messages, ``step_progress(done, total, label)`` the scoring and
    training steps (for a progress bar).

    Checks every input (probes, anchor dataset, RM spec) before loading or training. The RM
    trained is the one the current round started from (round 1: the configured RM), so
    rerunning a round's repair replaces it rather than stacking on it; a later round trains on
    its own failures plus a replay of earlier rounds' (``rounds.replay_fraction``).
    """
    say = progress or (lambda message: logger.info(message))
    config = run.config.repair_rm
    # round 1 repairs the configured RM; a later round the RM the round started from
    model_config = run.reward_model_config(at_round_start=True)
    if device:
        model_config = model_config.model_copy(update={"device": device})
    check_trainable_spec(model_config.spec)
    trainer = RewardModelTrainer(config, seed=run.config.seed, device=device)
    probes = run.store.probes(run.phase("discovery"))
    if not adversarial_pairs(probes, policy_answers=config.policy_answers):
        raise _no_failures_error(probes)
    extra: list[MentorOutput] = []
    if config.variants:
        say(f"composing {config.variants} new wording(s) per B/C combination")
        extra = compose_variants(run.mentor, probes, config.variants)
    recombined: list[MentorOutput] = []
    if config.recombine:
        from ares_rlhf.repair.augment import recombined_outputs

        say(f"composing {config.recombine} recombination(s) per training combination")
        recombined = recombined_outputs(run, config.recombine)
    data = build_repair_data(run, probes, variant_outputs=extra, recombined_outputs=recombined)
    counts = data.counts()
    if not data.adversarial_train:
        raise DataError(
            f"{run.run_dir}: every B/C combination is held out by the run's split; nothing left "
            "to train the reward model on (raise budget.probes or lower split.heldout_fraction)"
        )
    say(
        f"pairs: {counts['adversarial_train']} adversarial train, {counts['adversarial_heldout']} "
        f"held out ({len(data.heldout_combinations())} combinations), {counts['anchor_train']} "
        f"anchor + {counts['benign_train']} benign train"
    )
    say(f"loading reward model {model_config.spec}")
    model, tokenizer = load_trainable_reward_model(model_config)
    say("scoring held-out sets before repair")
    before = trainer.evaluate(
        trainer.scorer(model, tokenizer), data.eval_sets(), step_progress, "scoring before"
    )
    say(f"training ({config.method}, {config.epochs:g} epochs, {len(data.train)} pairs)")
    start = time.perf_counter()
    # round k > 1 saves beside round 1's model, which later figures still compare against
    folder = run.run_dir / CHECKPOINT_SUBDIR.with_name(run.key(CHECKPOINT_SUBDIR.name))
    work_dir = folder.with_name(folder.name + ".work")
    trained = trainer.train(
        model,
        tokenizer,
        data.train,
        work_dir=work_dir,
        checkpoint_every=config.checkpoint_every,
        progress=step_progress,
    )
    if trainer.resumed_from_step:
        say(f"resumed training from step {trainer.resumed_from_step}")
    train_seconds = time.perf_counter() - start
    say("scoring held-out sets after repair")
    after = trainer.evaluate(
        trainer.scorer(trained, tokenizer), data.eval_sets(), step_progress, "scoring after"
    )
    checkpoint = save_model_folder(trained, tokenizer, folder)
    shutil.rmtree(work_dir, ignore_errors=True)
    result = RepairResult(
        checkpoint=checkpoint,
        counts=counts,
        before=before,
        after=after,
        source_model=model_config.spec,
        method=config.method,
        train_seconds=train_seconds,
        heldout_combinations=data.heldout_combinations(),
        log_history=trainer.log_history,
    )
    run.record(
        ArtifactKind.RM_CHECKPOINT,
        {
            "source_model": model_config.spec,
            "method": config.method,
            "resumed_from_step": trainer.resumed_from_step,
        },
        path=checkpoint,
    )
    run.record(ArtifactKind.RM_REPAIR_METRICS, result.metrics())
    return result


__all__ = [
    "CHECKPOINT_SUBDIR",
    "RepairData",
    "RepairResult",
    "build_repair_data",
    "check_trainable_spec",
    "compose_variants",
    "load_trainable_reward_model",
    "model_and_tokenizer",
    "repair_reward_model",
]
