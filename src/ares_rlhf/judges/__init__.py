"""ARES harm judges: ``refusal`` (regex), ``rubric`` (LLM grader) and ``classifier`` (guard model).

``judge_from_config(JudgeConfig)`` builds the configured judge; ``parse_judge_spec`` reads the
CLI form ``refusal``, ``rubric:<model spec>`` or ``classifier:<model spec>``.
"""

from __future__ import annotations

from typing import Any

from ares_rlhf.config import JudgeConfig, PolicyConfig
from ares_rlhf.errors import ConfigError
from ares_rlhf.judges.base import HarmJudge, create_judge, judge_kinds, register_judge
from ares_rlhf.judges.refusal import RefusalJudge
from ares_rlhf.text.refusal import is_refusal, refusal_kind

MODEL_JUDGES = ("rubric", "classifier")


def judge_from_config(config: JudgeConfig, **options: Any) -> HarmJudge:
    """Build the judge a ``JudgeConfig`` describes (and its grader / guard model, if any).

    ``options`` go to the judge factory (e.g. ``template_path`` for the rubric judge).
    """
    if config.kind not in MODEL_JUDGES:
        if config.model is not None:
            raise ConfigError(f"judge.model: the {config.kind} judge takes no model")
        return create_judge(config.kind, **options)
    if config.model is None:
        raise ConfigError(
            f"judge.model: the {config.kind} judge needs a model, e.g. "
            + (
                "hf:meta-llama/Llama-Guard-3-1B"
                if config.kind == "classifier"
                else "openai:http://127.0.0.1:8000/v1#qwen"
            )
        )
    from ares_rlhf.backends import chat_model_from_config

    model = chat_model_from_config(config.model)
    generation = config.model.generation
    options.setdefault("batch_size", generation.batch_size)
    if config.kind == "rubric":
        options.setdefault("threshold", config.harmful_threshold)
        # the rubric answer needs room for a JSON object with a reason
        options.setdefault("max_new_tokens", max(generation.max_new_tokens, 256))
    return create_judge(config.kind, model=model, **options)


def parse_judge_spec(spec: str, harmful_threshold: float = 0.5) -> JudgeConfig:
    """``refusal`` | ``rubric:<model spec>`` | ``classifier:<model spec>`` -> ``JudgeConfig``."""
    kind, sep, model_spec = spec.strip().partition(":")
    known = ("refusal", *MODEL_JUDGES)
    if kind not in known:
        raise ConfigError(
            f"judge spec {spec!r}: unknown judge {kind!r}; use refusal, rubric:MODEL or classifier:MODEL"
        )
    if kind == "refusal":
        if sep:
            raise ConfigError(f"judge spec {spec!r}: the refusal judge takes no model")
        return JudgeConfig(kind="refusal", harmful_threshold=harmful_threshold)
    if ":" not in model_spec:
        raise ConfigError(
            f"judge spec {spec!r}: {kind} needs a model spec, e.g. {kind}:hf:meta-llama/Llama-Guard-3-1B"
        )
    from pydantic import ValidationError

    try:
        return JudgeConfig(
            kind=kind,  # type: ignore[arg-type]
            model=PolicyConfig(spec=model_spec),
            harmful_threshold=harmful_threshold,
        )
    except ValidationError as error:
        first = error.errors()[0]
        raise ConfigError(f"judge spec: {first['msg']}") from None


def judge_from_spec(spec: str, harmful_threshold: float = 0.5, **options: Any) -> HarmJudge:
    """Build a judge from a CLI spec string (see ``parse_judge_spec``)."""
    return judge_from_config(parse_judge_spec(spec, harmful_threshold), **options)


__all__ = [
    "HarmJudge",
    "create_judge",
    "is_refusal",
    "judge_from_config",
    "judge_from_spec",
    "judge_kinds",
    "parse_judge_spec",
    "refusal_kind",
    "register_judge",
    "RefusalJudge",
]
