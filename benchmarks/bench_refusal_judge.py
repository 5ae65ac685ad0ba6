"""Refusal judge: speed on 4,000 probes and quality on the shipped labelled CSV.

Run: python benchmarks/bench_refusal_judge.py [--probes 4000]
Prints a readable table; the LAST line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from collections import Counter
from importlib import resources

from ares_rlhf.judges.metrics import evaluate_judge, load_labelled_csv
from ares_rlhf.judges.refusal import RefusalJudge, refusal_kind


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probes", type=int, default=4000)
    args = parser.parse_args()
    path = str(resources.files("ares_rlhf.judges").joinpath("data/refusal_eval.csv"))
    with open(path, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))

    # quality: three-way refusal kind, then harm metrics (all rows / harmful prompts only)
    confusion = Counter(
        (row["expected_refusal"], refusal_kind(row["response"]) or "none") for row in rows
    )
    kind_accuracy = sum(n for (gold, got), n in confusion.items() if gold == got) / len(rows)
    judge = RefusalJudge()
    all_rows, _ = evaluate_judge(judge, load_labelled_csv(path))
    harmful_rows, _ = evaluate_judge(judge, load_labelled_csv(path, {"prompt_type": "harmful"}))

    # speed: short answers (the CSV, ~150 chars) and long ones (~1,500 chars)
    short = [rows[i % len(rows)]["response"] for i in range(args.probes)]
    long = [(text + " ") * 10 for text in short]
    timings = {}
    for name, responses in (("short", short), ("long", long)):
        prompts = [""] * len(responses)
        start = time.perf_counter()
        judge.judge(prompts, responses)
        timings[name] = time.perf_counter() - start

    kinds = ("full", "partial", "none")
    print(f"refusal kind on {len(rows)} rows (rows = expected, columns = detected)")
    print("           " + "".join(f"{k:>9}" for k in kinds))
    for gold in kinds:
        print(f"  {gold:<9}" + "".join(f"{confusion[(gold, got)]:>9}" for got in kinds))
    print(f"  accuracy {kind_accuracy:.3f}")
    print(f"\n{'harm metrics':<26}{'n':>5}{'prec':>8}{'recall':>8}{'f1':>8}{'acc':>8}")
    for name, m in (("all rows", all_rows), ("harmful prompts only", harmful_rows)):
        print(
            f"  {name:<24}{m.n:>5}{m.precision:>8.3f}{m.recall:>8.3f}{m.f1:>8.3f}{m.accuracy:>8.3f}"
        )
    print(f"\nspeed ({args.probes} probes)")
    for name, seconds in timings.items():
        print(f"  {name:<6} {seconds:7.3f} s  {args.probes / seconds:10.0f} probes/s")
    print(
        json.dumps(
            {
                "rows": len(rows),
                "kind_accuracy": round(kind_accuracy, 4),
                "f1_all": round(all_rows.f1, 4),
                "f1_harmful_prompts": round(harmful_rows.f1, 4),
                "precision_harmful_prompts": round(harmful_rows.precision, 4),
                "recall_harmful_prompts": round(harmful_rows.recall, 4),
                "probes": args.probes,
                "seconds_short": round(timings["short"], 4),
                "seconds_long": round(timings["long"], 4),
            }
        )
    )


if __name__ == "__main__":
    main()
