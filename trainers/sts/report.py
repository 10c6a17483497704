"""Reporting STS scores: the papers' table, per-subset lines and the seven-task average."""


from .evaluator import StsResults
from .tasks import DEV_TASK, TABLE_COLUMNS, TEST_TASKS, canonical_task, seven_task_average


def _task_scores(results) -> dict[str, float]:
    if isinstance(results, StsResults):
        return {name: r.spearman for name, r in results.tasks.items()}
    if isinstance(results, dict) and "tasks" in results:  # StsResults.to_dict() / its JSON
        return {canonical_task(name): r["spearman"] for name, r in results["tasks"].items()}
    if isinstance(results, dict):  # {task: spearman}
        return {canonical_task(name): float(v) for name, v in results.items()}
    raise TypeError(f"cannot format {type(results).__name__}")


def format_table(results, include_dev: bool = True, digits: int = 2) -> str:
    """A markdown table in the papers' column order: STS12 STS13 STS14 STS15 STS16 STS-B SICK-R Avg (Spearman
    x100), then "STS-B dev" when it was scored and ``include_dev``. Unscored tasks show "-"; Avg needs all seven.
    Accepts ``StsResults``, its ``to_dict()`` (or that JSON loaded back) or a plain ``{task: spearman}`` dict."""
    scores = _task_scores(results)
    headers = [TABLE_COLUMNS[t] for t in TEST_TASKS] + ["Avg"]
    cells = [f"{scores[t]:.{digits}f}" if t in scores else "-" for t in TEST_TASKS]
    avg = seven_task_average(scores)
    cells.append(f"{avg:.{digits}f}" if avg is not None else "-")
    if include_dev and DEV_TASK in scores:
        headers.append("STS-B dev")
        cells.append(f"{scores[DEV_TASK]:.{digits}f}")
    widths = [max(len(h), len(c)) for h, c in zip(headers, cells)]
    line = lambda items: "| " + " | ".join(s.rjust(w) for s, w in zip(items, widths)) + " |"  # noqa: E731
    sep = "|" + "|".join("-" * (w + 1) + ":" for w in widths) + "|"
    return "\n".join([line(headers), sep, line(cells)])


def format_subsets(results: StsResults, digits: int = 2) -> str:
    """Per-task lines: "all" Spearman, the mean of the per-subset Spearmans, and each subset's Spearman."""
    out = []
    for name, r in results.tasks.items():
        if not r.subsets:
            continue
        subs = ", ".join(f"{k} {v.spearman:.{digits}f}" for k, v in r.subsets.items())
        out.append(f"{name}: all {r.spearman:.{digits}f} | subset mean {r.subset_mean_spearman:.{digits}f} | {subs}")
    return "\n".join(out)
