"""lm-eval task definitions for the offline capability files (python task dicts).

Each definition copies the prompt template, answer choices and metrics of lm-eval 0.4's own task
of the same name (``lm_eval/tasks/<task>/*.yaml``) and reads its documents through
:mod:`ares_rlhf.evaluation.capability.data` from the folder the user gives (lm-eval's
``custom_dataset`` hook: nothing is downloaded or copied). Where the offline files differ from
the hub copies lm-eval reads, the difference is listed in ``OFFLINE_DIFFERENCES`` (and in
docs/evaluation.md, "Capability").
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from ares_rlhf.errors import DataError
from ares_rlhf.evaluation.capability import data

TASKS = tuple(data.FILES)
"""Offline tasks, by lm-eval's task names."""

DEFAULT_SHOTS = {task: 0 for task in TASKS} | {"gsm8k": 5}
"""lm-eval's default shot counts (``num_fewshot`` of each task)."""

MULTIPLE_CHOICE_METRICS = [
    {"metric": "acc", "aggregation": "mean", "higher_is_better": True},
    {"metric": "acc_norm", "aggregation": "mean", "higher_is_better": True},
]
ACC_ONLY = [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}]

OFFLINE_DIFFERENCES: dict[str, str] = {
    "arc_easy": "same test split and template; few-shot examples come from the test split "
    "itself (the item excluded), lm-eval draws them from train",
    "arc_challenge": "as arc_easy",
    "piqa": "same validation split and template; few-shot examples from the validation split",
    "hellaswag": "llama.cpp's preprocessed text of the same 10,042 validation items: the "
    "context is not re-capitalised after activity_label (lm-eval capitalises ctx_b and "
    "lower-cases the rest of it); few-shot examples from the validation split",
    "winogrande": "MosaicML's rewrite of the 1,267 dev items (identical partial scoring: each "
    "option's sentence prefix, then the shared continuation); few-shot examples from dev "
    "(lm-eval: train, xl)",
    "boolq": "MosaicML's rewrite of the 3,270 dev items: passage titles ('Title -- ') absent; "
    "few-shot examples from dev",
    "lambada_openai": "byte-identical to lm-eval's lambada_openai test file",
    "mmlu": "same test/dev files, template, subject descriptions and first-n dev shots; "
    "accuracy pooled over items (lm-eval's group acc, weight_by_size)",
    "gsm8k": "same test split, template, stop strings and answer filters; few-shot examples "
    "from the test split itself (lm-eval: train)",
}


def _dataset(task: str, data_dir: str, subject: str | None = None, **_: Any) -> dict:
    """lm-eval ``custom_dataset`` hook: the task's splits as in-memory ``datasets.Dataset``."""
    from datasets import Dataset

    if subject is not None:
        splits = {"test": data.read_mmlu(Path(data_dir), subject, "test")}
        dev = Path(data_dir) / "mmlu" / "dev" / f"{subject}_dev.csv"
        if dev.exists():
            splits["dev"] = data.read_mmlu(Path(data_dir), subject, "dev")
        return {name: Dataset.from_list(docs) for name, docs in splits.items()}
    return {"test": Dataset.from_list(data.read_task(task, data_dir))}


def _base(task: str, data_dir: str | Path, shots: int) -> dict[str, Any]:
    return {
        "task": task,
        "custom_dataset": partial(_dataset, task, str(data_dir)),
        "test_split": "test",
        "fewshot_split": "test",
        "num_fewshot": shots,
        "metadata": {"version": 1.0, "source": "ares offline"},
    }


def _arc(task: str, data_dir: str | Path, shots: int) -> dict[str, Any]:
    return _base(task, data_dir, shots) | {
        "output_type": "multiple_choice",
        "doc_to_text": "Question: {{question}}\nAnswer:",
        "doc_to_target": "{{choices.label.index(answerKey)}}",
        "doc_to_choice": "{{choices.text}}",
        "metric_list": MULTIPLE_CHOICE_METRICS,
    }


def _piqa(task: str, data_dir: str | Path, shots: int) -> dict[str, Any]:
    return _base(task, data_dir, shots) | {
        "output_type": "multiple_choice",
        "doc_to_text": "Question: {{goal}}\nAnswer:",
        "doc_to_target": "label",
        "doc_to_choice": "{{[sol1, sol2]}}",
        "metric_list": MULTIPLE_CHOICE_METRICS,
    }


def _hellaswag(task: str, data_dir: str | Path, shots: int) -> dict[str, Any]:
    return _base(task, data_dir, shots) | {
        "output_type": "multiple_choice",
        "doc_to_text": "{{query}}",
        "doc_to_target": "label",
        "doc_to_choice": "choices",
        "metric_list": MULTIPLE_CHOICE_METRICS,
    }


def _winogrande(task: str, data_dir: str | Path, shots: int) -> dict[str, Any]:
    # lm-eval's winogrande: doc_to_text is the gold index, the choices are the two contexts
    # (sentence up to the blank, with each option) and the target is the shared continuation
    return _base(task, data_dir, shots) | {
        "output_type": "multiple_choice",
        "doc_to_text": "gold",
        "doc_to_target": "continuation",
        "doc_to_choice": "context_options",
        "metric_list": ACC_ONLY,
    }


def _boolq(task: str, data_dir: str | Path, shots: int) -> dict[str, Any]:
    return _base(task, data_dir, shots) | {
        "output_type": "multiple_choice",
        "doc_to_text": "{{passage}}\nQuestion: {{question}}?\nAnswer:",
        "doc_to_target": "label",
        "doc_to_choice": ["no", "yes"],
        "metric_list": ACC_ONLY,
    }


def _lambada(task: str, data_dir: str | Path, shots: int) -> dict[str, Any]:
    return _base(task, data_dir, shots) | {
        "output_type": "loglikelihood",
        "doc_to_text": "{{text.split(' ')[:-1]|join(' ')}}",
        "doc_to_target": "{{' '+text.split(' ')[-1]}}",
        "metric_list": [
            {"metric": "perplexity", "aggregation": "perplexity", "higher_is_better": False},
            {"metric": "acc", "aggregation": "mean", "higher_is_better": True},
        ],
    }


def _gsm8k(task: str, data_dir: str | Path, shots: int) -> dict[str, Any]:
    return _base(task, data_dir, shots) | {
        "output_type": "generate_until",
        "doc_to_text": "Question: {{question}}\nAnswer:",
        "doc_to_target": "{{answer}}",
        "metric_list": [
            {
                "metric": "exact_match",
                "aggregation": "mean",
                "higher_is_better": True,
                "ignore_case": True,
                "ignore_punctuation": False,
                "regexes_to_ignore": [",", "\\$", "(?s).*#### ", "\\.$"],
            }
        ],
        "generation_kwargs": {
            "until": ["Question:", "</s>", "<|im_end|>"],
            "do_sample": False,
            "temperature": 0.0,
        },
        "filter_list": [
            {
                "name": "strict-match",
                "filter": [
                    {"function": "regex", "regex_pattern": "#### (\\-?[0-9\\.\\,]+)"},
                    {"function": "take_first"},
                ],
            },
            {
                "name": "flexible-extract",
                "filter": [
                    {
                        "function": "regex",
                        "group_select": -1,
                        "regex_pattern": "(-?[$0-9.,]{2,})|(-?[0-9]+)",
                    },
                    {"function": "take_first"},
                ],
            },
        ],
    }


def mmlu_task_name(subject: str) -> str:
    return f"mmlu_{subject}"


def mmlu_tasks(data_dir: str | Path, shots: int) -> list[dict[str, Any]]:
    """One task per MMLU subject (lm-eval's ``mmlu_<subject>``), dev split as few-shot pool."""
    tasks = []
    for subject in data.mmlu_subjects(Path(data_dir)):
        dev = Path(data_dir) / "mmlu" / "dev" / f"{subject}_dev.csv"
        if shots > 0 and not dev.exists():
            raise DataError(f"{dev}: no such file (MMLU few-shot examples for {subject})")
        config = _base(mmlu_task_name(subject), data_dir, shots) | {
            "custom_dataset": partial(_dataset, "mmlu", str(data_dir), subject),
            "fewshot_split": "dev",
            "fewshot_config": {"sampler": "first_n"},
            "output_type": "multiple_choice",
            "description": "The following are multiple choice questions (with answers) about "
            f"{' '.join(subject.split('_'))}.\n\n",
            "doc_to_text": "{{question.strip()}}\nA. {{choices[0]}}\nB. {{choices[1]}}\n"
            "C. {{choices[2]}}\nD. {{choices[3]}}\nAnswer:",
            "doc_to_choice": ["A", "B", "C", "D"],
            "doc_to_target": "answer",
            "metric_list": ACC_ONLY,
        }
        tasks.append(config)
    return tasks


_BUILDERS = {
    "arc_easy": _arc,
    "arc_challenge": _arc,
    "piqa": _piqa,
    "hellaswag": _hellaswag,
    "winogrande": _winogrande,
    "boolq": _boolq,
    "lambada_openai": _lambada,
    "gsm8k": _gsm8k,
}


def task_configs(task: str, data_dir: str | Path, shots: int | None = None) -> list[dict]:
    """lm-eval task dicts for one offline task (MMLU: one per subject)."""
    if task not in TASKS:
        raise DataError(f"unknown offline capability task {task!r}; known: {', '.join(TASKS)}")
    count = DEFAULT_SHOTS[task] if shots is None else int(shots)
    if task == "mmlu":
        return mmlu_tasks(data_dir, count)
    return [_BUILDERS[task](task, data_dir, count)]
