"""``AresLM``: any ARES policy spec as an lm-evaluation-harness model (registered as ``ares``).

It wraps the chat model an ARES spec builds (``hf:`` folders and hub ids, PEFT adapter folders,
``gguf-pkg:``, ``embedded:policy``) and answers lm-eval's three request types on the raw text
lm-eval renders (no chat template, no ARES prompt format):

* ``loglikelihood``: tokenized as lm-eval's ``hf`` model does (trailing context spaces move
  to the continuation; an empty context becomes the BOS token), then scored by
  :class:`~ares_rlhf.evaluation.capability.scoring.ContinuationScorer`;
* ``loglikelihood_rolling``: lm-eval's rolling windows of at most ``max_length`` tokens;
* ``generate_until``: batched, longest prompt first, greedy unless the task asks to sample,
  cut at the task's stop strings.

Importing this module imports lm_eval. Use it from lm-eval directly with
``lm_eval.simple_evaluate(model="ares", model_args="spec=hf:./policy,dtype=bfloat16", ...)``
once this module is imported, or through
:func:`ares_rlhf.evaluation.capability.evaluate_capability`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from lm_eval.api.model import TemplateLM
from lm_eval.api.registry import register_model
from lm_eval.utils import get_rolling_token_windows, make_disjoint_window

from ares_rlhf.errors import BackendError
from ares_rlhf.evaluation.capability.scoring import ContinuationScorer

Progress = Callable[[int, int, str], None]


def load_weights_model(spec: str | None = None, model_config: Any = None, **options: Any) -> Any:
    """The ARES chat model a spec or ``ModelConfig`` names (options: device, dtype...)."""
    from ares_rlhf.backends import chat_model_from_config
    from ares_rlhf.config import ModelConfig

    if model_config is None:
        if not spec:
            raise BackendError("capability: give a model spec (e.g. spec=hf:./policy)")
        fields = {k: options.pop(k) for k in list(options) if k in ModelConfig.model_fields}
        model_config = ModelConfig(spec=spec, **fields, options=options)
    return chat_model_from_config(model_config)


def weights_of(chat_model: Any) -> tuple[Any, Any]:
    """``(model, tokenizer)`` of a chat model with local weights, else a ``BackendError``."""
    model = getattr(chat_model, "model", None)
    tokenizer = getattr(chat_model, "tokenizer", None)
    if model is None or tokenizer is None or not hasattr(model, "forward"):
        model_id = getattr(chat_model, "model_id", type(chat_model).__name__)
        raise BackendError(
            f"{model_id}: capability tasks need a model with local weights (hf:, gguf-pkg:, "
            "embedded:); an HTTP chat endpoint returns no log-probabilities through ARES. "
            "For a vLLM server run lm-eval's own local-completions model against it"
        )
    return model, tokenizer


@register_model("ares")
class AresLM(TemplateLM):
    """An ARES policy as an lm-eval ``LM``.

    Build it from a spec (``AresLM(spec="hf:./policy", dtype="bfloat16")``), a
    ``ModelConfig`` (``model_config=...``) or a chat model already loaded (``chat_model=...``).
    ``batch_size`` rows per forward pass; ``max_length`` caps context + continuation
    (default: the wrapped chat model's ``max_length``, else the model's position limit).
    """

    def __init__(
        self,
        spec: str | None = None,
        *,
        model_config: Any = None,
        chat_model: Any = None,
        batch_size: int | str = 8,
        max_length: int | None = None,
        max_gen_toks: int = 256,
        share_prefix_min: int = 96,
        **options: Any,
    ) -> None:
        super().__init__()
        self.chat_model = chat_model or load_weights_model(spec, model_config, **options)
        self.model, self.tokenizer = weights_of(self.chat_model)
        self.model_id = getattr(self.chat_model, "model_id", spec or "ares")
        self.batch_size = 8 if batch_size in ("auto", None) else max(1, int(batch_size))
        self.max_gen_toks = int(max_gen_toks)
        self._max_length = int(max_length or self._default_max_length())
        pad = self.tokenizer.pad_token_id
        self.scorer = ContinuationScorer(
            self.model,
            pad_id=pad if pad is not None else self.eot_token_id,
            max_length=self._max_length,
            batch_size=self.batch_size,
            share_prefix_min=share_prefix_min,
        )
        self.progress: Progress | None = None
        """``progress(done, total, label)`` while requests run (set by the caller)."""
        self.progress_label = "capability"
        self._stop_cache: dict[tuple[str, ...], Any] = {}

    def _default_max_length(self) -> int:
        configured = getattr(self.chat_model, "max_length", None)
        if configured:
            return int(configured)
        config = getattr(self.model, "config", None)
        for name in ("max_position_embeddings", "n_positions", "seq_length"):
            value = getattr(config, name, None)
            if isinstance(value, int) and value > 0:
                return value
        return 2048

    # ------------------------------------------------------------------ tokens
    @property
    def max_length(self) -> int:
        return self._max_length

    @property
    def eot_token_id(self) -> int:
        return int(self.tokenizer.eos_token_id)

    @property
    def prefix_token_id(self) -> int:
        bos = self.tokenizer.bos_token_id
        return int(bos) if bos is not None else self.eot_token_id

    @property
    def tokenizer_name(self) -> str:
        return str(getattr(self.tokenizer, "name_or_path", "")).replace("/", "__")

    def tok_encode(
        self, string: str, add_special_tokens: bool | None = None, **kwargs: Any
    ) -> list[int]:
        """Token ids; special tokens (BOS) as the tokenizer adds them, unless the text already
        starts with BOS or ``add_special_tokens`` says otherwise (lm-eval's ``hf`` rule)."""
        if add_special_tokens is None:
            bos = self.tokenizer.bos_token
            add_special_tokens = not (bos and string.startswith(bos))
        return list(self.tokenizer.encode(string, add_special_tokens=add_special_tokens))

    def _report(self, total: int) -> Callable[[int], None]:
        done = 0

        def advance(count: int) -> None:
            nonlocal done
            done += count
            if self.progress is not None:
                self.progress(done, total, self.progress_label)

        return advance

    # ------------------------------------------------------------------ requests
    def loglikelihood(self, requests, disable_tqdm: bool = True):
        """lm-eval's tokenization (its ``TemplateLM`` rule), then the batched scorer."""
        return super().loglikelihood(requests, disable_tqdm=True)

    def _loglikelihood_tokens(self, requests, disable_tqdm: bool = False, **kwargs):
        pairs = [(context, continuation) for _, context, continuation in requests]
        return self.scorer.score(pairs, progress=self._report(len(pairs)))

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False) -> list[float]:
        windows: list[tuple[int, tuple[list[int], list[int]]]] = []
        for number, request in enumerate(requests):
            (text,) = request.args
            for window in get_rolling_token_windows(
                token_list=self.tok_encode(text, add_special_tokens=False),
                prefix_token=self.prefix_token_id,
                max_seq_len=self.max_length,
                context_len=1,
            ):
                windows.append((number, make_disjoint_window(window)))
        scores = self.scorer.score([pair for _, pair in windows], self._report(len(windows)))
        totals = [0.0] * len(requests)
        for (number, _), (logprob, _) in zip(windows, scores, strict=True):
            totals[number] += logprob
        return totals

    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        answers: list[str] = [""] * len(requests)
        by_settings: dict[str, list[int]] = {}
        for number, request in enumerate(requests):
            key = json.dumps(request.args[1], sort_keys=True, default=str)
            by_settings.setdefault(key, []).append(number)
        advance = self._report(len(requests))
        for key, numbers in by_settings.items():
            settings = dict(json.loads(key))
            prompts = {n: self.tok_encode(requests[n].args[0]) for n in numbers}
            order = sorted(numbers, key=lambda n: -len(prompts[n]))
            for start in range(0, len(order), self.batch_size):
                chunk = order[start : start + self.batch_size]
                texts = self._generate([prompts[n] for n in chunk], dict(settings))
                for number, text in zip(chunk, texts, strict=True):
                    answers[number] = text
                advance(len(chunk))
        return answers

    def _generate(self, prompts: list[list[int]], settings: dict[str, Any]) -> list[str]:
        import torch

        until = settings.pop("until", None) or []
        until = [until] if isinstance(until, str) else list(until)
        eos_text = self.tokenizer.decode([self.eot_token_id])
        stops = [s for s in until if s] + ([eos_text] if eos_text and eos_text not in until else [])
        max_new = int(settings.pop("max_gen_toks", self.max_gen_toks))
        budget = max(1, self.max_length - max_new)
        prompts = [ids[-budget:] for ids in prompts]
        width = max(len(ids) for ids in prompts)
        pad = self.scorer.pad_id
        input_ids = torch.full((len(prompts), width), pad, dtype=torch.long)
        attention = torch.zeros((len(prompts), width), dtype=torch.long)
        for row, ids in enumerate(prompts):  # left padding: every prompt ends at one column
            input_ids[row, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
            attention[row, width - len(ids) :] = 1
        temperature = float(settings.get("temperature", 0.0) or 0.0)
        sample = bool(settings.get("do_sample", False)) and temperature > 0
        kwargs: dict[str, Any] = {
            "max_new_tokens": max_new,
            "pad_token_id": pad,
            "eos_token_id": self.eot_token_id,
            "do_sample": sample,
            "stopping_criteria": self._stop_criteria(stops),
        }
        if sample:
            kwargs.update(temperature=temperature, top_p=float(settings.get("top_p", 1.0)))
        else:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        device = next(self.model.parameters()).device
        with torch.inference_mode():
            output = self.model.generate(
                input_ids=input_ids.to(device), attention_mask=attention.to(device), **kwargs
            )
        texts = self.tokenizer.batch_decode(output[:, width:], skip_special_tokens=False)
        return [_cut(text, stops) for text in texts]

    def _stop_criteria(self, stops: list[str]) -> Any:
        """Stop-string criteria, built once per set of strings (it scans the vocabulary)."""
        key = tuple(stops)
        if key not in self._stop_cache:
            from transformers import StoppingCriteriaList
            from transformers.generation.stopping_criteria import StopStringCriteria

            self._stop_cache[key] = StoppingCriteriaList(
                [StopStringCriteria(self.tokenizer, list(stops))] if stops else []
            )
        return self._stop_cache[key]


def _cut(text: str, stops: list[str]) -> str:
    cut = len(text)
    for stop in stops:
        position = text.find(stop)
        if position != -1:
            cut = min(cut, position)
    return text[:cut]
