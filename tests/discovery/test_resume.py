"""Resuming discovery: after SIGKILL or an exception, nothing is lost or duplicated, and the
resumed run proposes exactly what an uninterrupted run with the same seed proposes."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ares_rlhf.discovery.loop import STATE_KEY, batch_seed, resume_discovery, run_discovery
from ares_rlhf.run import Run
from ares_rlhf.store.sqlite import RunStore
from ares_rlhf.taxonomy import load_catalog

from .conftest import CountingStrategy, LengthRM, PrefixJudge, SpecPolicy, make_config

PROBES, BATCH = 120, 12


def fingerprint(run_dir: Path) -> list[tuple]:
    with RunStore.open(run_dir) as store:
        return [
            (p.batch, p.spec.key, p.prompt, p.policy_response, p.failure_type.value)
            for p in store.probes()
        ]


def components(**over):
    return {
        "policy": SpecPolicy(),
        "reward_model": LengthRM(),
        "judge": PrefixJudge(),
        "strategy": CountingStrategy(load_catalog(), seed=0),
        **over,
    }


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> list[tuple]:
    run_dir = tmp_path_factory.mktemp("full") / "run"
    config = make_config(probes=PROBES, batch_size=BATCH)
    with RunStore.create(run_dir, config.model_dump(mode="json")) as store:
        run_discovery(Run(store, config), **components())
    return fingerprint(run_dir)


def test_resume_after_sigkill(tmp_path, uninterrupted) -> None:
    run_dir = tmp_path / "run"
    # the first policy call of batch 4 (known by its sampling seed; a batch with multi-turn
    # probes calls the policy once per turn): batches 0-3 are committed, batch 4 is lost
    kill_seed = batch_seed(0, 4)
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from conftest import CountingStrategy, LengthRM, PrefixJudge, SpecPolicy, make_config
        from ares_rlhf.discovery.loop import run_discovery
        from ares_rlhf.run import Run
        from ares_rlhf.store.sqlite import RunStore
        from ares_rlhf.taxonomy import load_catalog

        class KilledPolicy(SpecPolicy):
            def generate(self, conversations, params=None):
                if params is not None and params.seed == {kill_seed}:
                    os.kill(os.getpid(), signal.SIGKILL)
                return super().generate(conversations, params)

        config = make_config(probes={PROBES}, batch_size={BATCH})
        store = RunStore.create({str(run_dir)!r}, config.model_dump(mode="json"))
        run_discovery(Run(store, config), policy=KilledPolicy(), reward_model=LengthRM(),
                      judge=PrefixJudge(), strategy=CountingStrategy(load_catalog(), seed=0))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == -signal.SIGKILL, done.stderr

    with RunStore.open(run_dir) as store:
        assert store.count_probes() == 4 * BATCH
        assert store.get_state(STATE_KEY)["next_batch"] == 4
    assert fingerprint(run_dir) == uninterrupted[: 4 * BATCH]

    strategy = CountingStrategy(load_catalog(), seed=0)
    summary = resume_discovery(run_dir, **components(strategy=strategy))
    assert strategy.observed == PROBES  # replayed 48 stored outcomes + observed the new 72
    assert summary.probes == PROBES
    resumed = fingerprint(run_dir)
    assert resumed == uninterrupted
    with RunStore.open(run_dir) as store:
        ids = [p.id for p in store.probes()]
        assert len(ids) == len(set(ids)) == PROBES
        assert store.get_state(STATE_KEY)["done"]


def test_resume_after_exception_and_partial_runs(tmp_path, uninterrupted) -> None:
    class FailingPolicy(SpecPolicy):
        def generate(self, conversations, params=None):
            if params is not None and params.seed == batch_seed(0, 6):  # batch 6
                raise RuntimeError("device lost")
            return super().generate(conversations, params)

    config = make_config(probes=PROBES, batch_size=BATCH)
    run_dir = tmp_path / "run"
    with RunStore.create(run_dir, config.model_dump(mode="json")) as store:
        with pytest.raises(RuntimeError, match="device lost"):
            run_discovery(Run(store, config), **components(policy=FailingPolicy()))
        assert store.count_probes() == 6 * BATCH
    # continue a couple of batches at a time, each in a fresh process-like setup
    for _ in range(2):
        with RunStore.open(run_dir) as store:
            run_discovery(Run(store, config), max_batches=1, **components())
    with RunStore.open(run_dir) as store:
        assert store.count_probes() == 8 * BATCH
    summary = resume_discovery(run_dir, **components())
    assert summary.probes == PROBES
    assert fingerprint(run_dir) == uninterrupted


def test_resume_of_finished_run_adds_nothing(tmp_path) -> None:
    config = make_config(probes=24, batch_size=12)
    run_dir = tmp_path / "run"
    with RunStore.create(run_dir, config.model_dump(mode="json")) as store:
        run_discovery(Run(store, config), **components())
    before = fingerprint(run_dir)
    policy = SpecPolicy()
    summary = resume_discovery(run_dir, **components(policy=policy))
    assert policy.calls == 0 and summary.probes == 24
    assert fingerprint(run_dir) == before


def test_same_seed_same_run_other_seed_other_run(tmp_path, uninterrupted) -> None:
    config = make_config(probes=PROBES, batch_size=BATCH)
    with RunStore.create(tmp_path / "again", config.model_dump(mode="json")) as store:
        run_discovery(Run(store, config), **components())
    assert fingerprint(tmp_path / "again") == uninterrupted
    other = make_config(probes=PROBES, batch_size=BATCH, seed=1)
    with RunStore.create(tmp_path / "other", other.model_dump(mode="json")) as store:
        run_discovery(Run(store, other), **components(strategy=CountingStrategy(load_catalog(), seed=1)))
    assert fingerprint(tmp_path / "other") != uninterrupted
