"""``embedded:`` backend: the built-in miniature RLHF system, built offline on first use.

* ``embedded:policy``: Gemma 3 270M base + a short LoRA SFT alignment
  (:func:`ares_rlhf.embedded.policy.build_initial_policy`), served as an ``HFChatModel``;
* ``embedded:reward-model``: a MiniLM reward model trained on built-in preference data
  (:func:`ares_rlhf.embedded.reward_model.build_initial_reward_model`), served as an
  ``HFRewardModel``.

Options: ``quick`` (bool: the smaller CI build, cached under its own key) and ``cache_dir``
(default ``$ARES_CACHE`` or ``~/.cache/ares-rlhf``); the common options (device, dtype,
chat_format, max_length...) go to the HF backend.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ares_rlhf.backends.base import (
    ChatModel,
    RewardModel,
    create_chat_model,
    create_reward_model,
    register_chat,
    register_reward,
)
from ares_rlhf.errors import BackendError

POLICY_TARGET = "policy"
REWARD_TARGET = "reward-model"


def policy_folder(*, quick: bool = False, cache_dir: str | Path | None = None) -> Path:
    """Folder of the initial embedded policy (built on first use)."""
    from ares_rlhf.embedded.policy import build_initial_policy

    return build_initial_policy(cache_dir, quick=bool(quick))


def reward_model_folder(*, quick: bool = False, cache_dir: str | Path | None = None) -> Path:
    """Folder of the initial embedded reward model (built on first use)."""
    try:
        from ares_rlhf.embedded.reward_model import build_initial_reward_model
    except ImportError as error:
        raise BackendError(
            f"embedded:{REWARD_TARGET}: the embedded reward-model builder is not available ({error})"
        ) from None
    return build_initial_reward_model(cache_dir, quick=bool(quick))


def _check(target: str, expected: str, other: str, what: str) -> None:
    if target == expected:
        return
    hint = (
        f" ('embedded:{other}' is a {'reward' if what == 'chat' else 'chat'} model)"
        if target == other
        else ""
    )
    raise BackendError(
        f"embedded:{target}: no such embedded {what} model; use embedded:{expected}{hint}"
    )


@register_chat("embedded")
def create_embedded_chat(
    target: str, *, quick: bool = False, cache_dir: str | None = None, **options: Any
) -> ChatModel:
    _check(target, POLICY_TARGET, REWARD_TARGET, "chat")
    folder = policy_folder(quick=quick, cache_dir=cache_dir)
    model = create_chat_model(f"hf:{folder}", **options)
    model.model_id = f"embedded:{target}{'-quick' if quick else ''}"
    return model


@register_reward("embedded")
def create_embedded_reward(
    target: str, *, quick: bool = False, cache_dir: str | None = None, **options: Any
) -> RewardModel:
    _check(target, REWARD_TARGET, POLICY_TARGET, "reward")
    folder = reward_model_folder(quick=quick, cache_dir=cache_dir)
    model = create_reward_model(f"hf:{folder}", **options)
    model.model_id = f"embedded:{target}{'-quick' if quick else ''}"
    return model
