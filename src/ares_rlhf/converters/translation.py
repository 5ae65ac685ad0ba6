"""Translation into a named language by a configured chat model."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from ares_rlhf.converters.base import Converter, register_converter
from ares_rlhf.text.refusal import is_refusal

TRANSLATE_PROMPT = (
    "Translate the following text into {language}. Reply with the translation only, without "
    "comments or quotation marks.\n\n{text}"
)


@register_converter("translate")
class TranslationConverter(Converter):
    """``translate:LANGUAGE``: the text translated by the chat model the converter was given.

    No exact inverse. When the model refuses to translate a text, the text is kept as it is and
    counted in ``stats["refused"]`` (``stats["translated"]`` counts the others), so a caller
    can report how many prompts really went through.
    """

    needs_model = True
    takes_argument = True
    requires_argument = True
    argument_help = "translate:LANGUAGE, e.g. translate:French"
    example_argument = "French"

    def __init__(self, argument: str | None = None, **kwargs) -> None:
        super().__init__(argument, **kwargs)
        self.language = argument or ""
        self.stats: Counter[str] = Counter()

    @property
    def decode_step(self) -> str:  # type: ignore[override]
        return f"read it in {self.language} (it is translated)"

    def convert(self, text: str) -> str:
        return self.convert_many([text])[0]

    def convert_many(self, texts: Sequence[str]) -> list[str]:
        from ares_rlhf.backends.base import SamplingParams

        if self.model is None:  # build_converter_chain refuses this; direct use lands here
            raise RuntimeError(f"converter {self.spec!r} was built without a chat model")
        todo = [i for i, t in enumerate(texts) if t.strip()]
        out = list(texts)
        if not todo:
            return out
        longest = max(len(texts[i]) for i in todo)
        params = SamplingParams(max_new_tokens=min(4096, 64 + longest), seed=self.seed)
        conversations = [
            [
                {
                    "role": "user",
                    "content": TRANSLATE_PROMPT.format(language=self.language, text=texts[i]),
                }
            ]
            for i in todo
        ]
        replies = self.model.generate(conversations, params)
        for i, reply in zip(todo, replies, strict=True):
            reply = reply.strip()
            if not reply or is_refusal(reply):
                self.stats["refused"] += 1
                continue
            self.stats["translated"] += 1
            out[i] = reply
        return out
