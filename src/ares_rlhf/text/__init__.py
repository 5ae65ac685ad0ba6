"""Pure-text helpers every layer may use (no models, no stage imports)."""

from ares_rlhf.text.refusal import is_refusal, refusal_kind

__all__ = ["is_refusal", "refusal_kind"]
