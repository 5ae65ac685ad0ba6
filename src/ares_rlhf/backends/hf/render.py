"""How conversations become text for models without (or beside) a chat template."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ares_rlhf.records import Message

PLAIN_STOP = "\nQuestion:"
"""Where a plain-format answer ends: the base model starting the next question."""


def render_plain(conversation: Sequence[Message]) -> str:
    """A Question/Answer prompt for base models without a chat template.

    A system message becomes a preamble, earlier turns become answered Q/A pairs and the prompt
    ends with ``Answer:`` so a base model continues with its answer.
    """
    parts: list[str] = []
    pending_question: str | None = None
    for message in conversation:
        role, content = message.get("role", "user"), message.get("content", "").strip()
        if role == "system":
            parts.append(content + "\n\n")
        elif role == "assistant":
            question = pending_question if pending_question is not None else ""
            parts.append(f"Question: {question}\nAnswer: {content}\n\n")
            pending_question = None
        else:
            pending_question = (
                content if pending_question is None else pending_question + "\n" + content
            )
    parts.append(f"Question: {pending_question or ''}\nAnswer:")
    return "".join(parts)


def render_pair_prompt(conversation: Sequence[Message]) -> str:
    """Conversation text for a text-pair encoder RM: the lone user message, or ``role: text`` lines."""
    if len(conversation) == 1 and conversation[0].get("role") == "user":
        return conversation[0].get("content", "")
    return "\n".join(f"{m.get('role', 'user')}: {m.get('content', '')}" for m in conversation)


def _has_chat_template(tokenizer: Any) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))
