"""``HFRewardModel``: a one-output sequence-classification reward model, scored through its tokenizer."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from contextlib import contextmanager
from typing import Any

from ares_rlhf.backends.base import RewardModel
from ares_rlhf.backends.hf.chat import _eval_mode
from ares_rlhf.backends.hf.loading import (
    _check_chat_format,
    _ensure_pad_token,
    _model_device,
    load_pretrained,
)
from ares_rlhf.backends.hf.render import _has_chat_template, render_pair_prompt
from ares_rlhf.errors import BackendError
from ares_rlhf.records import Message

logger = logging.getLogger(__name__)


class HFRewardModel(RewardModel):
    """A sequence-classification reward model with one output, scored through its own tokenizer.

    With a chat template (Skywork-Reward-V2 style) each pair is rendered as
    ``apply_chat_template(conversation + [assistant: response], tokenize=False)``; without one
    (an encoder such as MiniLM) the conversation text and the response form a text pair.
    Inputs longer than ``max_length`` lose the start of the conversation first; the response is
    never dropped (a response longer than ``max_length`` keeps its beginning). Both cases are
    counted in ``truncated_conversations`` / ``truncated_responses`` and logged.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        model_id: str = "hf:<in-memory>",
        max_length: int = 2048,
        batch_size: int = 16,
        chat_format: str = "auto",
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.model_id = model_id
        self.chat_format = _check_chat_format(chat_format)
        if self.chat_format == "chat_template" and not _has_chat_template(tokenizer):
            raise BackendError(
                f"{model_id}: chat_format 'chat_template' but the RM tokenizer has no chat template"
            )
        tokenizer_limit = getattr(tokenizer, "model_max_length", None) or max_length
        self.max_length = int(min(max_length, tokenizer_limit))
        if self.max_length < 8:
            raise BackendError(f"{model_id}: max_length {self.max_length} is too small to score")
        self.batch_size = max(1, int(batch_size))
        num_labels = getattr(getattr(model, "config", None), "num_labels", 1)
        if num_labels != 1:
            raise BackendError(
                f"{model_id}: a reward model must have exactly one output (num_labels=1), "
                f"this one has {num_labels}"
            )
        _ensure_pad_token(tokenizer)
        text_config = (
            model.config.get_text_config()
            if hasattr(model.config, "get_text_config")
            else model.config
        )
        if getattr(text_config, "pad_token_id", None) is None:
            text_config.pad_token_id = tokenizer.pad_token_id
        self.truncated_conversations = 0
        """Pairs whose conversation lost its beginning to fit ``max_length``."""
        self.truncated_responses = 0
        """Pairs whose response alone exceeded ``max_length`` and kept only its beginning."""

    @classmethod
    def from_pretrained(
        cls,
        target: str,
        *,
        device: str | None = "auto",
        dtype: str | None = "auto",
        device_map: str | dict | None = None,
        chat_format: str = "auto",
        max_length: int = 2048,
        batch_size: int = 16,
        trust_remote_code: bool = False,
        merge_adapter: bool = True,
    ) -> HFRewardModel:
        """Load a one-output sequence-classification RM (hub id, folder or adapter folder)."""
        _check_chat_format(chat_format)
        model, tokenizer = load_pretrained(
            target,
            "AutoModelForSequenceClassification",
            device=device,
            dtype=dtype,
            device_map=device_map,
            trust_remote_code=trust_remote_code,
            merge_adapter=merge_adapter,
            model_kwargs={"num_labels": 1},
        )
        return cls(
            model,
            tokenizer,
            model_id=f"hf:{target}",
            max_length=max_length,
            batch_size=batch_size,
            chat_format=chat_format,
        )

    @property
    def uses_chat_template(self) -> bool:
        return self.chat_format != "plain" and _has_chat_template(self.tokenizer)

    # ---- encoding

    def encode(self, conversation: Sequence[Message], response: str) -> dict[str, list[int]]:
        """Token ids (and token type ids for pair encoders) for one pair, within ``max_length``."""
        if self.uses_chat_template:
            return {"input_ids": self._encode_templated(conversation, response)}
        return self._encode_pair(render_pair_prompt(conversation), response)

    def encode_many(
        self, conversations: Sequence[Sequence[Message]], responses: Sequence[str]
    ) -> list[dict[str, list[int]]]:
        """:meth:`encode` for many pairs: one batched tokenizer call, then the rare overflows."""
        if self.uses_chat_template:
            texts = [self._render(c, r) for c, r in zip(conversations, responses, strict=True)]
            ids = self.tokenizer(texts, add_special_tokens=False)["input_ids"]
            return [
                {"input_ids": list(row)}
                if len(row) <= self.max_length
                else {"input_ids": self._encode_templated(c, r, text)}
                for row, text, c, r in zip(ids, texts, conversations, responses, strict=True)
            ]
        prompts = [render_pair_prompt(c) for c in conversations]
        encoded = self.tokenizer(prompts, list(responses), truncation=False)
        keys = [k for k in ("input_ids", "token_type_ids") if k in encoded]
        items = []
        for row, (prompt, response) in enumerate(zip(prompts, responses, strict=True)):
            if len(encoded["input_ids"][row]) <= self.max_length:
                items.append({k: list(encoded[k][row]) for k in keys})
            else:
                items.append(self._encode_pair(prompt, response))
        return items

    def _render(self, conversation: Sequence[Message], response: str) -> str:
        messages = [*conversation, {"role": "assistant", "content": response}]
        return self.tokenizer.apply_chat_template(messages, tokenize=False)

    def _encode_templated(
        self, conversation: Sequence[Message], response: str, text: str | None = None
    ) -> list[int]:
        text = text if text is not None else self._render(conversation, response)
        encoded = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        ids: list[int] = list(encoded["input_ids"])
        if len(ids) <= self.max_length:
            return ids
        offsets = encoded["offset_mapping"]
        start_char, end_char = _locate_response(text, response)
        # token spans: [0, r0) conversation, [r0, r1) response, [r1, n) template suffix
        r0 = next((i for i, (s, e) in enumerate(offsets) if e > start_char), len(ids))
        r1 = next((i for i, (s, e) in enumerate(offsets) if s >= end_char and e > s), len(ids))
        r1 = max(r0, r1)
        head = ids[:1] if ids and ids[0] in self._special_ids() else []
        prefix, body, suffix = ids[len(head) : r0], ids[r0:r1], ids[r1:]
        return self._fit(head, prefix, body, suffix)

    def _special_ids(self) -> set[int]:
        return set(getattr(self.tokenizer, "all_special_ids", []) or [])

    def _fit(
        self, head: list[int], prefix: list[int], body: list[int], suffix: list[int]
    ) -> list[int]:
        fixed = len(head) + len(suffix)
        room_for_prefix = self.max_length - fixed - len(body)
        if room_for_prefix >= 0:
            self.truncated_conversations += 1
            self._warn("conversation", len(prefix) - room_for_prefix)
            kept = prefix[len(prefix) - room_for_prefix :] if room_for_prefix else []
            return head + kept + body + suffix
        self.truncated_conversations += int(bool(prefix))
        self.truncated_responses += 1
        room_for_body = max(1, self.max_length - fixed)
        self._warn("response", len(body) - room_for_body)
        return (head + body[:room_for_body] + suffix)[: self.max_length]

    def _encode_pair(self, prompt: str, response: str) -> dict[str, list[int]]:
        encoded = self.tokenizer(prompt, response, truncation=False)
        if len(encoded["input_ids"]) <= self.max_length:
            return {k: list(v) for k, v in encoded.items() if k in ("input_ids", "token_type_ids")}
        special = self.tokenizer.num_special_tokens_to_add(pair=True)
        prompt_enc = self.tokenizer(prompt, add_special_tokens=False, return_offsets_mapping=True)
        response_enc = self.tokenizer(
            response, add_special_tokens=False, return_offsets_mapping=True
        )
        n_prompt, n_response = len(prompt_enc["input_ids"]), len(response_enc["input_ids"])
        room = self.max_length - special
        if n_response <= room - 1 or (n_response <= room and n_prompt == 0):
            keep = max(0, room - n_response)
            self.truncated_conversations += 1
            self._warn("conversation", n_prompt - keep)
            cut_char = prompt_enc["offset_mapping"][n_prompt - keep][0] if keep else len(prompt)
            prompt, response_room = prompt[cut_char:], n_response
        else:
            self.truncated_conversations += int(n_prompt > 0)
            self.truncated_responses += 1
            response_room = max(1, room - (1 if n_prompt else 0))
            self._warn("response", n_response - response_room)
            end_char = response_enc["offset_mapping"][response_room - 1][1]
            response = response[:end_char]
            if n_prompt:
                last = prompt_enc["offset_mapping"][-1][0]
                prompt = prompt[last:]
        # re-tokenising cut text can shift a token at the seam: trim the prompt until it fits
        for _ in range(8):
            encoded = self.tokenizer(prompt, response, truncation=False)
            if len(encoded["input_ids"]) <= self.max_length or not prompt:
                break
            prompt = prompt[1:]
        else:
            encoded = self.tokenizer(
                prompt, response, truncation="only_first", max_length=self.max_length
            )
        return {
            k: list(v)[: self.max_length]
            for k, v in encoded.items()
            if k in ("input_ids", "token_type_ids")
        }

    def _warn(self, what: str, dropped: int) -> None:
        message = (
            f"{self.model_id}: input over max_length {self.max_length}: dropped {dropped} tokens "
            f"from the {'start of the conversation' if what == 'conversation' else 'end of the response'}"
        )
        logger.warning(message)
        if what == "response":
            warnings.warn(message, stacklevel=4)

    # ---- scoring

    def score(
        self,
        conversations: Sequence[list[Message]],
        responses: Sequence[str],
    ) -> list[float]:
        self.check_pairs(conversations, responses)
        if not responses:
            return []
        items = self.encode_many(conversations, responses)
        order = sorted(range(len(items)), key=lambda i: -len(items[i]["input_ids"]))
        scores: list[float] = [0.0] * len(items)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            for index, value in zip(
                chunk, self.score_encoded([items[i] for i in chunk]), strict=True
            ):
                scores[index] = value
        return scores

    def score_encoded(self, batch: list[dict[str, list[int]]]) -> list[float]:
        """Scores for already-encoded inputs (right padded, so positions match unbatched runs)."""
        import torch

        width = max(len(item["input_ids"]) for item in batch)
        last_tokens = {item["input_ids"][-1] for item in batch}
        pad_id = _safe_pad_id(self.tokenizer.pad_token_id, last_tokens)
        input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(batch), width), dtype=torch.long)
        with_types = all("token_type_ids" in item for item in batch)
        token_type_ids = torch.zeros((len(batch), width), dtype=torch.long) if with_types else None
        for row, item in enumerate(batch):
            n = len(item["input_ids"])
            input_ids[row, :n] = torch.tensor(item["input_ids"], dtype=torch.long)
            attention_mask[row, :n] = 1
            if token_type_ids is not None:
                token_type_ids[row, :n] = torch.tensor(item["token_type_ids"], dtype=torch.long)
        device = _model_device(self.model)
        inputs = {"input_ids": input_ids.to(device), "attention_mask": attention_mask.to(device)}
        if token_type_ids is not None:
            inputs["token_type_ids"] = token_type_ids.to(device)
        with _eval_mode(self.model), _pad_id_for_pooling(self.model, pad_id):
            with torch.inference_mode():
                logits = self.model(**inputs).logits
        return [float(value) for value in logits.float().reshape(len(batch), -1)[:, 0].tolist()]

    def close(self) -> None:
        from ares_rlhf.runtime import release_free_memory

        self.model = None
        self.tokenizer = None
        release_free_memory()  # the weights' pages, kept by the tuned allocator otherwise


def _locate_response(text: str, response: str) -> tuple[int, int]:
    """Character span of the response inside the rendered conversation (last occurrence)."""
    for candidate in (response, response.strip()):
        if candidate:
            position = text.rfind(candidate)
            if position != -1:
                return position, position + len(candidate)
    return len(text), len(text)


def _safe_pad_id(pad_id: int | None, last_tokens: set[int]) -> int:
    """A pad id that is not any sequence's last token (decoder RMs pool the last non-pad token)."""
    if pad_id is not None and pad_id not in last_tokens:
        return int(pad_id)
    candidate = 0
    while candidate in last_tokens:
        candidate += 1
    return candidate


@contextmanager
def _pad_id_for_pooling(model: Any, pad_id: int):
    config = (
        model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    )
    previous = getattr(config, "pad_token_id", None)
    config.pad_token_id = pad_id
    try:
        yield
    finally:
        config.pad_token_id = previous
