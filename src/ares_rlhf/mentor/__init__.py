"""The Safety Mentor: writes adversarial prompts and malicious/safe response pairs per spec.

``template`` (:class:`~ares_rlhf.mentor.template.TemplateMentor`) composes them offline from the
catalog fragments; ``llm`` (:class:`~ares_rlhf.mentor.llm.LLMMentor`) asks any chat model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ares_rlhf.mentor.base import SafetyMentor, compose_wordings
from ares_rlhf.mentor.template import TemplateMentor

if TYPE_CHECKING:
    from ares_rlhf.config import MentorConfig, RunConfig
    from ares_rlhf.taxonomy import Catalog


def mentor_from_config(config: MentorConfig, catalog: Catalog, seed: int = 0) -> SafetyMentor:
    """Build the Mentor a ``MentorConfig`` describes (the llm Mentor loads its chat model here)."""
    from ares_rlhf.errors import ConfigError

    if config.kind == "template":
        return TemplateMentor(catalog, seed=seed)
    if config.model is None:
        raise ConfigError("mentor.kind is 'llm' but mentor.model is not set (give it a spec)")
    from ares_rlhf.backends import chat_model_from_config
    from ares_rlhf.mentor.llm import LLMMentor

    return LLMMentor.from_config(config, catalog, chat_model_from_config(config.model), seed=seed)


def run_mentor(config: RunConfig, seed: int | None = None) -> SafetyMentor:
    """The Mentor of a run config, over the run's catalog (``seed`` defaults to the run's)."""
    from ares_rlhf.taxonomy import load_catalog

    return mentor_from_config(
        config.mentor, load_catalog(config.catalog), config.seed if seed is None else seed
    )


__all__ = ["SafetyMentor", "TemplateMentor", "compose_wordings", "mentor_from_config", "run_mentor"]
