"""``hf:`` backends: transformers chat models and sequence-classification reward models.

``hf:TARGET`` names a hub id (``hf:Qwen/Qwen3-1.7B``) or a local folder (``hf:./runs/x/policy``).
A folder holding a PEFT adapter (``adapter_config.json``) loads the base model named there and
applies the adapter. torch/transformers/peft are imported only when a model is built.

Both classes also wrap an already-loaded model and tokenizer (``HFChatModel(model, tokenizer)``),
which is how the repair stages score and sample from the models they train.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ares_rlhf.backends.base import (
    ChatModel,
    RewardModel,
    SamplingParams,
    register_chat,
    register_reward,
)
from ares_rlhf.errors import BackendError
from ares_rlhf.records import ComponentSpec, Message

logger = logging.getLogger(__name__)

CHAT_FORMATS = ("auto", "chat_template", "plain")
DTYPES = ("auto", "float32", "bfloat16", "float16")
PLAIN_STOP = "\nQuestion:"


# --------------------------------------------------------------------------------------------
# loading


def resolve_device(device: str | None) -> str:
    """``auto`` -> ``cuda`` when a GPU is visible, else ``cpu``; anything else is passed on."""
    import torch

    if device in (None, "", "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def resolve_dtype(dtype: str | None, device: str) -> Any:
    """``auto`` is float32 on CPU and the checkpoint's own dtype on accelerators."""
    import torch

    if dtype in (None, "", "auto"):
        return torch.float32 if device == "cpu" else "auto"
    if dtype not in DTYPES:
        raise BackendError(f"hf backend: dtype {dtype!r} is not one of {', '.join(DTYPES)}")
    return getattr(torch, dtype)


def _looks_like_path(target: str) -> bool:
    """An existing path, or one written as a path (``/x``, ``./x``, ``~/x``); else a hub id."""
    return target.startswith(("/", ".", "~")) or Path(target).expanduser().exists()


def _adapter_base(folder: Path) -> str | None:
    """The base model an adapter folder names, or ``None`` when the folder is a full model."""
    config_file = folder / "adapter_config.json"
    if not config_file.is_file():
        return None
    try:
        base = json.loads(config_file.read_text(encoding="utf-8")).get("base_model_name_or_path")
    except (OSError, json.JSONDecodeError) as exc:
        raise BackendError(f"hf backend: cannot read {config_file}: {exc}") from exc
    if not base:
        raise BackendError(
            f"hf backend: {config_file} has no base_model_name_or_path; cannot load the adapter"
        )
    return str(base)


def _load_error(target: str, exc: Exception) -> BackendError:
    offline = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE")
    hint = (
        " (offline mode is on: HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE is set, so only local folders "
        "and models already in the Hugging Face cache can load)"
        if offline
        else " (check the hub id, your network/HF_TOKEN, or set HF_HUB_OFFLINE=1 and use a local folder)"
    )
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return BackendError(f"hf backend: cannot load {target!r}{hint}: {first_line}")


def _contiguous_inputs(module: Any, args: tuple[Any, ...]) -> tuple[Any, ...]:
    first = args[0] if args else None
    if first is not None and hasattr(first, "is_contiguous") and not first.is_contiguous():
        return (first.contiguous(), *args[1:])
    return args


def keep_lm_head_input_contiguous(model: Any) -> bool:
    """Make the LM head's input contiguous before it is projected; ``True`` when hooked.

    During generation the head gets a strided slice of the hidden states (the last position).
    When the head's weight does not require grad (an adapter merged into a frozen base), torch's
    ``matmul`` then does not fold the batch into one ``mm`` but expands the weight per sequence
    and copies it (16 x 262k x 640 values for Gemma at batch 16): measured on 2 CPU cores,
    a repaired (merged) Gemma 270M generated 4x slower than the same model with grad flags on.
    Copying the small slice instead keeps every policy on the fast path.
    """
    get_head = getattr(model, "get_output_embeddings", None)
    head = get_head() if callable(get_head) else None
    if head is None or getattr(head, "_ares_contiguous_input", False):
        return False
    head.register_forward_pre_hook(_contiguous_inputs)
    head._ares_contiguous_input = True
    return True


def load_pretrained(
    target: str,
    auto_class_name: str,
    *,
    device: str | None = "auto",
    dtype: str | None = "auto",
    device_map: str | dict | None = None,
    trust_remote_code: bool = False,
    merge_adapter: bool = True,
    model_kwargs: dict[str, Any] | None = None,
) -> tuple[Any, Any]:
    """Load ``(model, tokenizer)`` from a hub id, a model folder or a PEFT adapter folder.

    ``auto_class_name`` is a transformers auto class (``AutoModelForCausalLM``...). Adapter
    folders load the base model named in ``adapter_config.json``, apply the adapter and (with
    ``merge_adapter``) merge it for faster inference. The model is put in eval mode.
    """
    import transformers

    auto_class = getattr(transformers, auto_class_name)
    path = Path(target).expanduser()
    if _looks_like_path(target) and not path.exists():
        raise BackendError(f"hf backend: model folder {str(path)!r} does not exist")
    if path.exists() and not path.is_dir():
        raise BackendError(f"hf backend: {str(path)!r} is a file; give the model folder")
    adapter_base = _adapter_base(path) if path.is_dir() else None
    weights_source = adapter_base or target
    resolved_device = resolve_device(device if device_map is None else "auto")
    kwargs: dict[str, Any] = {
        "dtype": resolve_dtype(dtype, resolved_device),
        "trust_remote_code": trust_remote_code,
        **(model_kwargs or {}),
    }
    if device_map is not None:
        kwargs["device_map"] = device_map
    try:
        model = auto_class.from_pretrained(weights_source, **kwargs)
    except (OSError, ValueError) as exc:
        raise _load_error(weights_source, exc) from exc
    tokenizer_source = target
    if adapter_base and not (path / "tokenizer_config.json").is_file():
        tokenizer_source = adapter_base
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(
            tokenizer_source, trust_remote_code=trust_remote_code
        )
    except (OSError, ValueError) as exc:
        raise _load_error(tokenizer_source, exc) from exc
    if adapter_base:
        try:
            from peft import PeftModel
        except ImportError as exc:  # pragma: no cover - peft is a dependency
            raise BackendError(f"hf backend: {target!r} is a PEFT adapter; install peft") from exc
        try:
            model = PeftModel.from_pretrained(model, str(path))
        except (OSError, ValueError, RuntimeError) as exc:
            raise BackendError(
                f"hf backend: cannot apply adapter {str(path)!r} to {adapter_base!r}: {exc}"
            ) from exc
        if merge_adapter:
            try:
                model = model.merge_and_unload()
            except (ValueError, RuntimeError, NotImplementedError) as exc:
                logger.warning("keeping adapter unmerged (%s)", exc)
    if device_map is None:
        model = model.to(resolved_device)
    keep_lm_head_input_contiguous(model)
    model.eval()
    return model, tokenizer


def _ensure_pad_token(tokenizer: Any) -> None:
    if tokenizer.pad_token_id is None:
        if tokenizer.eos_token is not None:
            tokenizer.pad_token = tokenizer.eos_token
        elif tokenizer.unk_token is not None:
            tokenizer.pad_token = tokenizer.unk_token


def _model_device(model: Any) -> Any:
    try:
        return next(model.parameters()).device
    except StopIteration:  # pragma: no cover - a model always has parameters
        import torch

        return torch.device("cpu")


def _check_chat_format(chat_format: str) -> str:
    if chat_format not in CHAT_FORMATS:
        raise BackendError(
            f"hf backend: chat_format {chat_format!r} is not one of {', '.join(CHAT_FORMATS)}"
        )
    return chat_format


# --------------------------------------------------------------------------------------------
# prompt rendering


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


# --------------------------------------------------------------------------------------------
# chat model


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
        *,
        specs: Sequence[ComponentSpec] | None = None,
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
        self.model = None
        self.tokenizer = None


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


# --------------------------------------------------------------------------------------------
# reward model


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
        *,
        specs: Sequence[ComponentSpec] | None = None,
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
        self.model = None
        self.tokenizer = None


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


# --------------------------------------------------------------------------------------------
# registry


@register_chat("hf")
def _chat(target: str, **options: Any) -> ChatModel:
    return HFChatModel.from_pretrained(target, **_known(options, HFChatModel.from_pretrained))


@register_reward("hf")
def _reward(target: str, **options: Any) -> RewardModel:
    return HFRewardModel.from_pretrained(target, **_known(options, HFRewardModel.from_pretrained))


def _known(options: dict[str, Any], function: Any) -> dict[str, Any]:
    """Options the loader accepts; an unknown one is a user error, ``None`` means default."""
    import inspect

    accepted = set(inspect.signature(function).parameters) - {"cls", "target"}
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise BackendError(
            f"hf backend: unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(accepted))}"
        )
    return {k: v for k, v in options.items() if v is not None}
