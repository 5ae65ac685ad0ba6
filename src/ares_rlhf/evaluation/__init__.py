"""ARES evaluation stage: ``verify`` (paired before/after re-probing of the repaired system,
``evaluation.verify``) and held-out safety benchmarks (``evaluation.benchmarks``)."""
