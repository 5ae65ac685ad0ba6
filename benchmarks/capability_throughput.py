"""Capability throughput: lm-eval through ``AresLM`` vs a bare batched forward pass.

Both score the same requests of the same items (ARC-Easy, PIQA, HellaSwag by default,
``--num-fewshot`` shots (0), ``--items`` per task drawn with ``--seed``) with the same model (``--model``, default
``gguf-pkg:gemma3-270m``) at the same batch size:

* **lm-eval**: :func:`ares_rlhf.evaluation.capability.evaluate_capability`, end to end (lm-eval
  builds the prompts from the offline files, tokenizes, calls ``AresLM``, scores acc/acc_norm);
* **bare**: the request strings prepared beforehand (untimed), then what a user would write by
  hand: tokenize each (context, continuation) pair the way lm-eval does, sort by length,
  right-pad batches and run the model, computing logits only at the continuation positions
  (``logits_to_keep`` mask), then log-softmax and gather. ``--full-logits`` adds the variant
  that computes logits at every position, as lm-eval's own ``hf`` model does.

``ratio`` = bare CPU time / lm-eval CPU time (throughput ratio, target >= 0.8); CPU time of
this process (torch on ``--threads`` threads, 1 by default) is steadier than wall time on a
shared machine; ``ratio_wall`` is the same in wall time. The log-probabilities of both paths
are compared (``max_abs_logprob_diff``) and so are the accuracies.

    python benchmarks/capability_throughput.py [--items 64 --tasks arc_easy piqa hellaswag]

Prints a table, then (last line) one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]


def default_data_dir() -> Path:
    shared = os.environ.get("ARES_SHARED_DATA")
    root = Path(shared) if shared else REPO.parent / "shared" / "data"
    return root / "capability"


def build_requests(tasks: list[str], data_dir: Path, items: int, seed: int, shots: int):
    """lm-eval's instances for the sampled items of each task (untimed preparation)."""
    from lm_eval.tasks import TaskManager

    from ares_rlhf.evaluation.capability import data, sample_indices
    from ares_rlhf.evaluation.capability.tasks import task_configs

    manager = TaskManager(include_defaults=False)
    prepared = {}
    for task in tasks:
        (config,) = task_configs(task, data_dir, shots)
        loaded = manager.load([config])["tasks"][task]
        total = len(data.read_task(task, data_dir))
        loaded.set_fewshot_seed(seed=seed)
        loaded.build_all_requests(samples=sample_indices(total, items, seed, task))
        prepared[task] = loaded
    return prepared


def bare_scores(model, tokenizer, pairs, batch_size: int, full_logits: bool) -> list[float]:
    """Log-probability of each continuation: hand-written, sorted, right-padded batches."""
    import torch

    encoded = []
    for context, continuation in pairs:  # lm-eval's rule: trailing spaces join the answer
        spaces = len(context) - len(context.rstrip())
        if spaces:
            context, continuation = context[:-spaces], context[-spaces:] + continuation
        whole = tokenizer.encode(context + continuation)
        encoded.append((whole, len(tokenizer.encode(context))))
    order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i][0]))
    scores = [0.0] * len(encoded)
    pad = tokenizer.pad_token_id or 0
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            width = max(len(encoded[i][0]) - 1 for i in chunk)
            ids = torch.full((len(chunk), width), pad, dtype=torch.long)
            keep = torch.zeros((len(chunk), width), dtype=torch.bool)
            for row, i in enumerate(chunk):
                whole, context_len = encoded[i]
                ids[row, : len(whole) - 1] = torch.tensor(whole[:-1])
                keep[row, context_len - 1 : len(whole) - 1] = True
            if full_logits:
                logits = torch.log_softmax(model(input_ids=ids).logits.float(), dim=-1)[keep]
            else:
                logits = torch.log_softmax(
                    model(input_ids=ids, logits_to_keep=keep).logits.float(), dim=-1
                )
            targets = torch.cat([torch.tensor(encoded[i][0][encoded[i][1] :]) for i in chunk])
            picked = logits.gather(1, targets[:, None])[:, 0]
            lengths = [len(encoded[i][0]) - encoded[i][1] for i in chunk]
            for i, part in zip(chunk, torch.split(picked, lengths), strict=True):
                scores[i] = part.sum().item()
    return scores


def accuracy_from(task, instances, scores) -> float:
    """acc from per-request log-probabilities: the best-scoring choice is the gold one."""
    by_doc: dict[int, list[tuple[int, float]]] = {}
    docs = {}
    for instance, score in zip(instances, scores, strict=True):
        by_doc.setdefault(instance.doc_id, []).append((instance.idx, score))
        docs[instance.doc_id] = instance.doc
    right = 0
    for doc_id, choices in by_doc.items():
        best = max(sorted(choices), key=lambda pair: pair[1])[0]
        right += int(best == task.doc_to_target(docs[doc_id]))
    return right / len(by_doc)


def timed(run):
    wall, cpu = time.perf_counter(), time.process_time()
    value = run()
    return value, time.perf_counter() - wall, time.process_time() - cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="gguf-pkg:gemma3-270m")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--tasks", nargs="+", default=["arc_easy", "piqa", "hellaswag"])
    parser.add_argument("--items", type=int, default=64, help="items per task")
    parser.add_argument("--data-dir", type=Path, default=default_data_dir())
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--num-fewshot", type=int, default=0, help="shots for every task")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--full-logits", action="store_true", help="also time full logits")
    args = parser.parse_args()

    import torch

    from ares_rlhf.backends import create_chat_model
    from ares_rlhf.evaluation.capability import evaluate_capability
    from ares_rlhf.evaluation.capability.lm import AresLM
    from ares_rlhf.runtime import tune_allocator

    tune_allocator()
    torch.set_num_threads(args.threads)
    chat = create_chat_model(args.model, dtype=args.dtype, device="cpu")
    model, tokenizer = chat.model, chat.tokenizer
    prepared = build_requests(args.tasks, args.data_dir, args.items, args.seed, args.num_fewshot)
    pairs = {task: [i.args for i in t.instances] for task, t in prepared.items()}
    requests = sum(len(p) for p in pairs.values())

    def through_lm_eval():
        return evaluate_capability(
            chat,
            args.tasks,
            args.data_dir,
            limit=args.items,
            seed=args.seed,
            batch_size=args.batch_size,
            num_fewshot=args.num_fewshot,
        )

    def bare(full: bool = False):
        return {
            t: bare_scores(model, tokenizer, p, args.batch_size, full) for t, p in pairs.items()
        }

    warm = {task: p[:8] for task, p in pairs.items()}  # first-call costs out of the timings
    for task in args.tasks:
        bare_scores(model, tokenizer, warm[task], args.batch_size, False)
    evaluate_capability(chat, args.tasks[:1], args.data_dir, limit=2, seed=args.seed)

    result, lm_wall, lm_cpu = timed(through_lm_eval)
    scores, bare_wall, bare_cpu = timed(bare)
    rows = [
        ("lm-eval (AresLM)", lm_cpu, lm_wall),
        ("bare, continuation logits", bare_cpu, bare_wall),
    ]
    if args.full_logits:
        _, full_wall, full_cpu = timed(lambda: bare(True))
        rows.append(("bare, full logits (hf-style)", full_cpu, full_wall))

    lm = AresLM(chat_model=chat, batch_size=args.batch_size)  # same scorer, values to compare
    differences = []
    accuracy = {}
    for task, loaded in prepared.items():
        ours = [value for value, _ in lm.loglikelihood(loaded.instances)]
        differences += [abs(a - b) for a, b in zip(ours, scores[task], strict=True)]
        accuracy[task] = {
            "lm_eval": result.tasks[task].accuracy,
            "bare": accuracy_from(loaded, loaded.instances, scores[task]),
            "n": result.tasks[task].n,
        }

    print(f"model {args.model} ({args.dtype}), {args.threads} thread(s), batch {args.batch_size}")
    print(
        f"{len(args.tasks)} tasks x {args.items} items, {args.num_fewshot}-shot = "
        f"{requests} log-likelihood requests"
    )
    print(f"{'path':<30} {'CPU s':>8} {'wall s':>8} {'req/s (CPU)':>12}")
    for name, cpu, wall in rows:
        print(f"{name:<30} {cpu:>8.1f} {wall:>8.1f} {requests / cpu:>12.1f}")
    for task, figures in accuracy.items():
        print(
            f"{task:<16} acc lm-eval {100 * figures['lm_eval']:.1f}  bare {100 * figures['bare']:.1f}"
        )
    figures = {
        "benchmark": "capability_throughput",
        "model": args.model,
        "dtype": args.dtype,
        "threads": args.threads,
        "batch_size": args.batch_size,
        "tasks": args.tasks,
        "items_per_task": args.items,
        "num_fewshot": args.num_fewshot,
        "requests": requests,
        "lm_eval_cpu_s": round(lm_cpu, 2),
        "lm_eval_wall_s": round(lm_wall, 2),
        "bare_cpu_s": round(bare_cpu, 2),
        "bare_wall_s": round(bare_wall, 2),
        "ratio": round(bare_cpu / lm_cpu, 3),
        "ratio_wall": round(bare_wall / lm_wall, 3),
        "max_abs_logprob_diff": max(differences),
        "accuracy": accuracy,
    }
    if args.full_logits:
        figures["bare_full_logits_cpu_s"] = round(rows[2][1], 2)
        figures["ratio_vs_full_logits"] = round(rows[2][1] / lm_cpu, 3)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
