"""``dpo-rm`` preference pairs: sample answers, add the known answers, rank with the repair reward."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ares_rlhf.backends import SamplingParams
from ares_rlhf.records import Message
from ares_rlhf.repair.policy.prompts import RepairPrompt
from ares_rlhf.repair.policy.reward import RepairReward


@dataclass
class RankedPair:
    """One ``dpo-rm`` training pair: the best and the worst candidate by the repair reward."""

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
    chosen_is_own_refusal: bool = False
    """The chosen answer is the prompt's own-refusal candidate (``refusal_contrast``)."""


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
    progress: Callable[[int, int, str], None] | None = None,
) -> list[RankedPair]:
    """Sample answers with the current policy, add the known answers, keep best vs worst.

    Candidates per prompt: ``samples`` answers of the policy, the known-good answer (the
    Mentor's safe response, a benign example's helpful answer) and the prompt's ``known_bad``
    answer if set (the Mentor's malicious response, a needless refusal); the repair reward
    ranks them and the best and worst make the pair. A prompt with a ``refusal`` candidate (the
    policy's own words) adds it too and, when the reward ranks it above the worst but it is not
    the best, gives a second pair: that refusal over the worst. ``progress(done, total, label)``
    hears every batch of answers sampled.
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
            if progress is not None:
                done = sample * len(prompts) + start + len(chunk)
                progress(done, samples * len(prompts), "sampling answers")
    known: list[tuple[int | None, int | None, int | None]] = []  # known-good, known-bad, refusal
    for prompt, options in zip(prompts, candidates, strict=True):
        good = bad = refusal = None
        if prompt.safe:
            good = len(options)
            options.append(prompt.safe)
        if prompt.known_bad:
            bad = len(options)
            options.append(prompt.known_bad)
        if prompt.refusal:
            refusal = len(options)
            options.append(prompt.refusal)
        known.append((good, bad, refusal))
    conversations = [p.messages for p, opts in zip(prompts, candidates, strict=True) for _ in opts]
    flat = [answer for opts in candidates for answer in opts]
    adversarial = [p.kind != "benign" for p, opts in zip(prompts, candidates, strict=True) for _ in opts]
    scores = reward.score(conversations, flat, adversarial)
    pairs: list[RankedPair] = []
    cursor = 0
    for prompt, options, (good, bad, refusal) in zip(prompts, candidates, known, strict=True):
        own = scores[cursor : cursor + len(options)]
        cursor += len(options)
        best = max(range(len(options)), key=own.__getitem__)
        worst = min(range(len(options)), key=own.__getitem__)
        winners = [best] if refusal in (None, best) else [best, refusal]
        for chosen in winners:
            if own[chosen] - own[worst] <= min_margin:
                continue
            if options[chosen].strip() == options[worst].strip():
                continue
            pairs.append(
                RankedPair(
                    messages=prompt.messages,
                    chosen=options[chosen],
                    rejected=options[worst],
                    chosen_reward=own[chosen],
                    rejected_reward=own[worst],
                    kind=prompt.kind,
                    chosen_is_known_good=chosen == good,
                    rejected_is_known_bad=worst == bad,
                    chosen_is_own_refusal=chosen == refusal,
                )
            )
    return pairs
