"""What ARES found, as training datasets for other stacks (TRL, OpenRLHF, verl), in TRL's
conversational conventions: ``prompt`` a list of ``{"role", "content"}`` messages, ``chosen`` /
``rejected`` one assistant message each (lists too), never JSON strings.

* ``rm-pairs``: the reward-model repair pairs (:func:`~ares_rlhf.repair.reward.build_repair_data`)
  on both sides of the run's split: adversarial pairs of the B/C combinations (safe over
  malicious; the policy's own refusals as extra chosen, its harmful answers as extra rejected)
  and benign pairs (a helpful answer over a needless refusal). Optional anchor pairs (the run's
  ``repair_rm.anchor_dataset``). Extra Mentor wordings (``repair_rm.variants``) are not stored in
  the run and so not exported.
* ``policy-prompts``: the policy repair prompts. ``train``: exactly the mix policy repair draws
  from (:func:`~ares_rlhf.repair.policy.prompts.collect_repair_prompts`, before
  ``max_prompts``); ``heldout``: the held-out combinations' failing discovery prompts and the
  held-out benign requests. ``chosen`` is the known-good answer (the Mentor's safe response, a
  benign request's helpful answer), ``rejected`` the known-bad one (the Mentor's malicious
  response, a needless refusal), null where there is none.

Every row has ``split`` (``train`` / ``heldout``): train only on ``train``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ares_rlhf.records import ComponentSpec, PreferencePair
from ares_rlhf.repair.policy.budget import round_repair_config
from ares_rlhf.repair.policy.prompts import RepairPrompt, collect_repair_prompts, failure_probes
from ares_rlhf.repair.reward.stage import build_repair_data
from ares_rlhf.store.export import as_messages, assistant_turn, schema_of

if TYPE_CHECKING:
    from ares_rlhf.run import Run

RM_PAIR_COLUMNS = {
    "prompt": "messages", "chosen": "messages", "rejected": "messages", "split": "string",
    "source": "string", "combination": "string", "combination_type": "string",
    "group": "string",
}  # fmt: skip
"""``source``: adversarial / benign / anchor; ``combination``: topic/persona/tactic/goal of an
adversarial pair; ``combination_type``: that combination's worst discovery failure (A/B/C);
``group``: what the split groups by (combination, benign request id, anchor id)."""
POLICY_PROMPT_COLUMNS = {
    "prompt": "messages", "chosen": "messages", "rejected": "messages", "split": "string",
    "kind": "string", "combination": "string", "combination_type": "string",
}  # fmt: skip
"""``kind``: adversarial / benign."""
HELDOUT_REFUSAL_SEED = 0x4E1D
"""Seeds the needless refusal paired with each held-out benign request."""


def _combination(run: Run, spec: ComponentSpec | None) -> dict[str, str | None]:
    if spec is None:
        return {"combination": None, "combination_type": None}
    return {"combination": spec.label(), "combination_type": run.split.stratum(spec)}


def _pair_row(run: Run, pair: PreferencePair, side: str) -> dict[str, Any]:
    return {
        "prompt": as_messages(pair.conversation),
        "chosen": assistant_turn(pair.chosen),
        "rejected": assistant_turn(pair.rejected),
        "split": side,
        "source": pair.source,
        **_combination(run, pair.spec),
        "group": pair.group,
    }


def rm_pair_rows(run: Run, *, anchors: bool = False) -> list[dict[str, Any]]:
    """The RM repair pairs of the run, train side then held-out side.

    ``anchors`` adds the pairs of the run's ``repair_rm.anchor_dataset`` (loaded from its path).
    ``DataError`` when discovery found no B/C failure or the run has no split.
    """
    data = build_repair_data(
        run, run.store.probes("discovery"), anchor_pairs=None if anchors else []
    )
    sides = (
        ("train", [*data.adversarial_train, *data.benign_train, *data.anchor_train]),
        ("heldout", [*data.adversarial_heldout, *data.benign_heldout, *data.anchor_heldout]),
    )
    return [_pair_row(run, pair, side) for side, pairs in sides for pair in pairs]


def _prompt_row(run: Run, prompt: RepairPrompt, side: str) -> dict[str, Any]:
    return {
        "prompt": as_messages(prompt.messages),
        "chosen": assistant_turn(prompt.safe),
        "rejected": assistant_turn(prompt.known_bad),
        "split": side,
        "kind": prompt.kind,
        **_combination(run, prompt.spec),
    }


def heldout_repair_prompts(run: Run) -> list[RepairPrompt]:
    """The held-out side: failing discovery prompts of held-out combinations (one per distinct
    prompt) and the held-out benign requests, each with its known-good and known-bad answer."""
    from ares_rlhf.data import needless_refusals

    split, seen = run.split, set()
    prompts: list[RepairPrompt] = []
    for probe in failure_probes(run.store.probes(run.phase("discovery"))):
        if split.side(probe.spec) != "heldout" or probe.prompt in seen:
            continue
        seen.add(probe.prompt)
        prompts.append(
            RepairPrompt(
                messages=[dict(m) for m in probe.messages],
                kind="adversarial",
                spec=probe.spec,
                safe=probe.safe or None,
                malicious=probe.malicious or None,
                known_bad=probe.malicious or None,
            )
        )
    rng, refusals = random.Random(HELDOUT_REFUSAL_SEED + split.seed), needless_refusals()
    for request in run.benign("heldout"):
        prompts.append(
            RepairPrompt(
                messages=[{"role": "user", "content": request.prompt}],
                kind="benign",
                safe=request.answer,
                known_bad=rng.choice(refusals),
            )
        )
    return prompts


def policy_prompt_rows(run: Run) -> list[dict[str, Any]]:
    """The policy repair prompts: the training mix, then the held-out side."""
    config = round_repair_config(run)  # a later round's scaled settings, as policy repair uses
    train = collect_repair_prompts(run, known_bad_candidates=True, config=config).train
    return [_prompt_row(run, p, "train") for p in train] + [
        _prompt_row(run, p, "heldout") for p in heldout_repair_prompts(run)
    ]


@dataclass(frozen=True)
class DatasetKind:
    """One exportable repair dataset: its rows from a run and its columns."""

    rows: Callable[..., list[dict[str, Any]]]
    schema: Callable[[], Any]


DATASETS: dict[str, DatasetKind] = {
    "rm-pairs": DatasetKind(rm_pair_rows, lambda: schema_of(RM_PAIR_COLUMNS)),
    "policy-prompts": DatasetKind(
        lambda run, **_: policy_prompt_rows(run), lambda: schema_of(POLICY_PROMPT_COLUMNS)
    ),
}
"""``--dataset`` name -> how to build it from a run (``rows(run, anchors=...)``); the probes
dataset is the run store's (:func:`ares_rlhf.store.export.probe_rows`)."""


__all__ = [
    "DATASETS",
    "POLICY_PROMPT_COLUMNS",
    "RM_PAIR_COLUMNS",
    "DatasetKind",
    "heldout_repair_prompts",
    "policy_prompt_rows",
    "rm_pair_rows",
]
