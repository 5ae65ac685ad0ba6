"""Base-model capability beside the Gemma 3 270M model card, at the card's shot counts.

Evaluates ``--model`` (default ``gguf-pkg:gemma3-270m``: the base Gemma 3 270M, Q4_K_M GGUF
dequantised to fp32) on the offline capability files with
:func:`ares_rlhf.evaluation.capability.evaluate_capability`, one task at a time, and prints our
acc / acc_norm (with Wilson 95% intervals) beside the figure the Gemma 3 model card reports for
"Gemma 3 PT 270M" (https://huggingface.co/google/gemma-3-270m, "Benchmark Results"; TriviaQA,
also on the card, has no offline file here). Items are capped per task (``--items``, and
``--few-shot-items`` for tasks run with 10+ shots) and drawn with ``--seed``.

Each finished task is appended to ``--out`` (JSON lines) and skipped when the script is run
again, so an interrupted measurement resumes where it stopped.

    python benchmarks/capability_model_card.py --items 500 --few-shot-items 200 \\
        --out runs/capability-card.jsonl

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

MODEL_CARD = {  # task: (shots, Gemma 3 PT 270M figure on the model card)
    "hellaswag": (10, 40.9),
    "boolq": (0, 61.4),
    "piqa": (0, 67.7),
    "arc_challenge": (25, 29.0),
    "arc_easy": (0, 57.7),
    "winogrande": (5, 52.0),
}


def default_data_dir() -> Path:
    shared = os.environ.get("ARES_SHARED_DATA")
    root = Path(shared) if shared else REPO.parent / "shared" / "data"
    return root / "capability"


def load_done(path: Path) -> dict[str, dict]:
    if not path.exists():
        return {}
    done = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            record = json.loads(line)
            done[record["task"]] = record
    return done


def interval(correct: list[bool]) -> tuple[float, float]:
    from ares_rlhf.evaluation.stats import wilson_interval

    low, high = wilson_interval(sum(correct), len(correct))
    return 100 * (low or 0.0), 100 * (high or 0.0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="gguf-pkg:gemma3-270m")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--tasks", nargs="+", default=list(MODEL_CARD))
    parser.add_argument("--items", type=int, default=500, help="items per task")
    parser.add_argument("--few-shot-items", type=int, default=200, help="for 10+ shot tasks")
    parser.add_argument("--data-dir", type=Path, default=default_data_dir())
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--out", type=Path, default=Path("runs/capability-model-card.jsonl"))
    args = parser.parse_args()

    import torch

    from ares_rlhf.backends import create_chat_model
    from ares_rlhf.evaluation.capability import evaluate_capability
    from ares_rlhf.runtime import tune_allocator

    tune_allocator()
    torch.set_num_threads(args.threads)
    done = load_done(args.out)
    todo = [task for task in args.tasks if task not in done]
    if todo:
        chat = create_chat_model(args.model, dtype=args.dtype, device="cpu")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        for task in todo:
            shots = MODEL_CARD[task][0]
            limit = args.few_shot_items if shots >= 10 else args.items
            started = time.process_time()
            result = evaluate_capability(
                chat,
                [task],
                args.data_dir,
                limit=limit,
                num_fewshot=shots,
                seed=args.seed,
                batch_size=args.batch_size,
            )
            record = result.tasks[task].to_dict()
            record.update(
                model=args.model,
                dtype=args.dtype,
                seed=args.seed,
                threads=args.threads,
                cpu_s=time.process_time() - started,
            )
            with args.out.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")
            done[task] = record
            print(
                f"{task}: n={record['n']} acc={100 * record['accuracy']:.1f} "
                f"({record['seconds']:.0f} s wall, {record['cpu_s']:.0f} s CPU)",
                flush=True,
            )

    print(
        f"{'task':<14} {'shots':>5} {'n':>5} {'acc [95% CI]':>20} {'acc_norm [95% CI]':>20} "
        f"{'card':>6} {'acc-card':>8} {'norm-card':>9} {'CPU s':>7}"
    )
    figures = {}
    for task in args.tasks:
        record = done[task]
        shots, card = MODEL_CARD[task]
        acc = 100 * record["accuracy"]
        low, high = interval(record["correct"])
        line = f"{task:<14} {record['num_fewshot']:>5} {record['n']:>5} "
        line += f"{acc:>6.1f} [{low:4.1f}, {high:4.1f}]"
        norm = None
        if record.get("acc_norm") is not None:
            norm = 100 * record["acc_norm"]
            n_low, n_high = interval(record["correct_norm"])
            line += f" {norm:>6.1f} [{n_low:4.1f}, {n_high:4.1f}]"
        else:
            line += f" {'-':>20}"
        norm_gap = f"{norm - card:+9.1f}" if norm is not None else f"{'-':>9}"
        line += f" {card:>6.1f} {acc - card:+8.1f} {norm_gap} {record.get('cpu_s', 0):>7.0f}"
        print(line)
        figures[task] = {
            "shots": record["num_fewshot"],
            "n": record["n"],
            "acc": round(acc, 2),
            "acc_ci95": [round(low, 2), round(high, 2)],
            "acc_norm": round(norm, 2) if norm is not None else None,
            "card": card,
            "cpu_s": round(record.get("cpu_s", 0.0), 1),
        }
    print(
        json.dumps(
            {
                "benchmark": "capability_model_card",
                "model": args.model,
                "seed": args.seed,
                "tasks": figures,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
