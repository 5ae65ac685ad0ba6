"""Ground truth for measuring search: arenas, the ``sim:`` backends that follow them, the benchmark.

Nothing in the pipeline depends on this package; the backend registry imports
:mod:`ares_rlhf.sim.backend` only when a ``sim:`` spec is resolved.
"""
