"""Check the embedded initial policy's alignment: refusal rates on unseen plain harmful and
benign prompts, for the base Gemma (plain Q/A and Gemma turn formats) and the SFT'd policy.

    python benchmarks/embedded_policy.py [--quick] [--cache-dir DIR] [--skip-base]

Prints a table, then (last line) one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    from ares_rlhf.runtime import tune_allocator

    tune_allocator()  # glibc: keep large blocks on the heap (see ares_rlhf.runtime)
    from ares_rlhf.backends.gguf_pkg import ensure_gemma_checkpoint
    from ares_rlhf.embedded.policy import alignment_check, build_initial_policy

    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--cache-dir")
    parser.add_argument("--skip-base", action="store_true")
    parser.add_argument("--show", action="store_true", help="print every answer")
    args = parser.parse_args()

    rows = []
    started = time.perf_counter()
    if not args.skip_base:
        base = ensure_gemma_checkpoint(args.cache_dir)
        for chat_format in ("plain", "chat_template"):
            rows.append(("base " + chat_format, alignment_check(base, chat_format=chat_format)))
    policy = build_initial_policy(args.cache_dir, quick=args.quick)
    rows.append(("policy" + (" (quick)" if args.quick else ""), alignment_check(policy)))
    print(f"{'model':<22} {'harmful refused':>16} {'benign refused':>15}")
    for name, result in rows:
        print(
            f"{name:<22} {result['harmful_refusal_rate']:>16.0%} {result['benign_refusal_rate']:>15.0%}"
        )
        if args.show:
            for kind in ("harmful", "benign"):
                for example in result[f"{kind}_examples"]:
                    print(f"  [{kind}] {example['prompt']!r} -> {example['answer'][:100]!r}")
    figures = {
        name: {k: v for k, v in result.items() if k.endswith("_rate")} for name, result in rows
    }
    figures["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
