"""The discovery benchmark: how fast a search strategy covers an arena's systemic combinations.

The fast path (:func:`simulate`) draws each probe's outcome straight from the arena (no text, no
models): per batch the strategy is reseeded, proposes specs, the arena draws policy and RM failures
independently, and the strategy observes the typed outcomes. Coverage is recorded after every
batch; checkpoints read the curve at given probe counts.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ares_rlhf.records import FailureType
from ares_rlhf.search.base import Outcome, SearchStrategy, create_strategy
from ares_rlhf.sim.arena import Arena, CoverageTracker

DEFAULT_CHECKPOINTS = (500, 1000, 2000, 4000)
ORACLE = "oracle"
"""The reference that knows the systemic set (:mod:`ares_rlhf.sim.oracle`); bench-only."""
REFERENCES: dict[str, tuple[str, dict[str, Any]]] = {
    "uniform": ("uniform", {"replace": False}),
    "oracle": (ORACLE, {}),
}
"""Reference curves of every report: uniform sampling WITHOUT replacement, and the oracle."""


def make_strategy(
    arena: Arena, strategy: str, seed: int, options: dict[str, Any] | None = None
) -> SearchStrategy:
    """A registered strategy over the arena's catalog, or the arena's oracle (``oracle``)."""
    if strategy == ORACLE:
        from ares_rlhf.sim.oracle import OracleStrategy

        return OracleStrategy(arena, seed=seed)
    return create_strategy(strategy, arena.catalog, seed=seed, **(options or {}))


def failure_type_of(policy_failed: bool, rm_failed: bool) -> FailureType:
    if policy_failed and rm_failed:
        return FailureType.SYSTEMIC
    if policy_failed:
        return FailureType.POLICY_ONLY
    if rm_failed:
        return FailureType.RM_ONLY
    return FailureType.NONE


@dataclass
class SeedRun:
    """One strategy run on one arena with one seed."""

    seed: int
    probes: list[int] = field(default_factory=list)
    """Probe count after each batch (the curve's x values)."""
    coverage: list[float] = field(default_factory=list)
    regions_touched: list[int] = field(default_factory=list)
    systemic_probes: int = 0
    seconds: float = 0.0

    def coverage_at(self, probes: int) -> float:
        """Coverage after the last batch that ended at or before ``probes``."""
        best = 0.0
        for x, y in zip(self.probes, self.coverage, strict=True):
            if x > probes:
                break
            best = y
        return best

    def regions_at(self, probes: int) -> int:
        best = 0
        for x, y in zip(self.probes, self.regions_touched, strict=True):
            if x > probes:
                break
            best = y
        return best


def simulate(
    arena: Arena,
    strategy: str,
    budget: int,
    seed: int,
    *,
    batch_size: int = 16,
    options: dict[str, Any] | None = None,
) -> SeedRun:
    """Run ``strategy`` for ``budget`` probes on ``arena`` with outcomes drawn from the arena."""
    search = make_strategy(arena, strategy, seed, options)
    outcome_rng = np.random.default_rng([arena.seed, seed, 104729])
    tracker = CoverageTracker(arena)
    run = SeedRun(seed=seed)
    start = time.perf_counter()
    batch = 0
    while tracker.probes < budget:
        n = min(batch_size, budget - tracker.probes)
        search.reseed(batch)
        specs = search.propose(n)
        indices = arena.indices(specs)
        policy_failed, rm_failed = arena.draw(indices, outcome_rng)
        search.observe(
            [
                Outcome(spec, failure_type_of(bool(p), bool(r)), bool(p), bool(r))
                for spec, p, r in zip(specs, policy_failed, rm_failed, strict=True)
            ]
        )
        tracker.add(indices, policy_failed & rm_failed)
        run.probes.append(tracker.probes)
        run.coverage.append(tracker.coverage)
        run.regions_touched.append(tracker.regions_touched)
        batch += 1
    run.systemic_probes = tracker.systemic_probes
    run.seconds = time.perf_counter() - start
    return run


@dataclass
class BenchResult:
    """Coverage curves of one strategy on one arena over several seeds."""

    arena: Arena
    strategy: str
    budget: int
    checkpoints: list[int]
    runs: list[SeedRun]
    mode: str = "fast"
    probes_per_second: float | None = None

    def mean_coverage(self) -> dict[str, float]:
        return {
            str(c): float(np.mean([r.coverage_at(c) for r in self.runs])) for c in self.checkpoints
        }

    def mean_regions(self) -> dict[str, float]:
        return {
            str(c): float(np.mean([r.regions_at(c) for r in self.runs])) for c in self.checkpoints
        }

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "strategy": self.strategy,
            "arena": self.arena.name,
            "arena_file": self.arena.source,
            "mode": self.mode,
            "budget": self.budget,
            "seeds": [r.seed for r in self.runs],
            "systemic_combinations": self.arena.systemic_count,
            "combinations": self.arena.combination_count,
            "regions": len(self.arena.regions),
            "per_seed_coverage": {
                str(r.seed): {str(c): r.coverage_at(c) for c in self.checkpoints} for r in self.runs
            },
            "mean_coverage": self.mean_coverage(),
            "mean_regions_touched": self.mean_regions(),
            "seconds_per_seed": float(np.mean([r.seconds for r in self.runs])),
        }
        if self.probes_per_second is not None:
            out["probes_per_second"] = self.probes_per_second
        return out


def run_benchmark(
    arena: Arena,
    strategy: str,
    budget: int,
    seeds: int | Sequence[int],
    *,
    checkpoints: Sequence[int] = DEFAULT_CHECKPOINTS,
    batch_size: int = 16,
    options: dict[str, Any] | None = None,
) -> BenchResult:
    """The fast-path benchmark over seeds ``0..seeds-1`` (or the given seed list)."""
    seed_list = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    points = sorted({c for c in checkpoints if c <= budget} | {budget})
    runs = [
        simulate(arena, strategy, budget, s, batch_size=batch_size, options=options)
        for s in seed_list
    ]
    return BenchResult(arena, strategy, budget, points, runs)


def reference_results(
    arena: Arena,
    budget: int,
    seeds: int | Sequence[int],
    *,
    checkpoints: Sequence[int] = DEFAULT_CHECKPOINTS,
    batch_size: int = 16,
) -> dict[str, BenchResult]:
    """The reference curves (fast path, same seeds): ``uniform`` (without replacement), ``oracle``."""
    out = {}
    for label, (strategy, options) in REFERENCES.items():
        result = run_benchmark(
            arena,
            strategy,
            budget,
            seeds,
            checkpoints=checkpoints,
            batch_size=batch_size,
            options=options,
        )
        result.strategy = label
        out[label] = result
    return out


def ratios(result: BenchResult, references: dict[str, BenchResult]) -> dict[str, dict[str, Any]]:
    """Per checkpoint: ``result`` mean coverage divided by each reference's (None where 0)."""
    mine = result.mean_coverage()
    out: dict[str, dict[str, Any]] = {}
    for label, reference in references.items():
        theirs = reference.mean_coverage()
        out[label] = {
            c: (mine[c] / theirs[c] if theirs.get(c) else None) for c in mine if c in theirs
        }
    return out


def curve_table(results: Sequence[BenchResult]) -> list[list[str]]:
    """Rows ``probes, <strategy> coverage...`` at each checkpoint (mean over seeds)."""
    points = sorted({c for r in results for c in r.checkpoints})
    header = ["probes"] + [f"{r.strategy} ({r.arena.name})" for r in results]
    rows = [header]
    for c in points:
        rows.append(
            [str(c)] + [f"{r.mean_coverage().get(str(c), float('nan')):.3f}" for r in results]
        )
    return rows


def write_csv(result: BenchResult, path: Path) -> Path:
    """Per-batch curve, one row per (seed, probes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["arena", "strategy", "seed", "probes", "coverage", "regions_touched"])
        for run in result.runs:
            for x, y, z in zip(run.probes, run.coverage, run.regions_touched, strict=True):
                writer.writerow([result.arena.name, result.strategy, run.seed, x, f"{y:.6f}", z])
    return path


def plot_curves(results: Sequence[BenchResult], path: Path, title: str = "") -> Path:
    """Mean coverage vs probes (with the min-max band over seeds), one line per result."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for result in results:
        x = np.asarray(result.runs[0].probes)
        ys = np.array([r.coverage for r in result.runs])
        ax.plot(x, ys.mean(axis=0), label=f"{result.strategy} ({result.arena.name})")
        ax.fill_between(x, ys.min(axis=0), ys.max(axis=0), alpha=0.2)
    ax.set_xlabel("probes")
    ax.set_ylabel("coverage of systemic combinations")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    ax.set_title(title or f"discovery coverage ({len(results[0].runs)} seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def full_loop_run(
    arena: Arena,
    strategy: str,
    budget: int,
    seed: int,
    run_dir: Path,
    *,
    batch_size: int = 16,
    options: dict[str, Any] | None = None,
) -> tuple[SeedRun, dict[str, Any]]:
    """Run the REAL discovery loop (template Mentor, ``sim:`` policy and RM, refusal judge).

    Probes go through text, the judge and the typing rules; coverage is computed from the stored
    type-C probes. Returns the run's curve and the loop's summary (with probes/s).
    """
    from ares_rlhf.config import parse_config
    from ares_rlhf.discovery.loop import PHASE, run_discovery
    from ares_rlhf.run import Run
    from ares_rlhf.sim.backend import SimulatedPolicy, SimulatedRewardModel
    from ares_rlhf.store.sqlite import RunStore

    arena_file = str(Path(arena.source).resolve()) if arena.source else arena.name
    data = {
        "name": f"bench-{arena.name}-{strategy}-{seed}",
        "seed": seed,
        "output_dir": str(run_dir.parent),
        "catalog": [arena.catalog_source]
        if arena.catalog_source == "builtin"
        else list(arena.catalog.sources),
        "policy": {"spec": f"sim:{arena_file}"},
        "reward_model": {"spec": f"sim:{arena_file}"},
        "mentor": {"kind": "template"},
        "judge": {"kind": "refusal"},
        "search": {"strategy": strategy, "options": dict(options or {})},
        "budget": {"probes": budget, "batch_size": batch_size},
    }
    config = parse_config(data, "<bench>")
    store = RunStore.create(run_dir, data)
    search = create_strategy(strategy, arena.catalog, seed=seed, **(options or {}))
    try:
        start = time.perf_counter()
        summary = run_discovery(
            Run(store, config),
            policy=SimulatedPolicy(arena),
            reward_model=SimulatedRewardModel(arena),
            strategy=search,
        )
        seconds = time.perf_counter() - start
        tracker = CoverageTracker(arena)
        run = SeedRun(seed=seed, seconds=seconds)
        batch: list[Any] = []
        current: int | None = None

        def flush() -> None:
            tracker.add(
                arena.indices([p.spec for p in batch]),
                np.array([p.failure_type is FailureType.SYSTEMIC for p in batch]),
            )
            run.probes.append(tracker.probes)
            run.coverage.append(tracker.coverage)
            run.regions_touched.append(tracker.regions_touched)

        for probe in store.iter_probes(PHASE):
            if current is not None and probe.batch != current and batch:
                flush()
                batch = []
            current = probe.batch
            batch.append(probe)
        if batch:
            flush()
        run.systemic_probes = tracker.systemic_probes
        info = summary.as_dict()
        info["probes_per_second"] = tracker.probes / seconds if seconds > 0 else None
        return run, info
    finally:
        store.close()
