"""STS results of a run: the one shape its record keeps (``StsResults.to_dict()``'s), the card's results tables and
its model-index."""

import math
from collections.abc import Mapping
from typing import Any

from ..sts import DEV_TASK, TABLE_COLUMNS, TEST_TASKS, StsResults, canonical_task, format_table, seven_task_average

# STS task -> (model-index dataset type, config, display name, split); SICK-R's SentEval test split (4,927 pairs)
# is not mteb/sickr-sts's test split (the whole corpus), so it is named after the SICK dataset itself.
INDEX_DATASETS = {
    "STS12": ("mteb/sts12-sts", "default", "STS12", "test"),
    "STS13": ("mteb/sts13-sts", "default", "STS13", "test"),
    "STS14": ("mteb/sts14-sts", "default", "STS14", "test"),
    "STS15": ("mteb/sts15-sts", "default", "STS15", "test"),
    "STS16": ("mteb/sts16-sts", "default", "STS16", "test"),
    "STSBenchmark": ("mteb/stsbenchmark-sts", "default", "STS-B", "test"),
    "SICKRelatedness": ("sick", None, "SICK-R", "test"),
    DEV_TASK: ("mteb/stsbenchmark-sts", "default", "STS-B dev", "validation"),
}
_HUB_SICK = ("mteb/sickr-sts", "default", "SICK-R (mteb/sickr-sts: the whole SICK corpus)", "test")


def _task_name(name: str) -> str:
    """``canonical_task``, also accepting format_table's column names ("STS-B dev")."""
    try:
        return canonical_task(name)
    except ValueError:
        return canonical_task(name.replace(" ", "-"))


def _finite(value: Any) -> Any:
    """``value`` with every non-finite number as None (a task without subsets has no subset mean), so the JSON
    is standard and reads back equal."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def sts_results_dict(results) -> dict[str, Any]:
    """STS scores in the one shape a run record keeps, ``StsResults.to_dict()``'s (``tasks``, ``avg``, ``seconds``,
    ``meta``), from ``StsResults``, that dict (or its JSON) or a plain ``{task: spearman}``; task names canonical
    (``trainers.sts.canonical_task``, or a table column such as "STS-B dev"), non-finite numbers None."""
    if isinstance(results, StsResults):
        results = results.to_dict()
    results = dict(results)
    if "tasks" not in results:  # {task: spearman}
        results = {"tasks": {name: {"spearman": float(value)} for name, value in results.items()}}
    tasks = {}
    for name, value in results["tasks"].items():
        task = _task_name(name)
        tasks[task] = {"task": task, **{key: item for key, item in value.items() if key != "task"}}
    return _finite({"tasks": tasks, "avg": seven_task_average({t: v["spearman"] for t, v in tasks.items()}),
                    "seconds": results.get("seconds"), "meta": dict(results.get("meta") or {})})


def merged_sts_results(old: Mapping[str, Any] | None, new) -> dict[str, Any]:
    """``new`` scores (``sts_results_dict``'s inputs) merged into ``old`` (that shape, or None): a task in both
    takes the new score, each task keeps its own data source, the tasks go in the papers' order and the seven-task
    average is recomputed."""
    new = sts_results_dict(new)
    tasks = {**((old or {}).get("tasks") or {}), **new["tasks"]}
    order = {task: i for i, task in enumerate(TEST_TASKS)}
    ordered = {t: tasks[t] for t in sorted(tasks, key=lambda t: (t not in order, order.get(t, 0), t))}
    return {
        "tasks": ordered,
        "avg": seven_task_average({t: v["spearman"] for t, v in ordered.items()}),
        "seconds": new.get("seconds"),
        "meta": {**((old or {}).get("meta") or {}), **new["meta"]},
    }


def _source_label(source: str | None) -> str:
    if not source:
        return "-"
    return source if source.startswith("hub:") else "SentEval files"


def headline(scores: Mapping[str, Mapping[str, Any]], raw_dev: Mapping[str, float] | None = None) -> str:
    """"**STS average (7 tasks): ...** · STS-B test: ... · STS-B dev: ... (untrained backbone: ...) (Spearman
    x100)", or "" without scores; ``raw_dev``: the untrained backbone's STS-B dev per pooling."""
    parts = []
    avg = seven_task_average({t: s["spearman"] for t, s in scores.items()})
    if avg is not None:
        parts.append(f"**STS average (7 tasks): {avg:.2f}**")
    if "STSBenchmark" in scores:
        parts.append(f"STS-B test: {scores['STSBenchmark']['spearman']:.2f}")
    if DEV_TASK in scores:
        raw = ", ".join(f"{value:.2f} {label}" for label, value in (raw_dev or {}).items())
        parts.append(f"STS-B dev: {scores[DEV_TASK]['spearman']:.2f}"
                     + (f" (untrained backbone: {raw})" if raw else ""))
    return " · ".join(parts) + " (Spearman x100)" if parts else ""


def result_rows(scores: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per scored task, in the papers' order: task, column, split, n_pairs, spearman, source."""
    rows = []
    for task, (_, _, display, split) in INDEX_DATASETS.items():
        if task in scores:
            rows.append({"task": task, "column": TABLE_COLUMNS.get(task, display), "split": split,
                         "n_pairs": scores[task].get("n_pairs") or "-", "spearman": scores[task]["spearman"],
                         "source": _source_label(scores[task].get("source"))})
    return rows


def results_table(scores: Mapping[str, Mapping[str, Any]]) -> str:
    """The papers' one-line table (``trainers.sts.format_table``), or "" without scores."""
    return format_table({t: s["spearman"] for t, s in scores.items()}) if scores else ""


def eval_results(results: Mapping[str, Mapping[str, Any]]):
    """``huggingface_hub.EvalResult`` per STS task (Spearman x100, two decimals), in the papers' order."""
    from huggingface_hub import EvalResult

    out = []
    for task in INDEX_DATASETS:
        if task not in results:
            continue
        dataset_type, config, name, split = INDEX_DATASETS[task]
        if task == "SICKRelatedness" and str(results[task].get("source") or "").startswith("hub:"):
            dataset_type, config, name, split = _HUB_SICK
        out.append(EvalResult(
            task_type="STS",
            task_name="Semantic Textual Similarity",
            dataset_type=dataset_type,
            dataset_name=name,
            dataset_config=config,
            dataset_split=split,
            metric_type="cosine_spearman",
            metric_name="Spearman x100 (cosine similarity)",
            metric_value=round(float(results[task]["spearman"]), 2),
        ))
    return out


__all__ = ["INDEX_DATASETS", "eval_results", "headline", "merged_sts_results", "result_rows", "results_table",
           "sts_results_dict"]
