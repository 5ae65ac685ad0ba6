"""Benchmark answering throughput: ``evaluation.safety.answer_suite`` vs a bare batched generate.

All runs answer the same HarmBench prompts (standard behaviors, a seeded sample) with the same
model and settings: greedy, ``--max-new-tokens``, ``--batch-size``, the backend's prompt
rendering, end-of-sequence ids and stop strings. Three pipelines:

* **bare**: transformers ``model.generate`` on tokenized prompts, sorted by token length and
  left-padded per batch, as a user would write it by hand;
* **backend**: ``HFChatModel.generate`` on all prompts at once (ARES's batched generate);
* **ours**: ``answer_suite`` (what ``ares eval`` runs per system): length-sorted batches through
  the backend, the refusal judge on every answer and one run-store transaction per batch, into a
  fresh store each time (nothing cached).

The policy is the embedded one when it is already built in the cache, else
``gguf-pkg:gemma3-270m`` with ``chat_format: plain``. Runs are interleaved and repeated; the best
of ``--repeats`` counts for each. ``ratio`` = ours / bare throughput in CPU time of this process
(on a shared machine the wall time of identical runs varies much more); ``ratio_wall`` is the same
in wall time. Torch runs on ``--threads`` threads (1 by default: on a busy machine, waiting
threads spin and inflate the CPU time of multi-threaded runs). Target: ratio >= 0.8.

    HF_HUB_OFFLINE=1 python benchmarks/benchmark_answering.py [--prompts 64 --max-new-tokens 40]

Prints a table, then (last line) one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def choose_policy(dtype: str) -> tuple[str, dict]:
    """The embedded policy if it is cached (never built here), else the packaged Gemma base."""
    from ares_rlhf.backends.gguf_pkg import is_complete
    from ares_rlhf.embedded.policy import policy_cache_dir

    if is_complete(policy_cache_dir()):
        return "embedded:policy", {"device": "cpu", "dtype": dtype}
    return "gguf-pkg:gemma3-270m", {"device": "cpu", "dtype": dtype, "chat_format": "plain"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="folder with harmbench/")
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--max-new-tokens", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=16, help="the demo's policy batch size")
    parser.add_argument(
        "--dtype", default="float32", help="bfloat16 is emulated (slow) on CPUs without avx512_bf16"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from ares_rlhf.runtime import tune_allocator

    tune_allocator()
    import torch

    torch.set_num_threads(args.threads)
    from transformers import StoppingCriteriaList
    from transformers.generation.stopping_criteria import StopStringCriteria

    from ares_rlhf.backends import ChatModel, SamplingParams, create_chat_model
    from ares_rlhf.evaluation.benchmarks import load_harmbench
    from ares_rlhf.evaluation.safety import PolicySystem, answer_suite
    from ares_rlhf.judges.refusal import RefusalJudge
    from ares_rlhf.store.sqlite import RunStore

    spec, options = choose_policy(args.dtype)
    started = time.perf_counter()
    backend = create_chat_model(spec, batch_size=args.batch_size, **options)
    load_seconds = time.perf_counter() - started
    items = load_harmbench(args.data, limit=args.prompts, seed=args.seed)
    suite = {"harmbench": items}
    conversations = [[{"role": "user", "content": item.prompt}] for item in items]
    sampling = SamplingParams(max_new_tokens=args.max_new_tokens)
    judge = RefusalJudge()

    model, tokenizer = backend.model, backend.tokenizer
    texts = [backend.render(c) for c in conversations]
    add_special = not backend.uses_chat_template
    encoded = [tokenizer(t, add_special_tokens=add_special)["input_ids"] for t in texts]
    stops = backend._stop_strings()
    criteria = StoppingCriteriaList([StopStringCriteria(tokenizer, stops)]) if stops else None
    eos = backend._eos_ids() or None
    pad_id = tokenizer.pad_token_id

    def bare() -> list[str]:
        order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i]))
        answers = [""] * len(encoded)
        for start in range(0, len(order), args.batch_size):
            chunk = order[start : start + args.batch_size]
            width = max(len(encoded[i]) for i in chunk)
            ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for row, i in enumerate(chunk):
                ids[row, width - len(encoded[i]) :] = torch.tensor(encoded[i])
                mask[row, width - len(encoded[i]) :] = 1
            with torch.inference_mode():
                output = model.generate(
                    input_ids=ids,
                    attention_mask=mask,
                    max_new_tokens=args.max_new_tokens,
                    do_sample=False,
                    temperature=None,
                    top_p=None,
                    top_k=None,
                    pad_token_id=pad_id,
                    eos_token_id=eos,
                    stopping_criteria=criteria,
                )
            decoded = tokenizer.batch_decode(output[:, width:], skip_special_tokens=True)
            for i, text in zip(chunk, decoded, strict=True):
                for stop in stops:
                    text = text.split(stop)[0]
                answers[i] = text.strip()
        return answers

    def through_backend() -> list[str]:
        return backend.generate(conversations, sampling)

    class Shared(ChatModel):
        """The loaded backend, lent to ``answer_suite`` without being closed by it."""

        model_id = backend.model_id
        batch_size = args.batch_size

        def generate(self, conversations, params=None):
            return backend.generate(conversations, params)

    def ours() -> list[str]:
        with tempfile.TemporaryDirectory() as folder:
            with RunStore.create(Path(folder) / "run", {}) as store:
                answers = answer_suite(
                    store,
                    PolicySystem("bench", Shared),
                    suite,
                    judge=judge,
                    sampling=sampling,
                )
        return [answers.answers[("harmbench", item.id)].answer for item in items]

    backend.generate(conversations[:2], sampling)  # warm-up: kernels, stop-string tables
    runs = {"bare": bare, "backend": through_backend, "ours": ours}
    cpu: dict[str, list[float]] = {name: [] for name in runs}
    wall: dict[str, list[float]] = {name: [] for name in runs}
    outputs: dict[str, list[str]] = {}
    for repeat in range(args.repeats):
        names = list(runs) if repeat % 2 == 0 else list(reversed(runs))  # alternate the order
        for name in names:
            wall_start, cpu_start = time.perf_counter(), time.process_time()
            outputs[name] = runs[name]()
            wall[name].append(time.perf_counter() - wall_start)
            cpu[name].append(time.process_time() - cpu_start)
            print(f"  run {repeat + 1} {name}: {wall[name][-1]:.1f} s wall", flush=True)
    backend.close()

    count = len(items)
    best_cpu = {name: min(values) for name, values in cpu.items()}
    best_wall = {name: min(values) for name, values in wall.items()}
    print(
        f"policy {spec} ({args.dtype}), {count} HarmBench prompts, max_new_tokens "
        f"{args.max_new_tokens}, batch {args.batch_size}, threads {torch.get_num_threads()}, "
        f"load {load_seconds:.1f} s"
    )
    print(
        f"{'pipeline':<9} {'cpu s (best)':>13} {'wall s (best)':>14} {'prompts/s cpu':>14} runs (wall)"
    )
    for name in runs:
        print(
            f"{name:<9} {best_cpu[name]:>13.1f} {best_wall[name]:>14.1f} "
            f"{count / best_cpu[name]:>14.2f} {' '.join(f'{w:.1f}' for w in wall[name])}"
        )
    same = sum(a == b for a, b in zip(outputs["ours"], outputs["bare"], strict=True))
    ratio = best_cpu["bare"] / best_cpu["ours"]
    ratio_wall = best_wall["bare"] / best_wall["ours"]
    print(
        f"ratio ours/bare (cpu) {ratio:.2f}, (wall) {ratio_wall:.2f}; identical answers {same}/{count}"
    )
    print(
        json.dumps(
            {
                "policy": spec,
                "dtype": args.dtype,
                "prompts": count,
                "max_new_tokens": args.max_new_tokens,
                "batch_size": args.batch_size,
                "repeats": args.repeats,
                "cpu_seconds": {k: round(v, 2) for k, v in best_cpu.items()},
                "wall_seconds": {k: round(v, 2) for k, v in best_wall.items()},
                "ratio": round(ratio, 3),
                "ratio_wall": round(ratio_wall, 3),
                "ratio_backend_vs_bare": round(best_cpu["bare"] / best_cpu["backend"], 3),
                "identical_answers": same,
                "target_ratio": 0.8,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
