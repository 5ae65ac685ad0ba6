"""Character-level encodings: Base64, ROT13, leetspeak and Unicode homoglyphs."""

from __future__ import annotations

import base64
import binascii
import codecs

from ares_rlhf.converters.base import Converter, register_converter


@register_converter("base64")
class Base64Converter(Converter):
    """The UTF-8 bytes of the text in standard Base64."""

    decode_step = "decode it from Base64"
    revertible = True

    def convert(self, text: str) -> str:
        return base64.b64encode(text.encode("utf-8")).decode("ascii")

    def revert(self, text: str) -> str:
        try:
            return base64.b64decode(text.encode("ascii"), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeError) as error:
            raise ValueError(f"not Base64-encoded UTF-8 text: {error}") from None


@register_converter("rot13")
class Rot13Converter(Converter):
    """ASCII letters rotated by 13 places (its own inverse); everything else unchanged."""

    decode_step = "decode it from ROT13 (shift every letter 13 places)"
    revertible = True

    def convert(self, text: str) -> str:
        return codecs.encode(text, "rot13")

    def revert(self, text: str) -> str:
        return codecs.encode(text, "rot13")


_LEET = str.maketrans("aeiostAEIOST", "431057431057")


@register_converter("leetspeak")
class LeetspeakConverter(Converter):
    """Letters replaced by look-alike digits (a->4, e->3, i->1, o->0, s->5, t->7).

    No exact inverse: a digit in the original is indistinguishable from a replaced letter.
    """

    decode_step = "read it as leetspeak (digits stand for the letters they look like)"

    def convert(self, text: str) -> str:
        return text.translate(_LEET)


# Latin letters and the Cyrillic letters that render the same (Unicode confusables).
_LATIN = "aceijopsxyABCEHIJKMOPSTXY"
_CYRILLIC = (
    "\u0430\u0441\u0435\u0456\u0458\u043e\u0440\u0455\u0445\u0443"
    "\u0410\u0412\u0421\u0415\u041d\u0406\u0408\u041a\u041c\u041e\u0420\u0405\u0422\u0425\u0423"
)
_HOMOGLYPHS = str.maketrans(_LATIN, _CYRILLIC)


@register_converter("homoglyphs")
class HomoglyphConverter(Converter):
    """Every Latin letter that has a Cyrillic look-alike replaced by it (deterministic).

    The text looks the same to a person but is different to a tokenizer. No exact inverse: the
    original may already contain those Cyrillic letters.
    """

    decode_step = "read the look-alike letters from other alphabets as plain Latin letters"

    def convert(self, text: str) -> str:
        return text.translate(_HOMOGLYPHS)
