"""The run: the one object every stage receives.

A :class:`Run` is opened once per process from a run folder (or created for a new run). It holds
the run store and the run config, parsed once, and gives every stage what it needs:

* the **split** (fixed once after discovery, then only read: :meth:`Run.fix_split`, :attr:`Run.split`);
* the **current models**: the original policy / RM of the config, or the repaired checkpoints the
  run recorded (:meth:`Run.policy_config`, :meth:`Run.reward_model_config`). A run that records a
  repaired model it cannot find is an error, never a silent fall-back to the original;
* the run's **catalog, Mentor and judge**, built on first use and cached;
* **typed artifacts** (:meth:`Run.record`, :meth:`Run.latest`). Paths are stored relative to the run
  folder, so a run folder can be moved or copied and still points at its own checkpoints.

Stages never re-parse the config or recover state from strings; they read it from here.
"""

from __future__ import annotations

import time
from dataclasses import replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ares_rlhf.config import ModelConfig, PolicyConfig, RunConfig, config_to_yaml, parse_config
from ares_rlhf.errors import ConfigError, DataError
from ares_rlhf.records import Artifact, ArtifactKind, BenignRequest, in_round
from ares_rlhf.split import SPLIT_STATE_KEY, Split, compute_split
from ares_rlhf.store.sqlite import RunStore

if TYPE_CHECKING:
    from ares_rlhf.judges.base import HarmJudge
    from ares_rlhf.mentor.base import SafetyMentor
    from ares_rlhf.taxonomy import Catalog

CONFIG_FILE = "config.yaml"
ROUND_STATE_KEY = "round"
"""Run-store state: the round the run is in (1 unless ``rounds.count`` > 1)."""
REPAIRED_MODELS = {
    "policy": ArtifactKind.POLICY_CHECKPOINT,
    "reward_model": ArtifactKind.RM_CHECKPOINT,
}


def new_run_dir(output_dir: Path, name: str) -> Path:
    """``<output_dir>/<name>-<UTC timestamp>`` (a numeric suffix keeps it unique)."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    candidate = Path(output_dir) / f"{name}-{stamp}"
    suffix = 1
    while candidate.exists():
        suffix += 1
        candidate = Path(output_dir) / f"{name}-{stamp}-{suffix}"
    return candidate


class Run:
    """A run folder opened for the stages: store + parsed config + split + models + Mentor."""

    def __init__(self, store: RunStore | None, config: RunConfig) -> None:
        self.store = store  # type: ignore[assignment]  # None only for a detached run
        self.config = config
        self._owned: list[Any] = []
        self.round = int(store.get_state(ROUND_STATE_KEY, 1)) if store is not None else 1
        """The round the stages work in: its probes, split and state are kept apart."""

    @classmethod
    def detached(cls, config: RunConfig) -> Run:
        """A run without a folder yet: builds (and so checks) what a config names before the
        run folder is made. Its models are the config's originals; it records nothing."""
        return cls(None, config)

    @classmethod
    def from_store(cls, store: RunStore) -> Run:
        """A run over an already opened store (its stored config parsed once)."""
        return cls(store, parse_config(store.config(), source=f"{store.run_dir} (stored config)"))

    # -- opening -----------------------------------------------------------------------------
    @classmethod
    def create(cls, config: RunConfig, run_dir: str | Path | None = None) -> Run:
        """A new run folder (default ``OUTPUT_DIR/NAME-<timestamp>``) holding ``config``.

        The creating process holds the run lock until :meth:`close`.
        """
        folder = Path(run_dir) if run_dir else new_run_dir(config.output_dir, config.name)
        store = RunStore.create(folder, config.model_dump(mode="json"))
        (folder / CONFIG_FILE).write_text(config_to_yaml(config), encoding="utf-8")
        return cls(store, config)

    @classmethod
    def open(cls, run_dir: str | Path, *, writer: bool = False) -> Run:
        """Reopen a run folder; ``writer=True`` takes the run lock (a second writer is refused)."""
        store = RunStore.open(run_dir, writer=writer)
        try:
            return cls.from_store(store)
        except BaseException:
            store.close()
            raise

    @property
    def run_dir(self) -> Path:
        return Path(self.store.run_dir)

    def close(self) -> None:
        """Close the models this run built (Mentor, judge) and the store (releasing the lock)."""
        for model in self._owned:
            model.close()
        self._owned = []
        if self.store is not None:
            self.store.close()

    def __enter__(self) -> Run:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- configuration ---------------------------------------------------------------------------
    def override(self, section: str, updates: dict[str, Any]) -> None:
        """Apply command-line overrides to one config section for this process (not stored).

        ``None`` values mean "not given". The result is validated like a config file.
        """
        given = {k: v for k, v in updates.items() if v is not None}
        if not given:
            return
        current = getattr(self.config, section).model_dump()
        current.update(given)
        data = self.config.model_dump(mode="json")
        data[section] = current
        self.config = parse_config(data, source=f"{section} overrides")

    # -- rounds ----------------------------------------------------------------------------------
    def phase(self, name: str, round_: int | None = None) -> str:
        """The probe phase ``name`` of a round (default: the current one)."""
        return in_round(name, self.round if round_ is None else round_)

    key = phase
    """The state key ``name`` of a round (the same naming as phases)."""

    def start_round(self, round_: int) -> None:
        """Make ``round_`` the current round (stored, so a resumed run continues in it)."""
        if round_ < 1:
            raise ConfigError(f"rounds count from 1, got {round_}")
        self.round = round_
        self.store.set_state(ROUND_STATE_KEY, round_)

    # -- artifacts -------------------------------------------------------------------------------
    def record(
        self, kind: ArtifactKind, data: dict[str, Any] | None = None, path: str | Path | None = None
    ) -> Artifact:
        """Store an artifact; ``path`` (inside the run folder) is stored relative to it."""
        stored = None
        if path is not None:
            stored = str(self.relative(path))
        payload = {**dict(data or {}), "round": self.round}
        return self.store.add_artifact(Artifact(kind=kind, path=stored, data=payload))

    def latest(self, kind: ArtifactKind, *, before_round: int | None = None) -> Artifact | None:
        """The newest artifact of ``kind`` (recorded in a round before ``before_round``, if given)."""
        if self.store is None:
            return None
        if before_round is None:
            return self.store.latest_artifact(kind)
        found = [a for a in self.store.artifacts(kind) if int(a.data.get("round", 1)) < before_round]
        return found[-1] if found else None

    def latest_in_round(self, kind: ArtifactKind, round_: int | None = None) -> Artifact | None:
        """The newest artifact of ``kind`` recorded in a round (default: the current one)."""
        if self.store is None:
            return None
        wanted = self.round if round_ is None else round_
        found = [a for a in self.store.artifacts(kind) if int(a.data.get("round", 1)) == wanted]
        return found[-1] if found else None

    def relative(self, path: str | Path) -> Path:
        """``path`` relative to the run folder (it must lie inside it)."""
        path = Path(path)
        absolute = path if path.is_absolute() else (self.run_dir / path)
        try:
            return absolute.resolve().relative_to(self.run_dir.resolve())
        except ValueError:
            raise DataError(
                f"{path}: outside the run folder {self.run_dir}; a run stores only its own files"
            ) from None

    def artifact_path(self, artifact: Artifact) -> Path:
        """The absolute path an artifact records (relative paths resolve in this run folder).

        Raises ``DataError`` when the path is missing or lies outside the run folder (an
        absolute path from another folder: a copied run must not use the original's files).
        """
        if not artifact.path:
            raise DataError(f"{self.run_dir}: the {artifact.kind.value} artifact records no path")
        path = Path(artifact.path)
        if path.is_absolute():
            path = self.run_dir / self.relative(path)
        else:
            path = self.run_dir / path
        if not path.exists():
            raise DataError(
                f"{self.run_dir}: the run records a {artifact.kind.value} at {artifact.path} but "
                "it is missing; rerun the stage that writes it"
            )
        return path

    # -- models ----------------------------------------------------------------------------------
    def _current(self, part: str, repaired: bool, before_round: int | None = None) -> Any:
        original = getattr(self.config, part)
        if not repaired:
            return original
        artifact = self.latest(REPAIRED_MODELS[part], before_round=before_round)
        if artifact is None:
            return original
        folder = self.artifact_path(artifact)
        # backend-specific options of another scheme (e.g. embedded:) do not apply to hf:
        options = original.options if original.spec.partition(":")[0] == "hf" else {}
        return original.model_copy(update={"spec": f"hf:{folder}", "options": dict(options)})

    def policy_config(self, *, repaired: bool = True, at_round_start: bool = False) -> PolicyConfig:
        """The policy: the run's latest repaired checkpoint (if recorded and ``repaired``), else
        the original; ``at_round_start``: the policy the current round started from."""
        return self._current("policy", repaired, self.round if at_round_start else None)

    def reward_model_config(
        self, *, repaired: bool = True, at_round_start: bool = False
    ) -> ModelConfig:
        """The reward model, like :meth:`policy_config`."""
        return self._current("reward_model", repaired, self.round if at_round_start else None)

    def has_repaired(self, part: str) -> bool:
        return self.latest(REPAIRED_MODELS[part]) is not None

    # -- shared components -----------------------------------------------------------------------
    @cached_property
    def catalog(self) -> Catalog:
        from ares_rlhf.taxonomy import load_catalog

        return load_catalog(self.config.catalog)

    @cached_property
    def mentor(self) -> SafetyMentor:
        """The run's Safety Mentor over its catalog (an llm Mentor's model is closed with the run)."""
        from ares_rlhf.mentor import mentor_from_config

        mentor = mentor_from_config(self.config.mentor, self.catalog, seed=self.config.seed)
        if getattr(mentor, "model", None) is not None:
            self._owned.append(mentor.model)
        return mentor

    @cached_property
    def judge(self) -> HarmJudge:
        """The run's harm judge (a grader / guard model is closed with the run)."""
        from ares_rlhf.judges import judge_from_config

        judge = judge_from_config(self.config.judge)
        if getattr(judge, "model", None) is not None:
            self._owned.append(judge.model)
        return judge

    # -- the split -------------------------------------------------------------------------------
    @cached_property
    def benign_requests(self) -> list[BenignRequest]:
        from ares_rlhf.data import benign_requests

        return benign_requests()

    def fix_split(self) -> Split:
        """The round's split, computed from its discovery's failures and stored on first call.

        Benign requests are split once per run (round 1's split), so a benign request held out in
        one round is never trained on in another.
        """
        key = self.key(SPLIT_STATE_KEY)
        stored = self.store.get_state(key)
        if stored is not None:
            return Split.from_dict(stored)
        split = compute_split(
            self.store.iter_probes(self.phase("discovery")),
            [b.id for b in self.benign_requests],
            heldout_fraction=self.config.split.heldout_fraction,
            seed=self.config.seed + 1009 * (self.round - 1),
            stratify=self.config.split.stratify,
        )
        if self.round > 1:
            first = self.split_of(1)
            split = replace(
                split, benign_train=first.benign_train, benign_heldout=first.benign_heldout
            )
        self.store.set_state(key, split.as_dict())
        return split

    def split_of(self, round_: int) -> Split:
        """The stored split of one round; ``DataError`` when its discovery has not fixed one."""
        stored = self.store.get_state(self.key(SPLIT_STATE_KEY, round_))
        if stored is None:
            raise DataError(
                f"{self.run_dir}: round {round_} has no held-out split yet (run discovery first; "
                "the split is fixed right after it)"
            )
        return Split.from_dict(stored)

    @property
    def split(self) -> Split:
        """The current round's split; ``DataError`` when its discovery has not fixed one yet."""
        return self.split_of(self.round)

    def benign(self, side: str) -> list[BenignRequest]:
        """The built-in benign requests on one side of the split (``train`` or ``heldout``)."""
        if side not in ("train", "heldout"):
            raise ConfigError(f"benign side must be train or heldout, got {side!r}")
        ids = set(self.split.benign_train if side == "train" else self.split.benign_heldout)
        return [b for b in self.benign_requests if b.id in ids]


__all__ = ["CONFIG_FILE", "Run", "new_run_dir"]
