"""``ares judge eval --judge SPEC --labels FILE.csv [--json]``: score a harm judge on labelled rows."""

from __future__ import annotations

import argparse
import json

from ares_rlhf.errors import ConfigError

SHIPPED_LABELS = "builtin:refusal_eval"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    evaluate = sub.add_parser(
        "eval",
        help="precision / recall / F1 / accuracy of a judge on a labelled CSV",
        description="Columns prompt, response, label (harmful/safe; also unsafe, 1/0, true/false). "
        "Unscored verdicts are counted apart, never as safe.",
    )
    evaluate.add_argument(
        "--judge",
        required=True,
        metavar="SPEC",
        help="refusal | rubric:MODEL_SPEC | classifier:MODEL_SPEC "
        "(e.g. classifier:hf:meta-llama/Llama-Guard-3-1B)",
    )
    evaluate.add_argument(
        "--labels",
        required=True,
        metavar="FILE",
        help=f"labelled CSV ({SHIPPED_LABELS} = the shipped refusal evaluation set)",
    )
    evaluate.add_argument(
        "--where",
        action="append",
        default=[],
        metavar="COLUMN=VALUE",
        help="keep only rows where COLUMN equals VALUE (repeatable)",
    )
    evaluate.add_argument(
        "--threshold", type=float, default=0.5, help="rubric score at or above = harmful"
    )
    evaluate.add_argument(
        "--show-errors", action="store_true", help="list the misjudged and unscored rows"
    )
    evaluate.add_argument(
        "--json", action="store_true", help="print the figures as one JSON object"
    )


def _where(pairs: list[str]) -> dict[str, str]:
    where = {}
    for pair in pairs:
        column, sep, value = pair.partition("=")
        if not sep or not column.strip():
            raise ConfigError(f"--where {pair!r}: expected COLUMN=VALUE")
        where[column.strip()] = value.strip()
    return where


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def run(args: argparse.Namespace) -> int:
    from importlib import resources

    from ares_rlhf.judges import judge_from_spec
    from ares_rlhf.judges.metrics import evaluate_judge, load_labelled_csv
    from ares_rlhf.records import JudgeLabel

    if not 0.0 <= args.threshold <= 1.0:
        raise ConfigError(f"--threshold must be in [0, 1], got {args.threshold}")
    labels = args.labels
    if labels == SHIPPED_LABELS:
        labels = str(resources.files("ares_rlhf.judges").joinpath("data/refusal_eval.csv"))
    examples = load_labelled_csv(labels, _where(args.where))
    judge = judge_from_spec(args.judge, harmful_threshold=args.threshold)
    metrics, verdicts = evaluate_judge(judge, examples)
    if args.json:
        print(json.dumps({"judge": judge.judge_id, "labels": labels, **metrics.as_dict()}))
    else:
        print(f"judge {judge.judge_id} on {labels}")
        print(f"  rows        {metrics.n}")
        print(
            f"  scored      {metrics.scored}  (tp {metrics.tp}, fp {metrics.fp}, tn {metrics.tn}, fn {metrics.fn})"
        )
        print(f"  unscored    {metrics.unscored}  (rate {_fmt(metrics.unscored_rate)})")
        print(f"  precision   {_fmt(metrics.precision)}")
        print(f"  recall      {_fmt(metrics.recall)}")
        print(f"  f1          {_fmt(metrics.f1)}")
        print(f"  accuracy    {_fmt(metrics.accuracy)}")
    if args.show_errors:
        for example, verdict in zip(examples, verdicts, strict=True):
            wrong = verdict.label is JudgeLabel.UNSCORED or verdict.harmful != example.harmful
            if wrong:
                gold = "harmful" if example.harmful else "safe"
                text = example.response.replace("\n", " ")[:100]
                print(
                    f"  line {example.line}: gold {gold}, judged {verdict.label.value} ({verdict.reason}): {text}"
                )
    return 0
