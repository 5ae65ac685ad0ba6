"""``evaluate_capability``: lm-evaluation-harness tasks for one ARES policy, per-item results.

One lm-eval run per task (MMLU: its 57 subjects in one run), on items drawn with a seed so
that two policies evaluated with the same ``limit`` and ``seed`` see the same items with the
same few-shot examples; the result keeps each item's correctness in item order, which is what a
paired comparison (before vs after repair) needs.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ares_rlhf.errors import DataError
from ares_rlhf.evaluation.capability import data
from ares_rlhf.evaluation.capability.tasks import (
    DEFAULT_SHOTS,
    TASKS,
    mmlu_task_name,
    task_configs,
)

Progress = Callable[[int, int, str], None]
LM_EVAL_PREFIX = "lm_eval:"
"""Task names with this prefix always go to lm-eval's own (hub) task registry."""

ITEM_METRICS = ("acc", "acc_norm", "exact_match")
"""Per-item metrics kept (0/1 values)."""


@dataclass
class TaskResult:
    """One task's figures. ``correct[i]`` is item ``item_ids[i]``'s primary metric."""

    task: str
    metric: str
    accuracy: float
    n: int
    num_fewshot: int
    correct: list[bool]
    item_ids: list[str]
    acc_norm: float | None = None
    correct_norm: list[bool] | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    """Every aggregate lm-eval reported (``acc``, ``acc_norm``, ``perplexity``...)."""
    source: str = "offline"
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class CapabilityResult:
    model: str
    tasks: dict[str, TaskResult]
    seed: int
    limit: int | None
    data_dir: str | None
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "seed": self.seed,
            "limit": self.limit,
            "data_dir": self.data_dir,
            "seconds": self.seconds,
            "tasks": {name: result.to_dict() for name, result in self.tasks.items()},
        }

    def table(self) -> str:
        lines = [f"{'task':<16} {'shots':>5} {'n':>6} {'acc':>7} {'acc_norm':>8} {'s':>7}"]
        for name, r in self.tasks.items():
            norm = f"{100 * r.acc_norm:.1f}" if r.acc_norm is not None else "-"
            lines.append(
                f"{name:<16} {r.num_fewshot:>5} {r.n:>6} {100 * r.accuracy:>7.1f} {norm:>8} "
                f"{r.seconds:>7.1f}"
            )
        return "\n".join(lines)


def sample_indices(total: int, limit: int | None, seed: int, task: str) -> list[int]:
    """``limit`` item indices out of ``total``, drawn with ``seed`` (per task), sorted."""
    if limit is None or limit >= total:
        return list(range(total))
    if limit <= 0:
        raise DataError(f"{task}: limit must be positive, got {limit}")
    return sorted(random.Random(f"{task}:{seed}").sample(range(total), int(limit)))


def _shots(task: str, num_fewshot: int | Mapping[str, int] | None) -> int | None:
    if isinstance(num_fewshot, Mapping):
        return num_fewshot.get(task, num_fewshot.get(task.removeprefix(LM_EVAL_PREFIX)))
    return num_fewshot


@contextmanager
def _quiet_lm_eval() -> Iterator[None]:
    """lm-eval's INFO logs and its per-document tqdm bar off for the call (ARES reports
    progress through its callback; a bar on stderr would break the console's own)."""
    from functools import partial

    import lm_eval.api.task as task_module

    logger = logging.getLogger("lm_eval")
    level, bar = logger.level, getattr(task_module, "tqdm", None)
    logger.setLevel(logging.ERROR)
    if bar is not None:
        task_module.tqdm = partial(bar, disable=True)
    try:
        yield
    finally:
        logger.setLevel(level)
        if bar is not None:
            task_module.tqdm = bar


_HUB_MANAGER: Any = None


def _task_manager(hub: bool) -> Any:
    from lm_eval.tasks import TaskManager

    global _HUB_MANAGER
    if not hub:
        return TaskManager(include_defaults=False)  # offline dicts only: no 14k-YAML index
    if _HUB_MANAGER is None:
        _HUB_MANAGER = TaskManager()
    return _HUB_MANAGER


def _item_ids(task: str, indices: list[int], docs: list[dict]) -> list[str]:
    if task in ("arc_easy", "arc_challenge"):
        return [docs[i]["id"] for i in indices]
    if task == "mmlu":
        return [f"{docs[i]['subject']}/{i}" for i in indices]
    return [str(i) for i in indices]


def _run_lm_eval(
    lm: Any, configs: list[Any], samples: dict[str, list[int]], seed: int, manager: Any
) -> dict[str, Any]:
    """lm-eval's ``evaluate`` on the loaded tasks (what ``simple_evaluate`` does, minus its
    global reseeding and its environment report, which runs pip and nvidia-smi each call)."""
    from lm_eval.evaluator import evaluate

    with _quiet_lm_eval():
        loaded = manager.load(configs)
        for task in loaded["tasks"].values():
            if task.get_config("num_fewshot") is None:
                task.set_config(key="num_fewshot", value=0)
            task.set_fewshot_seed(seed=seed)
        output = evaluate(
            lm=lm, task_dict=loaded, samples=samples, bootstrap_iters=0, log_samples=True
        )
    if output is None:  # pragma: no cover - only non-zero ranks get None
        raise DataError("lm-eval returned no results")
    return output


def _per_item(samples: list[dict], metric: str) -> dict[int, bool]:
    """doc_id -> value of ``metric`` (``name`` or ``name,filter``) from lm-eval's samples."""
    name, _, wanted = metric.partition(",")
    values = {}
    for sample in samples:
        if wanted and sample.get("filter") != wanted:
            continue
        if name in sample:
            values[int(sample["doc_id"])] = bool(sample[name])
    return values


def _primary(task_results: dict[str, Any]) -> str:
    keys = [key for key in task_results if "," in key and not key.endswith("_stderr")]
    for candidate in ("exact_match,strict-match", "acc,none"):
        if candidate in keys:
            return candidate
    for key in keys:
        if key.split(",")[0] in ITEM_METRICS:
            return key
    raise DataError(f"lm-eval reported no per-item accuracy metric ({', '.join(keys)})")


def _aggregates(task_results: dict[str, Any]) -> dict[str, float]:
    out = {}
    for key, value in task_results.items():
        if "," in key and "stderr" not in key and isinstance(value, (int, float)):
            out[key.replace(",none", "")] = float(value)
    return out


def _result(
    task: str,
    shots: int,
    source: str,
    pieces: list[tuple[str, list[dict], dict]],
    results: dict[str, dict],
    seconds: float,
) -> TaskResult:
    """Pool one or more lm-eval tasks (MMLU subjects) into one ``TaskResult``."""
    correct: list[bool] = []
    norm: list[bool] = []
    ids: list[str] = []
    metric = _primary(results[pieces[0][0]])
    has_norm = "acc_norm,none" in results[pieces[0][0]]
    for _, samples, item_ids in pieces:
        primary = _per_item(samples, metric)
        normed = _per_item(samples, "acc_norm") if has_norm else {}
        for doc_id in sorted(primary):
            correct.append(primary[doc_id])
            ids.append(item_ids.get(doc_id, str(doc_id)))
            if has_norm:
                norm.append(normed[doc_id])
    n = len(correct)
    aggregates = _aggregates(results[pieces[0][0]]) if len(pieces) == 1 else {}
    aggregates[metric.replace(",none", "")] = sum(correct) / n if n else 0.0
    if has_norm:
        aggregates["acc_norm"] = sum(norm) / n if n else 0.0
    return TaskResult(
        task=task,
        metric=metric.replace(",none", ""),
        accuracy=sum(correct) / n if n else 0.0,
        n=n,
        num_fewshot=shots,
        correct=correct,
        item_ids=ids,
        acc_norm=(sum(norm) / n if n else 0.0) if has_norm else None,
        correct_norm=norm if has_norm else None,
        metrics=aggregates,
        source=source,
        seconds=seconds,
    )


def _offline_task(
    lm: Any, task: str, data_dir: Path, limit: int | None, shots: int | None, seed: int
) -> TaskResult:
    count = DEFAULT_SHOTS[task] if shots is None else int(shots)
    configs = task_configs(task, data_dir, count)
    docs = data.read_task(task, data_dir)
    chosen = sample_indices(len(docs), limit, seed, task)
    item_ids = _item_ids(task, chosen, docs)
    samples: dict[str, list[int]] = {}
    names: dict[str, list[str]] = {}
    if task == "mmlu":  # map pooled indices onto each subject's own doc ids
        offsets: dict[str, int] = {}
        for index, doc in enumerate(docs):
            offsets.setdefault(doc["subject"], index)
        for index, item in zip(chosen, item_ids, strict=True):
            name = mmlu_task_name(docs[index]["subject"])
            samples.setdefault(name, []).append(index - offsets[docs[index]["subject"]])
            names.setdefault(name, []).append(item)
        configs = [c for c in configs if c["task"] in samples]
    else:
        samples[task], names[task] = chosen, item_ids
    started = time.perf_counter()
    output = _run_lm_eval(lm, configs, samples, seed, _task_manager(hub=False))
    seconds = time.perf_counter() - started
    pieces = []
    for config in configs:
        name = config["task"]
        ids = dict(zip(samples[name], names[name], strict=True))
        pieces.append((name, output["samples"][name], ids))
    return _result(task, count, "offline", pieces, output["results"], seconds)


def _hub_task(lm: Any, name: str, limit: int | None, shots: int | None, seed: int) -> TaskResult:
    from ares_rlhf.runtime import offline_hint

    manager = _task_manager(hub=True)
    wanted = name.removeprefix(LM_EVAL_PREFIX)
    try:
        with _quiet_lm_eval():
            loaded = manager.load([wanted])["tasks"]
    except KeyError:
        raise DataError(f"{wanted}: lm-eval has no such task or group") from None
    except (OSError, ValueError) as error:  # datasets: ConnectionError, missing files...
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DataError(
            f"lm-eval task {wanted}: cannot load its dataset ({reason}); {offline_hint()}"
        ) from None
    samples: dict[str, list[int]] = {}
    for task_name, task in loaded.items():
        if shots is not None:
            task.set_config(key="num_fewshot", value=int(shots))
        samples[task_name] = sample_indices(len(task.eval_docs), limit, seed, task_name)
    started = time.perf_counter()
    output = _run_lm_eval(lm, list(loaded.values()), samples, seed, manager)
    seconds = time.perf_counter() - started
    pieces = [
        (name_, output["samples"][name_], {i: f"{name_}/{i}" for i in samples[name_]})
        for name_ in loaded
    ]
    count = int(next(iter(loaded.values())).get_config("num_fewshot") or 0)
    return _result(name, count, "lm_eval", pieces, output["results"], seconds)


def evaluate_capability(
    model_config: Any,
    tasks: Sequence[str],
    data_dir: str | Path | None,
    *,
    limit: int | None = None,
    num_fewshot: int | Mapping[str, int] | None = None,
    seed: int = 0,
    batch_size: int = 8,
    progress: Progress | None = None,
    lm_options: Mapping[str, Any] | None = None,
) -> CapabilityResult:
    """Evaluate one policy on capability ``tasks`` through lm-evaluation-harness.

    ``model_config``: a ``ModelConfig``, a spec string, or a loaded chat model with local
    weights (``HFChatModel``; not closed here). ``tasks``: offline task names (``arc_easy``,
    ``piqa``, ... read from ``data_dir``) or lm-eval's own task names (any name when
    ``data_dir`` is ``None``, or with the ``lm_eval:`` prefix; these need the hub).
    ``limit``: at most this many items per task, drawn with ``seed``. ``num_fewshot``: one
    count for all tasks, a ``{task: count}`` mapping, or ``None`` for lm-eval's defaults.
    ``progress(done, total, label)`` is called as requests finish (label: the task name).
    ``lm_options`` go to :class:`~ares_rlhf.evaluation.capability.lm.AresLM` (``max_length``,
    ``max_gen_toks``, ``share_prefix_min``).
    """
    from ares_rlhf.evaluation.capability.lm import AresLM
    from ares_rlhf.runtime import release_free_memory

    root = Path(data_dir) if data_dir is not None else None
    if root is not None and not root.is_dir():
        raise DataError(f"{root}: no such capability data folder")
    offline = []
    for task in tasks:
        is_offline = root is not None and not task.startswith(LM_EVAL_PREFIX)
        if is_offline and task not in TASKS:
            raise DataError(
                f"{task}: not an offline capability task ({', '.join(TASKS)}); "
                f"use '{LM_EVAL_PREFIX}{task}' for lm-eval's own task"
            )
        offline.append(is_offline)
    lm = _build_lm(AresLM, model_config, batch_size=batch_size, **dict(lm_options or {}))
    lm.progress = progress
    started = time.perf_counter()
    results: dict[str, TaskResult] = {}
    try:
        for task, is_offline in zip(tasks, offline, strict=True):
            lm.progress_label = task
            shots = _shots(task, num_fewshot)
            if is_offline:
                results[task] = _offline_task(lm, task, root, limit, shots, seed)
            else:
                results[task] = _hub_task(lm, task, limit, shots, seed)
            release_free_memory()  # one task's requests and buffers, before the next task's
    finally:
        if lm.chat_model is not model_config:
            lm.chat_model.close()
    return CapabilityResult(
        model=str(lm.model_id),
        tasks=results,
        seed=seed,
        limit=limit,
        data_dir=str(root) if root is not None else None,
        seconds=time.perf_counter() - started,
    )


def _build_lm(cls: Any, model_config: Any, **options: Any) -> Any:
    if isinstance(model_config, str):
        return cls(spec=model_config, **options)
    if hasattr(model_config, "spec") and hasattr(model_config, "options"):
        return cls(model_config=model_config, **options)
    return cls(chat_model=model_config, **options)
