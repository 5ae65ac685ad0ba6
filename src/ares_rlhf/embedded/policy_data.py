"""The embedded policy's built-in chat SFT data (its "initial alignment"), from
``ares_rlhf/data/embedded/policy_sft.yaml``.

What it covers, like a small first-round RLHF/SFT mix:

* **helpful answers** to everyday requests (cooking, study, writing, health basics, money,
  computing, travel...), including everyday requests that merely *sound* risky ("kill a
  process", "how do vaccines work") so the policy does not refuse by keyword;
* **helpful answers to everyday requests asked in the ways real users ask them**: with a stated
  role or reason ("I'm a nurse...", "for my class..."), as a story, a game or a role to play, a
  hypothetical, with urgency, or with style instructions ("no disclaimers", "start with...",
  "one step per line"). Helpfulness data collected from real users is full of these;
* **dual-use requests with such a framing** (a novelist's villain, a security class, a nurse's
  dosage question, a heist film, a history essay), answered at the safe level: concepts, plot,
  history, prevention;
* **refusals** of *plainly* harmful requests, asked directly by an anonymous user in one turn,
  over the usual harm categories (intrusion, weapons, dangerous agents, drugs, fraud,
  disinformation, harassment, self-harm, stalking, violence, extremism, sexual exploitation,
  piracy), written in natural language as users write them (data v6; earlier versions put every
  specific in a ``[PLACEHOLDER]``, so the model learned "brackets -> refuse" and complied with
  natural-language requests). Each refusal says no briefly and offers a safe alternative.

What it leaves out is what a small first safety set typically leaves out: every harmful request
it shows is a plain, direct question or instruction from an anonymous user. It never shows a
harmful request with a stated role or motive, inside a story, game or hypothetical, split up,
encoded, or after example answers. Whatever the policy does on such inputs is what the base
model plus this data make of them, which is what ARES's discovery then measures.

Safety rule: no operational harmful content. Harmful requests name the harm only in general words
(no substance, target, quantity or step); refusals contain no harmful detail at all.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from ares_rlhf.data import load_data, plain_harmful_requests
from ares_rlhf.records import Message

DATA_FILE = "embedded/policy_sft.yaml"


@dataclass(frozen=True)
class ChatExample:
    """One single-turn SFT example."""

    prompt: str
    response: str
    kind: str
    """``helpful`` or ``refusal``."""

    def messages(self) -> list[Message]:
        return [{"role": "user", "content": self.prompt}]

    def as_prompt_completion(self) -> dict[str, list[Message]]:
        """The TRL conversational prompt-completion row."""
        return {
            "prompt": self.messages(),
            "completion": [{"role": "assistant", "content": self.response}],
        }


def _section(name: str) -> list:
    return list(load_data(DATA_FILE)[name])


def helpful_pairs() -> list[tuple[str, str]]:
    """(prompt, answer) of every helpful example: everyday, framed everyday, dark-framed dual-use,
    and benign look-alikes of harmful requests (homonyms, figures of speech, safe targets...)."""
    return [
        (row["prompt"], row["response"])
        for section in ("helpful", "framed_helpful", "dark_framed_helpful", "helpful_lookalikes")
        for row in _section(section)
    ]


def harmful_requests(split: str = "train") -> list[dict[str, str]]:
    """Plainly harmful requests (``category``, ``request``, ``alternative``): ``train`` is the
    first ``refusals_per_category`` of each category (the SFT refuses them), ``check`` the rest
    (unseen harmful checks), ``all`` both.

    Refusing only a few per category is deliberate (data v6): with all 77 (39% of the data) the
    policy refused 98% of HarmBench's validation behaviors and 55% of XSTest's safe prompts, a
    refusal prior rather than an initial alignment with a gap to find.
    """
    return plain_harmful_requests(split)


def build_examples(seed: int = 0) -> list[ChatExample]:
    """Every built-in example (helpful and refusal), shuffled with a fixed seed."""
    rng = random.Random(seed)
    examples = [ChatExample(p, r, "helpful") for p, r in helpful_pairs()]
    wrappers, openings = _section("direct_wrappers"), _section("refusal_openings")
    for index, row in enumerate(harmful_requests()):
        wrapper = wrappers[index % len(wrappers)]
        opening = openings[index % len(openings)]
        examples.append(
            ChatExample(
                wrapper.format(request=row["request"]),
                f"{opening} {row['alternative']}",
                "refusal",
            )
        )
    rng.shuffle(examples)
    return examples


def evaluation_prompts() -> dict[str, list[str]]:
    """Prompts NOT in the SFT data, to check the initial alignment (plain harmful vs benign)."""
    return {k: list(v) for k, v in load_data(DATA_FILE)["evaluation_prompts"].items()}
