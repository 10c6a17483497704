"""The training-curve plot of an output folder (``training_curve.png``)."""

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .files import DEV_METRIC_KEY


def _series(log_history: Sequence[Mapping[str, Any]]):
    losses: dict[str, list[tuple[int, float]]] = {}
    dev: list[tuple[int, float]] = []
    for entry in log_history:
        step = entry.get("step")
        if step is None:
            continue
        for key, value in entry.items():
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                continue
            if key == "loss" or key.startswith("loss/"):
                losses.setdefault(key, []).append((step, float(value)))
            elif key == DEV_METRIC_KEY:
                dev.append((step, float(value)))
    return losses, dev


def plot_training_curve(log_history: Sequence[Mapping[str, Any]], path: str | Path,
                        title: str | None = None) -> Path | None:
    """PNG of the loss terms (``loss`` and every ``loss/...``) and of ``eval_stsb_spearman`` against the step.

    ``log_history`` is ``trainer.state.log_history`` (or trainer_state.json's). Returns the path, or None when the
    history holds nothing to plot. Uses matplotlib's Agg canvas directly (no pyplot, no global backend change).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    losses, dev = _series(log_history)
    if not losses and not dev:
        return None
    figure = Figure(figsize=(10, 3.8), dpi=110, layout="constrained")
    FigureCanvasAgg(figure)
    loss_axis, dev_axis = figure.subplots(1, 2)
    positive = all(v > 0 for series in losses.values() for _, v in series)
    for key in sorted(losses, key=lambda k: (k != "loss", k)):
        steps, values = zip(*losses[key])
        style = {"linewidth": 2.0, "color": "black"} if key == "loss" else {"linewidth": 1.2}
        loss_axis.plot(steps, values, label="total" if key == "loss" else key.split("/", 1)[1],
                       marker="." if len(steps) < 30 else None, **style)
    if losses:
        if positive:
            loss_axis.set_yscale("log")
        loss_axis.legend(fontsize=8)
    loss_axis.set_xlabel("step")
    loss_axis.set_ylabel("training loss (mean over the logging interval)")
    loss_axis.set_title("loss terms")
    loss_axis.grid(alpha=0.3)
    if dev:
        steps, values = zip(*dev)
        dev_axis.plot(steps, values, marker="o", color="tab:green")
        best = max(range(len(values)), key=values.__getitem__)
        dev_axis.scatter([steps[best]], [values[best]], s=120, marker="*", color="tab:red", zorder=3,
                         label=f"best {values[best]:.2f} (step {steps[best]})")
        dev_axis.legend(fontsize=8, loc="lower right")
    else:
        dev_axis.text(0.5, 0.5, "no STS-B dev evaluation logged", ha="center", va="center",
                      transform=dev_axis.transAxes)
    dev_axis.set_xlabel("step")
    dev_axis.set_ylabel("STS-B dev Spearman x100")
    dev_axis.set_title("model selection (STS-B dev)")
    dev_axis.grid(alpha=0.3)
    if title:
        figure.suptitle(title)
    path = Path(path)
    figure.savefig(path)
    return path


__all__ = ["plot_training_curve"]
