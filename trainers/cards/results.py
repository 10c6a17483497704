"""STS results of an output folder: ``sts_results.json``, the card's results tables and its model-index."""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..sts import TABLE_COLUMNS, TEST_TASKS, StsResults, canonical_task, format_table, seven_task_average
from .files import DEV_METRIC_KEY, STS_RESULTS_FILE, read_json, write_json

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
    "STSBenchmark-dev": ("mteb/stsbenchmark-sts", "default", "STS-B dev", "validation"),
}
_HUB_SICK = ("mteb/sickr-sts", "default", "SICK-R (mteb/sickr-sts: the whole SICK corpus)", "test")


def _task_name(name: str) -> str:
    """``canonical_task``, also accepting format_table's column names ("STS-B dev")."""
    try:
        return canonical_task(name)
    except ValueError:
        return canonical_task(name.replace(" ", "-"))


def normalize_results(results) -> dict[str, dict[str, Any]]:
    """``{task: {"spearman", "n_pairs", "source"}}`` from ``StsResults``, its ``to_dict()`` (or JSON) or a plain
    ``{task: spearman}`` mapping (task names as ``trainers.sts.canonical_task`` accepts them)."""
    if results is None:
        return {}
    if isinstance(results, StsResults):
        results = results.to_dict()
    out: dict[str, dict[str, Any]] = {}
    tasks = results["tasks"] if isinstance(results, Mapping) and "tasks" in results else results
    for name, value in dict(tasks).items():
        task = _task_name(name)
        if isinstance(value, Mapping):
            out[task] = {"spearman": float(value["spearman"]), "n_pairs": value.get("n_pairs"),
                         "source": value.get("source")}
        elif hasattr(value, "spearman"):
            out[task] = {"spearman": float(value.spearman), "n_pairs": value.n_pairs, "source": value.source}
        else:
            out[task] = {"spearman": float(value), "n_pairs": None, "source": None}
    return out


def merge_sts_results(folder: str | Path, results) -> Path:
    """Merge ``results`` into ``folder/sts_results.json`` (new tasks replace old ones, others are kept; each task
    keeps its own data source) and recompute the 7-task average. Returns the file."""
    path = Path(folder) / STS_RESULTS_FILE
    old = read_json(path) or {}
    new = results.to_dict() if isinstance(results, StsResults) else dict(results)
    if "tasks" not in new:  # {task: spearman}
        new = {"tasks": {_task_name(k): {"task": _task_name(k), "spearman": float(v)} for k, v in new.items()}}
    tasks = {_task_name(k): v for k, v in (old.get("tasks") or {}).items()}
    tasks.update({_task_name(k): v for k, v in new["tasks"].items()})
    order = {task: i for i, task in enumerate(TEST_TASKS)}
    ordered = {t: tasks[t] for t in sorted(tasks, key=lambda t: (t not in order, order.get(t, 0), t))}
    merged = {
        "tasks": ordered,
        "avg": seven_task_average({t: v["spearman"] for t, v in ordered.items()}),
        "seconds": new.get("seconds"),
        "meta": {**(old.get("meta") or {}), **(new.get("meta") or {})},
    }
    return write_json(path, merged)


def card_scores(folder: Path, info: Mapping[str, Any], results=None) -> dict[str, dict[str, Any]]:
    """The scores a card shows: the final STS-B dev score of ``training_info.json`` (``info``), then ``results``
    (default: ``folder/sts_results.json``), which win where both have a task."""
    scores: dict[str, dict[str, Any]] = {}
    final_dev = (info.get("final_eval") or {}).get(DEV_METRIC_KEY)
    if final_dev is not None and not (info.get("run") or {}).get("dev_file"):  # else the user's own pairs
        scores["STSBenchmark-dev"] = {"spearman": final_dev, "n_pairs": None, "source": None}
    scores.update(normalize_results(results if results is not None else read_json(folder / STS_RESULTS_FILE)))
    return scores


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
    if "STSBenchmark-dev" in scores:
        raw = ", ".join(f"{value:.2f} {label}" for label, value in (raw_dev or {}).items())
        parts.append(f"STS-B dev: {scores['STSBenchmark-dev']['spearman']:.2f}"
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


__all__ = ["card_scores", "eval_results", "headline", "merge_sts_results", "normalize_results", "result_rows",
           "results_table"]
