"""Answering Mentor outputs turn by turn: one user turn for single-turn outputs, the whole plan
for multi-turn ones.

The policy answers every conversation's turn ``t`` in one batched pass (chunks of
``batch_size``), each conversation holding the policy's own earlier answers; then the Mentor
gives each multi-turn conversation its next user turn (its plan, or a turn adapted to the
answer: :meth:`~ares_rlhf.mentor.base.SafetyMentor.next_turns`) or ends it. Without a Mentor
the plans are replayed exactly (verification: each system answers the same user turns).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ares_rlhf.backends.base import ChatModel, SamplingParams
from ares_rlhf.errors import DataError
from ares_rlhf.mentor.base import SafetyMentor, planned_next_turn
from ares_rlhf.records import MentorOutput, Message

MAX_TURNS_GUARD = 32
"""Turns after which a conversation is ended whatever its Mentor says (a Mentor bug guard)."""


@dataclass
class Dialogue:
    """One output's conversation as the policy answered it."""

    output: MentorOutput
    messages: list[Message]
    """The conversation so far, ending with the policy's latest answer."""
    turns: list[str] = field(default_factory=list)
    """The user turns sent (multi-turn outputs)."""
    answers: list[str] = field(default_factory=list)
    """The policy's answer to each turn."""

    @property
    def multi_turn(self) -> bool:
        return bool(self.output.plan)

    @property
    def context(self) -> list[Message]:
        """The conversation the final answer was given in (up to the final user turn)."""
        return [dict(m) for m in self.messages[:-1]]

    @property
    def final_answer(self) -> str:
        return self.answers[-1]


def _answer(
    policy: ChatModel,
    conversations: Sequence[list[Message]],
    sampling: SamplingParams,
    batch_size: int,
) -> list[str]:
    answers: list[str] = []
    for start in range(0, len(conversations), batch_size):
        answers.extend(policy.generate(list(conversations[start : start + batch_size]), sampling))
    if len(answers) != len(conversations):
        raise DataError(
            f"policy {policy.model_id!r} returned {len(answers)} answers for "
            f"{len(conversations)} prompts"
        )
    return [str(a) for a in answers]


def answer_turns(
    outputs: Sequence[MentorOutput],
    *,
    policy: ChatModel,
    sampling: SamplingParams,
    batch_size: int = 8,
    mentor: SafetyMentor | None = None,
) -> list[Dialogue]:
    """Every output's conversation answered turn by turn (see the module docstring)."""
    dialogues = []
    for output in outputs:
        first = [dict(m) for m in output.messages]
        sent = [output.plan[0]] if output.plan else []
        dialogues.append(Dialogue(output, first, sent))
    active = list(range(len(dialogues)))
    for round_ in range(MAX_TURNS_GUARD):
        if not active:
            break
        answers = _answer(policy, [dialogues[i].messages for i in active], sampling, batch_size)
        for i, answer in zip(active, answers, strict=True):
            dialogues[i].answers.append(answer)
            dialogues[i].messages.append({"role": "assistant", "content": answer})
        going = [i for i in active if dialogues[i].multi_turn]
        if not going or round_ == MAX_TURNS_GUARD - 1:
            break
        if mentor is None:
            nexts = [planned_next_turn(dialogues[i].output, dialogues[i].messages) for i in going]
        else:
            nexts = mentor.next_turns(
                [dialogues[i].output for i in going], [list(dialogues[i].messages) for i in going]
            )
            if len(nexts) != len(going):
                raise DataError(
                    f"Mentor {mentor.mentor_id!r} gave {len(nexts)} next turns for "
                    f"{len(going)} conversations"
                )
        active = []
        for i, turn in zip(going, nexts, strict=True):
            if turn is None or not str(turn).strip():
                continue
            dialogues[i].turns.append(str(turn))
            dialogues[i].messages.append({"role": "user", "content": str(turn)})
            active.append(i)
    return dialogues


__all__ = ["Dialogue", "answer_turns"]
