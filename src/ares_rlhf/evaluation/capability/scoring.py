"""Batched log-likelihood of token continuations with a local causal LM (torch, lazily).

:class:`ContinuationScorer` answers lm-eval's ``loglikelihood`` requests once they are
tokenized: for each ``(context_ids, continuation_ids)`` pair, the summed log-probability of the
continuation and whether greedy decoding would produce it. It does only the work the answer
needs:

* identical model inputs are run once (multiple-choice answers of one token, as in MMLU and
  BoolQ, share one row: the context);
* logits are computed only at the positions that score a continuation token (through the
  model's ``logits_to_keep`` boolean mask), never over the whole sequence x vocabulary;
* rows are sorted by length and right-padded into batches (no attention mask is needed: padding
  after a sequence never influences it under causal attention);
* rows sharing a long token prefix (the few-shot examples and question of one item, scored
  against each answer) run the prefix once and the answers on a copy of its KV cache.

Inputs longer than ``max_length + 1`` tokens are cut from the left, as lm-eval's ``hf`` model
does.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ares_rlhf.errors import BackendError

Pair = tuple[Sequence[int], Sequence[int]]


@dataclass
class _Row:
    tokens: tuple[int, ...]
    keep: int = 0
    """How many trailing positions of ``tokens`` need logits."""
    requests: list[int] = field(default_factory=list)


@contextmanager
def _inference(model: Any):
    import torch

    was_training = bool(getattr(model, "training", False))
    if was_training:
        model.eval()
    try:
        with torch.inference_mode():
            yield
    finally:
        if was_training:
            model.train()


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


class ContinuationScorer:
    """Scores token continuations with ``model`` (a transformers causal LM).

    ``batch_size`` rows go through the model at once; ``share_prefix_min`` is the shortest
    common prefix (in tokens) worth running once for several rows (``0`` turns sharing off).
    """

    def __init__(
        self,
        model: Any,
        *,
        pad_id: int,
        max_length: int,
        batch_size: int = 8,
        share_prefix_min: int = 96,
    ) -> None:
        self.model = model
        self.pad_id = int(pad_id)
        self.max_length = int(max_length)
        self.batch_size = max(1, int(batch_size))
        self.share_prefix_min = int(share_prefix_min)
        self.truncated = 0
        """How many inputs were cut from the left to fit ``max_length``."""
        base = model.get_base_model() if hasattr(model, "get_base_model") else model  # PEFT
        parameters = inspect.signature(base.forward).parameters
        self._cache_kwarg = "cache" if "cache" in parameters else "past_key_values"
        self._masked_logits = "logits_to_keep" in parameters

    # ------------------------------------------------------------------ planning
    def _plan(self, pairs: Sequence[Pair]) -> tuple[list[_Row], list[list[int]]]:
        rows: list[_Row] = []
        index: dict[tuple[int, ...], int] = {}
        targets: list[list[int]] = []
        for number, (context, continuation) in enumerate(pairs):
            if not context or not continuation:
                raise BackendError("capability: a request has an empty context or continuation")
            if len(continuation) > self.max_length:
                raise BackendError(
                    f"capability: a continuation of {len(continuation)} tokens exceeds the "
                    f"model's max_length {self.max_length}"
                )
            full = list(context) + list(continuation)
            if len(full) > self.max_length + 1:
                self.truncated += 1
                full = full[-(self.max_length + 1) :]
            tokens = tuple(full[:-1])
            row = index.setdefault(tokens, len(rows))
            if row == len(rows):
                rows.append(_Row(tokens))
            rows[row].keep = max(rows[row].keep, len(continuation))
            rows[row].requests.append(number)
            targets.append(full[-len(continuation) :])
        return rows, targets

    def _groups(self, rows: list[_Row]) -> tuple[list[tuple[int, list[int]]], list[int]]:
        """``(prefix length, row ids)`` groups that share a prefix, and the remaining rows."""
        if self.share_prefix_min <= 0:
            return [], list(range(len(rows)))
        order = sorted(range(len(rows)), key=lambda r: rows[r].tokens)
        groups: list[tuple[int, list[int]]] = []
        single: list[int] = []
        start = 0
        while start < len(order):
            first = rows[order[start]]
            end, shared = start + 1, len(first.tokens)
            while end < len(order):
                common = _common_prefix(first.tokens, rows[order[end]].tokens)
                if common < self.share_prefix_min:
                    break
                shared = min(shared, common)
                end += 1
            members = order[start:end]
            # every scored position must come after the shared prefix
            prefix = min([shared] + [len(rows[r].tokens) - rows[r].keep for r in members])
            if len(members) > 1 and prefix >= self.share_prefix_min:
                groups.append((prefix, members))
            else:
                single.extend(members)
            start = end
        return groups, single

    # ------------------------------------------------------------------ running
    def score(
        self, pairs: Sequence[Pair], progress: Callable[[int], None] | None = None
    ) -> list[tuple[float, bool]]:
        """``(log-probability, is_greedy)`` per pair, in order; ``progress(n)`` after each
        batch with the number of pairs it finished."""
        rows, targets = self._plan(pairs)
        results: list[tuple[float, bool] | None] = [None] * len(pairs)
        groups, single = self._groups(rows)
        with _inference(self.model):
            single.sort(key=lambda r: -len(rows[r].tokens))
            for start in range(0, len(single), self.batch_size):
                batch = [rows[r] for r in single[start : start + self.batch_size]]
                logits = self._forward([row.tokens for row in batch], batch, cache=None)
                self._collect(batch, logits, targets, results, progress)
            for prefix, members in groups:
                self._run_group(prefix, [rows[r] for r in members], targets, results, progress)
        missing = sum(result is None for result in results)
        if missing:  # pragma: no cover - every request belongs to exactly one row
            raise BackendError(f"capability: {missing} requests were not scored")
        return results  # type: ignore[return-value]

    def _run_group(self, prefix: int, members: list[_Row], targets, results, progress) -> None:
        import torch

        first = members[0].tokens
        output = self.model(
            input_ids=torch.tensor([first[:prefix]], device=self._device()),
            use_cache=True,
            logits_to_keep=1,
        )
        cache = getattr(output, "cache", None) or getattr(output, "past_key_values", None)
        members = sorted(members, key=lambda row: -len(row.tokens))
        chunks = [members[i : i + self.batch_size] for i in range(0, len(members), self.batch_size)]
        for number, batch in enumerate(chunks):
            batch_cache = cache if number == len(chunks) - 1 else copy.deepcopy(cache)
            batch_cache.batch_repeat_interleave(len(batch))
            suffixes = [row.tokens[prefix:] for row in batch]
            logits = self._forward(suffixes, batch, cache=batch_cache)
            self._collect(batch, logits, targets, results, progress)

    def _device(self) -> Any:
        return next(self.model.parameters()).device

    def _forward(self, sequences: list[Sequence[int]], batch: list[_Row], cache: Any) -> list:
        """Logits at each row's last ``keep`` positions: one ``[keep, vocab]`` tensor a row."""
        import torch

        width = max(len(tokens) for tokens in sequences)
        input_ids = torch.full((len(sequences), width), self.pad_id, dtype=torch.long)
        keep = torch.zeros((len(sequences), width), dtype=torch.bool)
        for i, (tokens, row) in enumerate(zip(sequences, batch, strict=True)):
            input_ids[i, : len(tokens)] = torch.tensor(tokens, dtype=torch.long)
            keep[i, len(tokens) - row.keep : len(tokens)] = True
        device = self._device()
        kwargs: dict[str, Any] = {"input_ids": input_ids.to(device)}
        if cache is not None:
            kwargs[self._cache_kwarg] = cache
            kwargs["use_cache"] = True
        else:
            kwargs["use_cache"] = False
        if self._masked_logits:
            kwargs["logits_to_keep"] = keep.to(device)
        logits = self.model(**kwargs).logits
        if logits.dim() == 3:  # a model without boolean logits_to_keep: select here
            logits = logits[keep.to(logits.device)]
        return list(torch.split(logits, [row.keep for row in batch]))

    def _collect(self, batch, logits, targets, results, progress) -> None:
        import torch

        done = 0
        for row, row_logits in zip(batch, logits, strict=True):
            logprobs = torch.log_softmax(row_logits.float(), dim=-1)
            greedy = logprobs.argmax(dim=-1)
            for request in row.requests:
                target = targets[request]
                picked = logprobs[-len(target) :]
                ids = torch.tensor(target, device=picked.device)
                total = picked.gather(1, ids[:, None]).sum().item()
                is_greedy = bool((greedy[-len(target) :] == ids).all().item())
                results[request] = (float(total), is_greedy)
                done += 1
        if progress is not None:
            progress(done)
