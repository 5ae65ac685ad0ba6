"""``HFChatModel``: a transformers causal LM answering batches of conversations."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import contextmanager
from typing import Any

from ares_rlhf.backends.base import ChatModel, SamplingParams
from ares_rlhf.backends.hf.loading import (
    _check_chat_format,
    _ensure_pad_token,
    _model_device,
    load_pretrained,
)
from ares_rlhf.backends.hf.render import PLAIN_STOP, _has_chat_template, render_plain
from ares_rlhf.errors import BackendError
from ares_rlhf.records import Message

logger = logging.getLogger(__name__)


class HFChatModel(ChatModel):
    """A transformers causal LM answering batches of conversations.

    Build it from a spec with :meth:`from_pretrained` (or ``create_chat_model("hf:...")``) or
    wrap a model already in memory: ``HFChatModel(model, tokenizer)``.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        model_id: str = "hf:<in-memory>",
        chat_format: str = "auto",
        max_length: int | None = None,
        batch_size: int = 8,
        enable_thinking: bool | None = None,
        stop: Sequence[str] | None = None,
        strip_thinking: bool = True,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.model_id = model_id
        self.chat_format = _check_chat_format(chat_format)
        self.max_length = max_length
        self.batch_size = max(1, int(batch_size))
        self.enable_thinking = enable_thinking
        self.strip_thinking = strip_thinking
        self.stop = list(stop or [])
        if self.chat_format == "chat_template" and not _has_chat_template(tokenizer):
            raise BackendError(
                f"{model_id}: chat_format 'chat_template' but the tokenizer has no chat template; "
                "use chat_format: plain (or auto)"
            )
        _ensure_pad_token(tokenizer)
        self._stop_cache: dict[tuple[str, ...], Any] = {}
        self.truncated_prompts = 0
        """How many prompts were cut (from the left) to fit ``max_length``."""

    @classmethod
    def from_pretrained(
        cls,
        target: str,
        *,
        device: str | None = "auto",
        dtype: str | None = "auto",
        device_map: str | dict | None = None,
        chat_format: str = "auto",
        max_length: int | None = None,
        batch_size: int = 8,
        enable_thinking: bool | None = None,
        stop: Sequence[str] | None = None,
        strip_thinking: bool = True,
        trust_remote_code: bool = False,
        merge_adapter: bool = True,
    ) -> HFChatModel:
        """Load a causal LM from a hub id, a model folder or a PEFT adapter folder."""
        _check_chat_format(chat_format)
        model, tokenizer = load_pretrained(
            target,
            "AutoModelForCausalLM",
            device=device,
            dtype=dtype,
            device_map=device_map,
            trust_remote_code=trust_remote_code,
            merge_adapter=merge_adapter,
        )
        return cls(
            model,
            tokenizer,
            model_id=f"hf:{target}",
            chat_format=chat_format,
            max_length=max_length,
            batch_size=batch_size,
            enable_thinking=enable_thinking,
            stop=stop,
            strip_thinking=strip_thinking,
        )

    @property
    def uses_chat_template(self) -> bool:
        if self.chat_format == "plain":
            return False
        return _has_chat_template(self.tokenizer)

    def render(self, conversation: Sequence[Message]) -> str:
        """The exact prompt text the model sees for one conversation."""
        if not conversation:
            raise BackendError(f"{self.model_id}: cannot answer an empty conversation")
        if self.uses_chat_template:
            extra = (
                {} if self.enable_thinking is None else {"enable_thinking": self.enable_thinking}
            )
            return self.tokenizer.apply_chat_template(
                list(conversation), tokenize=False, add_generation_prompt=True, **extra
            )
        return render_plain(conversation)

    def _stop_strings(self) -> list[str]:
        stops = list(self.stop)
        if not self.uses_chat_template:
            stops.append(PLAIN_STOP)
        return stops

    def _stop_criteria(self, stops: list[str]) -> Any:
        """Stop-string criteria, built once per set of strings (preparing one scans the
        vocabulary: seconds for Gemma's 262k tokens)."""
        key = tuple(stops)
        if key not in self._stop_cache:
            from transformers import StoppingCriteriaList
            from transformers.generation.stopping_criteria import StopStringCriteria

            self._stop_cache[key] = StoppingCriteriaList(
                [StopStringCriteria(self.tokenizer, list(stops))]
            )
        return self._stop_cache[key]

    def _eos_ids(self) -> list[int]:
        ids: list[int] = []
        generation_config = getattr(self.model, "generation_config", None)
        configured = getattr(generation_config, "eos_token_id", None)
        for value in configured if isinstance(configured, list) else [configured]:
            if value is not None:
                ids.append(int(value))
        if self.tokenizer.eos_token_id is not None:
            ids.append(int(self.tokenizer.eos_token_id))
        return sorted(set(ids))

    def _encode(self, prompts: list[str], max_new_tokens: int) -> list[list[int]]:
        add_special = not self.uses_chat_template
        encoded = self.tokenizer(prompts, add_special_tokens=add_special)["input_ids"]
        if self.max_length is None:
            return [list(ids) for ids in encoded]
        budget = max(1, self.max_length - max_new_tokens)
        out = []
        for ids in encoded:
            if len(ids) > budget:
                self.truncated_prompts += 1
                logger.warning(
                    "%s: prompt of %d tokens cut from the left to %d (max_length %d)",
                    self.model_id,
                    len(ids),
                    budget,
                    self.max_length,
                )
                ids = ids[-budget:]
            out.append(list(ids))
        return out

    def generate(
        self,
        conversations: Sequence[list[Message]],
        params: SamplingParams | None = None,
    ) -> list[str]:
        params = params or SamplingParams()
        if not conversations:
            return []
        prompts = [self.render(conversation) for conversation in conversations]
        encoded = self._encode(prompts, params.max_new_tokens)
        # longest first: batches of similar length waste little compute on padding
        order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i]))
        answers: list[str] = [""] * len(encoded)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            texts = self._generate_batch([encoded[i] for i in chunk], params)
            for index, text in zip(chunk, texts, strict=True):
                answers[index] = text
        return answers

    def _generate_batch(self, batch: list[list[int]], params: SamplingParams) -> list[str]:
        import torch

        pad_id = self.tokenizer.pad_token_id
        width = max(len(ids) for ids in batch)
        input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, ids in enumerate(batch):  # left padding: every prompt ends at the same column
            input_ids[row, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
            attention_mask[row, width - len(ids) :] = 1
        device = _model_device(self.model)
        kwargs: dict[str, Any] = {
            "input_ids": input_ids.to(device),
            "attention_mask": attention_mask.to(device),
            "max_new_tokens": params.max_new_tokens,
            "pad_token_id": pad_id,
            "eos_token_id": self._eos_ids() or None,
        }
        if params.temperature > 0:
            kwargs.update(do_sample=True, temperature=params.temperature, top_p=params.top_p)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        stops = self._stop_strings()
        if stops:
            kwargs["stopping_criteria"] = self._stop_criteria(stops)
        seed = params.seed if params.temperature > 0 else None
        with _eval_mode(self.model), _seeded(seed, device), torch.inference_mode():
            output = self.model.generate(**kwargs)
        new_tokens = output[:, width:]
        texts = self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        if self.strip_thinking:
            texts = [_strip_thinking(text) for text in texts]
        return [_cut_at_stops(text, stops).strip() for text in texts]

    def close(self) -> None:
        from ares_rlhf.runtime import release_free_memory

        self.model = None
        self.tokenizer = None
        release_free_memory()  # the weights' pages, kept by the tuned allocator otherwise


def _strip_thinking(text: str) -> str:
    """Drop a leading reasoning block (``<think>...</think>``, as Qwen3 writes) from an answer."""
    start = text.find("<think>")
    end = text.find("</think>")
    if end != -1 and (start == -1 or start < end) and not text[: max(start, 0)].strip():
        return text[end + len("</think>") :]
    if start != -1 and not text[:start].strip():
        return ""  # the answer never got past its reasoning
    return text


@contextmanager
def _eval_mode(model: Any):
    """Inference without dropout, even on a model a trainer left in training mode."""
    was_training = bool(getattr(model, "training", False))
    if was_training:
        model.eval()
    try:
        yield
    finally:
        if was_training:
            model.train()


def _cut_at_stops(text: str, stops: Sequence[str]) -> str:
    cut = len(text)
    for stop in stops:
        position = text.find(stop)
        if position != -1:
            cut = min(cut, position)
    return text[:cut]


@contextmanager
def _seeded(seed: int | None, device: Any):
    """Seed torch for one call without disturbing the caller's random state."""
    import torch

    if seed is None:
        yield
        return
    devices = [device] if getattr(device, "type", "cpu") == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield
