"""ARES: adaptive red-teaming and end-to-end repair of a policy + reward-model RLHF system."""

__version__ = "0.1.0"
