"""The GPU path in one run (issue 20): CUDA tests, a tiny ``ares run``, backend vs bare throughput,
and policy / RM repair steps at the paper's shapes, on one device (``--device cuda`` or ``cpu``).

Parts, in this order (``--parts`` / ``--skip`` pick some):

* ``tests``: ``pytest -m cuda tests/backends`` in a subprocess (counts from its JUnit XML).
* ``pipeline``: ``ares run`` (``python -m ares_rlhf.cli run``) on tiny models with ``device:`` set
  to the device (bf16 on CUDA), GRPO LoRA policy repair, full RM repair; every stage must finish.
* ``rm_scoring``: ``HFRewardModel.score`` vs a bare batched forward of the same model on the same
  pairs (render, tokenize, sort by length, right-pad, forward); ratio = bare / backend seconds.
* ``generation``: ``HFChatModel.generate`` vs a bare batched ``model.generate`` of the same
  left-padded prompts in the same batches (greedy); ratio = bare / backend seconds.
* ``grpo_lora``, ``dpo_lora``, ``grpo_full``, ``dpo_full``: optimizer steps through the stage's own
  trainers (``repair.policy.trainers.online_trainer`` / ``dpo_trainer``, a ``PolicyRepairConfig``
  with the paper config's values, the GRPO reward ``RepairReward`` over the RM backend): step
  time and peak device memory. A part that runs out of memory is recorded, then retried once
  with ``trainer_options: {activation_checkpointing: true}`` (which a user's config can set).
* ``dpo_sampling``: dpo-rm's ``build_preference_pairs`` (sampling + ranking) for one batch.
* ``rm_train``: RM repair's ``RewardModelTrainer`` (TRL RewardTrainer) at the RM's shape.

Models are random, built once on the device from published configs (``gpu_parts.py``):
Qwen3-1.7B dimensions for the policy, Qwen3-4B's (the base of the paper's RM,
Skywork-Reward-V2-Qwen3-4B) for a one-output RM, with the real 151,936-token vocabulary and the
project's tiny tokenizer. ``--size paper`` (default on CUDA) uses the paper config's shapes;
``tiny`` (default on CPU) and ``smoke`` (the CI test) shrink everything. Times are wall seconds
after a device sync on CUDA, this process's CPU seconds on CPU.

    python benchmarks/gpu_step.py [--device cuda|cpu] [--size paper|tiny|smoke] [--json-out F]

Prints a table, then (last line) one JSON object with every figure; ``--json-out`` rewrites it
after each part, so a run stopped at its time limit keeps what it measured.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gpu_parts import (  # noqa: E402
    SIZES,
    Device,
    build_model,
    time_dpo_sampling,
    time_generation,
    time_policy_step,
    time_rm_scoring,
    time_rm_train,
)

REPO = Path(__file__).resolve().parents[1]
PARTS = (
    "tests", "pipeline", "rm_scoring", "generation", "grpo_lora", "dpo_lora", "grpo_full",
    "dpo_full", "dpo_sampling", "rm_train",
)
CUDA_DEADLINE_S = 420.0
"""On CUDA no part starts after this many seconds (the device run is given about 9 minutes)."""


def child_env() -> dict[str, str]:
    """This process's environment with ``ares_rlhf``'s source folder on PYTHONPATH."""
    import ares_rlhf

    source = str(Path(ares_rlhf.__file__).resolve().parents[1])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (source, env.get("PYTHONPATH")) if p)
    return env


def run_cuda_tests(paths: list[str], timeout: float) -> dict[str, Any]:
    """``pytest -m cuda PATHS`` in a subprocess; pass/fail/skip counts from its JUnit XML."""
    import xml.etree.ElementTree as ElementTree

    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    with tempfile.TemporaryDirectory() as scratch:
        junit = Path(scratch) / "junit.xml"
        command = [sys.executable, "-m", "pytest", "-m", "cuda", "-q", "-p", "no:cacheprovider",
                   f"--junitxml={junit}", *paths]
        started = time.perf_counter()
        done = subprocess.run(
            command, cwd=REPO, env=child_env(), capture_output=True, text=True, timeout=timeout
        )
        seconds = time.perf_counter() - started
        if junit.is_file():
            suite = ElementTree.parse(junit).getroot()
            suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
            counts = {key: int(suite.get(key, 0)) for key in counts}
    result = {
        "passed": counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"],
        "failed": counts["failures"], "errors": counts["errors"], "skipped": counts["skipped"],
        "returncode": done.returncode, "seconds": round(seconds, 1), "paths": paths,
    }
    if done.returncode not in (0, 5):  # 5: no test collected
        result["output_tail"] = (done.stdout + done.stderr)[-4000:]
    return result


def pipeline_config(lm: Path, rm: Path, dev: Device, dtype: str, output_dir: Path) -> dict:
    """A tiny run (like ``tests/test_pipeline.py``'s) with policy and RM on the device."""
    return {
        "name": "gpu-check", "seed": 0, "output_dir": str(output_dir),
        "policy": {"spec": f"hf:{lm}", "device": dev.name, "dtype": dtype,
                   "generation": {"max_new_tokens": 8, "temperature": 1.0, "batch_size": 16}},
        "reward_model": {"spec": f"hf:{rm}", "device": dev.name, "dtype": dtype,
                         "max_length": 128},
        "typing": {"calibration_probes": 8},
        "budget": {"probes": 24, "batch_size": 12},
        "repair_rm": {"method": "full", "epochs": 1, "batch_size": 8, "max_length": 128},
        "repair_policy": {"algorithm": "grpo", "method": "lora", "steps": 1, "num_generations": 2,
                          "max_new_tokens": 6, "batch_size": 2, "lora_r": 4},
    }


def run_pipeline(dev: Device, timeout: float) -> dict[str, Any]:
    """``ares run`` on tiny models on the device, in a temp folder; completed = every stage ran."""
    import yaml

    from ares_rlhf.testing.tiny import build_tiny_causal_lm, build_tiny_reward_model

    dtype = "bfloat16" if dev.cuda else "auto"
    with tempfile.TemporaryDirectory(prefix="ares-gpu-pipeline-") as scratch:
        root = Path(scratch)
        lm, rm = build_tiny_causal_lm(root / "lm"), build_tiny_reward_model(root / "rm")
        config = root / "config.yaml"
        config.write_text(yaml.safe_dump(pipeline_config(lm, rm, dev, dtype, root / "runs")))
        run_dir = root / "runs" / "one"
        command = [sys.executable, "-m", "ares_rlhf.cli", "run", str(config), "--run-dir",
                   str(run_dir), "--no-progress"]
        started = time.perf_counter()
        done = subprocess.run(
            command, cwd=root, env=child_env(), capture_output=True, text=True, timeout=timeout
        )
        seconds = time.perf_counter() - started
        summary_file = run_dir / "summary.json"
        summary = json.loads(summary_file.read_text()) if summary_file.is_file() else {}
    stages = summary.get("stage_seconds", {})
    completed = done.returncode == 0 and bool(stages) and not summary.get("missing_stages")
    result = {
        "completed": completed, "returncode": done.returncode, "seconds": round(seconds, 1),
        "stages": list(stages), "stage_seconds": stages, "device": dev.name, "dtype": dtype,
    }
    if not completed:
        result["output_tail"] = (done.stdout + done.stderr)[-4000:]
    return result


def versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    found: dict[str, str | None] = {}
    for name in ("torch", "transformers", "trl", "peft", "accelerate", "datasets", "pyarrow",
                 "pydantic", "tokenizers", "huggingface_hub"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def describe(name: str, r: dict[str, Any]) -> str:
    """One readable line for a part's figures."""
    if "not_run" in r:
        return f"not run: {r['not_run']}"
    if "error" in r and not r.get("oom"):
        return f"ERROR {r['error']}"
    if name == "tests":
        return (f"{r['passed']} passed, {r['failed']} failed, {r['errors']} errors, "
                f"{r['skipped']} skipped ({r['seconds']} s)")
    if name == "pipeline":
        state = "completed" if r["completed"] else f"FAILED (rc {r['returncode']})"
        return f"{state}: {len(r['stages'])} stages on {r['device']} in {r['seconds']} s"
    if name in ("rm_scoring", "generation"):
        check = (f"max |score diff| {r['max_abs_score_diff']:.2g}" if name == "rm_scoring"
                 else f"identical answers {r['identical_answers']}/{r['prompts']}")
        return (f"backend {r['backend_s']} s ({r['backend_tokens_per_s']:.0f} tok/s) vs bare "
                f"{r['bare_s']} s ({r['bare_tokens_per_s']:.0f} tok/s): ratio {r['ratio']:.3f}; "
                f"{check}")
    memory = "" if r.get("peak_gib") is None else f", peak {r['peak_gib']} GiB"
    if name == "dpo_sampling":
        return (f"{r['prompts']} prompts x {r['samples']} samples x {r['max_new_tokens']} tokens: "
                f"{r['seconds']} s, {r['pairs']} pairs{memory}")
    checkpointed = " (activation checkpointing)" if r.get("activation_checkpointing") else ""
    if r.get("oom"):
        return f"OUT OF MEMORY{checkpointed}{memory}"
    rate = r.get("completion_tokens_per_step_s")
    rate = "" if rate is None else f", {rate:.0f} completion tok/s"
    return (f"step {r['step_s']} s (first {r['first_step_s']} s, {r['steps']} steps, "
            f"{r['sequences_per_step']} sequences{rate}){memory}{checkpointed}")


class Report:
    """The figures so far: rewritten to ``path`` after every part, printed at the end."""

    def __init__(self, path: Path | None, head: dict[str, Any]) -> None:
        self.path = path
        self.head = head
        self.parts: dict[str, Any] = {}

    def add(self, name: str, result: dict[str, Any]) -> None:
        self.parts[name] = result
        print(f"  {name:<24} {describe(name.split('_checkpointed')[0], result)}", flush=True)
        self.write()

    def payload(self) -> dict[str, Any]:
        return {**self.head, **self.parts}

    def write(self) -> None:
        if self.path is not None:
            tmp = self.path.with_name(self.path.name + ".tmp")
            tmp.write_text(json.dumps(self.payload(), indent=1), encoding="utf-8")
            tmp.replace(self.path)


class Session:
    """The models (built once, on first use) and the runner of each part."""

    def __init__(self, dev: Device, size: Any, dtype: Any, report: Report, args: Any) -> None:
        from ares_rlhf.testing.tiny import train_tokenizer

        self.dev, self.size, self.dtype, self.report, self.args = dev, size, dtype, report, args
        self.tokenizer = train_tokenizer()
        self.models: dict[str, Any] = {}

    def model(self, kind: str) -> Any:
        if kind not in self.models:
            shape = self.size.rm if kind == "rm" else self.size.policy
            self.models[kind] = build_model(
                shape, self.tokenizer, self.dev, self.dtype, reward=kind == "rm"
            )
        return self.models[kind]

    def rm_backend(self) -> Any:
        from ares_rlhf.backends.hf import HFRewardModel

        size = self.size
        model = self.model("rm")
        return HFRewardModel(
            model, self.tokenizer, max_length=size.rm_max_length, batch_size=size.rm_batch
        )

    def run(self, name: str, timeout: float) -> dict[str, Any]:
        dev, size, tok = self.dev, self.size, self.tokenizer
        if name == "tests":
            return run_cuda_tests(self.args.test_paths.split(","), timeout)
        if name == "pipeline":
            return run_pipeline(dev, timeout)
        if name == "rm_scoring":
            return time_rm_scoring(self.model("rm"), tok, size, dev)
        if name == "generation":
            return time_generation(self.model("policy"), tok, size, dev)
        if name == "dpo_sampling":
            return time_dpo_sampling(self.model("policy"), tok, self.rm_backend(), size, dev)
        if name == "rm_train":
            result = time_rm_train(self.model("rm"), tok, size, dev, checkpointing=False)
            if result.get("oom"):
                self.report.add(name, result)
                retry = time_rm_train(self.model("rm"), tok, size, dev, checkpointing=True)
                result = {"_name": f"{name}_checkpointed", **retry}
            return result
        return self.policy_step(name)

    def policy_step(self, name: str) -> dict[str, Any]:
        algorithm, method = name.split("_")
        algorithm = {"dpo": "dpo-rm"}.get(algorithm, algorithm)
        for checkpointing in (False, True):
            try:
                result, self.models["policy"] = time_policy_step(
                    self.model("policy"), self.tokenizer, self.rm_backend(), self.size, self.dev,
                    algorithm, method, checkpointing,
                )
            except Exception:
                self.models.pop("policy", None)  # its state is unknown: build it again next time
                raise
            if not result.get("oom") or checkpointing:
                break
            self.report.add(name, result)  # the stage's own settings did not fit; retry
        return {"_name": f"{name}_checkpointed", **result} if checkpointing else result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", help="cuda or cpu (default: cuda when torch sees one)")
    parser.add_argument("--size", choices=sorted(SIZES), help="default: paper on CUDA, else tiny")
    parser.add_argument("--parts", default=",".join(PARTS), help="comma list (default: all)")
    parser.add_argument("--skip", default="", help="comma list of parts to leave out")
    parser.add_argument("--test-paths", default="tests/backends", help="where -m cuda looks")
    parser.add_argument("--deadline-s", type=float, help="start no part after this many seconds "
                        f"(default {CUDA_DEADLINE_S:.0f} on CUDA, none on CPU)")
    parser.add_argument("--json-out", type=Path, help="also write the figures here")
    parser.add_argument("--threads", type=int, default=1, help="torch threads on CPU (default 1: "
                        "on a shared 2-core machine more threads made steps 20x slower)")
    args = parser.parse_args(argv)

    import torch

    from ares_rlhf.runtime import configure_console

    configure_console()  # library logging, bars and warnings as the CLI has them (ARES_VERBOSE=1)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        parser.error("--device cuda, but torch sees no CUDA device")
    wanted = {p.strip() for p in args.parts.split(",") if p.strip()}
    skip = {p.strip() for p in args.skip.split(",") if p.strip()}
    if (wanted | skip) - set(PARTS):
        parser.error(f"unknown part(s) {sorted((wanted | skip) - set(PARTS))}; known: {PARTS}")
    dev = Device(device)
    if not dev.cuda:
        torch.set_num_threads(args.threads)
    size = SIZES[args.size or ("paper" if dev.cuda else "tiny")]
    deadline = args.deadline_s if args.deadline_s is not None else (
        CUDA_DEADLINE_S if dev.cuda else None
    )
    dtype = torch.bfloat16 if dev.cuda and torch.cuda.is_bf16_supported() else torch.float32
    report = Report(args.json_out, {
        "benchmark": "gpu_step", "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "device": device, "gpu": torch.cuda.get_device_name(0) if dev.cuda else None,
        "cuda": torch.version.cuda if dev.cuda else None,
        "dtype": str(dtype).removeprefix("torch."), "size": size.name,
        "timing": "wall s after a device sync" if dev.cuda else "process CPU s",
        "threads": None if dev.cuda else torch.get_num_threads(),
        "versions": versions(), "sizes": asdict(size),
    })
    head, v = report.head, report.head["versions"]
    print(f"gpu_step: {head['gpu'] or device} ({head['dtype']}), size {size.name}, times in "
          f"{head['timing']}; torch {v['torch']}, transformers {v['transformers']}, "
          f"trl {v['trl']}, peft {v['peft']}; {head['date']}")
    started = time.perf_counter()
    session = Session(dev, size, dtype, report, args)
    for name in (p for p in PARTS if p in wanted and p not in skip):
        elapsed = time.perf_counter() - started
        if deadline is not None and elapsed > deadline:
            report.add(name, {"not_run": f"deadline ({elapsed:.0f} s > {deadline:.0f} s)"})
            continue
        left = 600.0 if deadline is None else max(60.0, deadline - elapsed + 60.0)
        part_started = time.perf_counter()
        try:
            result = session.run(name, timeout=left)
        except Exception as exc:  # a broken path is a finding: record it and carry on
            first = (str(exc).strip().splitlines() or [""])[0][:400]
            result = {"error": f"{type(exc).__name__}: {first}"}
        result.setdefault("wall_s", round(time.perf_counter() - part_started, 1))
        report.add(result.pop("_name", name), result)
    parts = report.parts
    ratios = {
        k: parts[k]["ratio"] for k in ("rm_scoring", "generation") if "ratio" in parts.get(k, {})
    }
    report.head.update(
        seconds=round(time.perf_counter() - started, 1), ratios=ratios, ratio_target=0.9,
        ratios_met=bool(ratios) and all(r >= 0.9 for r in ratios.values()),
        tests_ok=parts["tests"].get("returncode") in (0, 5) if "tests" in parts else None,
        pipeline_ok=parts["pipeline"].get("completed") if "pipeline" in parts else None,
    )
    report.write()
    print(f"total {report.head['seconds']} s")
    print(json.dumps(report.payload()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
