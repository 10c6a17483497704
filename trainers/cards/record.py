"""The record of a training run (``RunRecord``): everything the model card says about the run, saved once in the
output folder as ``training_info.json`` and rendered from there.

``RunRecord.from_run`` describes a run that has just trained (``finish_output_folder``); ``save`` writes it, with no
absolute local path (``portable``: the backbone and corpus by name, listed under ``local_inputs``); ``load`` reads
it back. ``with_sts_results`` adds STS scores (``sentcse-evaluate --write_card``). A folder written by an earlier
sentcse (training_info.json without ``record_version``, trainer_state.json, sts_results.json) becomes a record in one
place, ``from_legacy_folder``, which ``load`` calls.

The JSON file keeps the sections earlier versions wrote (``run``, ``training_args``, ``final_eval``,
``environment``), so readers of ``run`` (``trainers.serving``) and of the arguments go on working.
"""

import dataclasses
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .environment import collect_environment
from .files import (
    DEV_METRIC_KEY,
    RECORD_FILE,
    STS_RESULTS_FILE,
    TRAINER_STATE_FILE,
    TRAINING_INFO_FILE,
    read_json,
    write_json,
)
from .portable import portable_run, portable_value
from .results import DEV_TASK, merged_sts_results, sts_results_dict
from .sections import backbone_license, is_local

RECORD_VERSION = 1
# The fields kept in the file's "run" section (the run's description; earlier versions wrote it too).
RUN_FIELDS = ("method", "backbone", "backbone_license", "train_file", "n_sentences", "preset", "dev_file",
              "raw_backbone_dev", "world_size", "hub_model_id", "local_inputs")


@dataclasses.dataclass
class RunRecord:
    """A run as its card describes it. Every value is plain JSON and holds no absolute local path."""

    method: str | None = None  # the method's name (config.json's model_type says what the checkpoint is)
    backbone: str | None = None  # a Hub id, or a local folder by its name (then listed in local_inputs)
    backbone_license: str | None = None  # the backbone's README.md licence, read while its path was at hand
    train_file: str | None = None  # the corpus: a Hub dataset, or local files by their names
    n_sentences: int | None = None
    preset: str | None = None
    dev_file: str | None = None  # the user's model-selection pairs (by name when local); None: STS-B dev
    raw_backbone_dev: dict[str, float] = dataclasses.field(default_factory=dict)  # the untrained backbone, per pooling
    world_size: int | None = None
    hub_model_id: str | None = None  # the Hub id the card's snippets and model-index name
    local_inputs: list[str] = dataclasses.field(default_factory=list)  # which of backbone / train_file / dev_file
    training_args: dict[str, Any] = dataclasses.field(default_factory=dict)  # TrainingArguments, no token
    steps_trained: int | None = None
    best_dev: float | None = None  # the best model-selection Spearman x100 and its step
    best_step: int | None = None
    runtime_seconds: float | None = None
    curve: list[dict[str, float]] = dataclasses.field(default_factory=list)  # step, loss terms, dev Spearman
    final_eval: dict[str, float] = dataclasses.field(default_factory=dict)  # the saved model's evaluation
    sts_results: dict[str, Any] | None = None  # StsResults.to_dict()'s shape (sts_results_dict)
    environment: dict[str, Any] = dataclasses.field(default_factory=dict)  # versions, hardware, git commit

    # ------------------------------------------------------------------------------------------ building
    @classmethod
    def from_run(
        cls,
        folder: str | Path,
        run: Mapping[str, Any] | None = None,
        training_args=None,
        state=None,
        final_eval: Mapping[str, Any] | None = None,
        results=None,
        environment: Mapping[str, Any] | None = None,
    ) -> "RunRecord":
        """The record of a run that trained into ``folder``. ``run``: what sentcse-train describes (method,
        backbone, train_file, n_sentences, preset, dev_file, raw_backbone_dev; world_size, hub_model_id,
        backbone_license when known: the licence is read now, while a local backbone's path is at hand);
        ``training_args``: ``TrainingArguments`` or their dict; ``state``: the ``TrainerState`` or trainer_state.json's
        dict (its history up to the end of training is the curve); ``final_eval``: the final evaluation's metrics;
        ``results``: STS scores (``sts_results_dict``); ``environment``: default this process's."""
        run = dict(run or {})
        if "backbone_license" not in run:
            run["backbone_license"] = backbone_license(run.get("backbone"))
        run = portable_run(run)
        world_size = run.get("world_size") or getattr(training_args, "world_size", None)
        args = _sanitized_args(training_args)
        for name, key in (("per_device_train_batch_size", "train_batch_size"), ("max_steps", "max_steps"),
                          ("num_train_epochs", "num_train_epochs")):  # the state's value where no argument says
            if name not in args and _state(state, key) is not None:
                args[name] = _state(state, key)
        history = list(_state(state, "log_history") or ())
        best = re.search(r"checkpoint-(\d+)", str(_state(state, "best_model_checkpoint") or ""))
        values = {name: run.get(name) for name in RUN_FIELDS if run.get(name) is not None}
        values.update(
            world_size=int(world_size) if world_size else None,
            training_args=args,
            steps_trained=_state(state, "global_step"),
            best_dev=_state(state, "best_metric"),
            best_step=int(best.group(1)) if best else None,
            runtime_seconds=next((e["train_runtime"] for e in reversed(history) if "train_runtime" in e), None),
            curve=training_curve(history),
            final_eval={k: float(v) for k, v in (final_eval or {}).items()
                        if isinstance(v, (int, float)) and not isinstance(v, bool)},
            sts_results=sts_results_dict(results) if results is not None else None,
            environment=dict(environment) if environment is not None else collect_environment(world_size or 1),
        )
        return cls.from_dict(portable_value(_plain(_as_file(values)), folder))

    @classmethod
    def from_legacy_folder(cls, folder: str | Path) -> "RunRecord":
        """The record of a folder written before records existed: training_info.json (``run``, ``training_args``,
        ``final_eval``, ``environment``), trainer_state.json and sts_results.json, each where present; a folder
        with none of them (a model saved by hand) gives an empty record."""
        folder = Path(folder)
        info = read_json(folder / TRAINING_INFO_FILE)
        info = info if isinstance(info, dict) else {}
        return cls.from_run(folder, info.get("run"), info.get("training_args") or {},
                            read_json(folder / TRAINER_STATE_FILE) or {}, info.get("final_eval"),
                            read_json(folder / STS_RESULTS_FILE), environment=info.get("environment") or {})

    def with_sts_results(self, results) -> "RunRecord":
        """A copy with ``results`` (``StsResults``, its dict, or ``{task: spearman}``) merged into the STS results:
        a task scored again is replaced, the others are kept; the seven-task average is recomputed."""
        if results is None:
            return self
        return dataclasses.replace(self, sts_results=merged_sts_results(self.sts_results, results))

    # ------------------------------------------------------------------------------------------ the file
    def to_dict(self) -> dict[str, Any]:
        return _as_file(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "RunRecord":
        names = {field.name for field in dataclasses.fields(cls)}
        values = {k: v for k, v in (data.get("run") or {}).items() if k in RUN_FIELDS}
        values.update({k: v for k, v in data.items() if k in names and k not in RUN_FIELDS})
        return cls(**{k: v for k, v in values.items() if v is not None})

    def save(self, folder: str | Path) -> Path:
        """Write ``folder/training_info.json`` (no absolute local path) and, when the record holds STS results,
        ``sts_results.json`` (the same scores, for the tools that read ``StsResults`` JSON). Returns the record."""
        folder = Path(folder)
        data = portable_value(self.to_dict(), folder)
        if data.get("sts_results"):
            write_json(folder / STS_RESULTS_FILE, data["sts_results"])
        return write_json(folder / RECORD_FILE, data)

    @classmethod
    def load(cls, folder: str | Path) -> "RunRecord":
        """The record in ``folder``; a folder of an earlier sentcse is converted (``from_legacy_folder``)."""
        data = read_json(Path(folder) / RECORD_FILE)
        if isinstance(data, dict) and data.get("record_version"):
            return cls.from_dict(data)
        return cls.from_legacy_folder(folder)

    # ------------------------------------------------------------------------------------------ for the card
    def is_local(self, key: str) -> bool:
        """Whether the run's ``key`` (backbone, train_file, dev_file) is a local path: recorded so, or one by its
        look."""
        return key in self.local_inputs or is_local(getattr(self, key))

    def scores(self) -> dict[str, dict[str, Any]]:
        """The scores the card shows, ``{task: StsResults task dict}``: the final STS-B dev score (not with the
        user's own dev pairs), then the STS results, which win where both have a task."""
        scores: dict[str, dict[str, Any]] = {}
        final_dev = self.final_eval.get(DEV_METRIC_KEY)
        if final_dev is not None and not self.dev_file:
            scores[DEV_TASK] = {"task": DEV_TASK, "spearman": final_dev}
        scores.update((self.sts_results or {}).get("tasks") or {})
        return scores


def training_curve(log_history: Sequence[Mapping[str, Any]]) -> list[dict[str, float]]:
    """What the card and the plot read of a Trainer's ``log_history``: per entry its step, ``loss`` and ``loss/...``
    terms and dev Spearman, up to the end of training (an evaluation after it scores the saved model, no step)."""
    history = list(log_history)
    end = max((i for i, entry in enumerate(history) if "train_runtime" in entry), default=len(history) - 1)
    curve = []
    for entry in history[: end + 1]:
        values = {key: value for key, value in entry.items()
                  if (key in ("loss", DEV_METRIC_KEY) or key.startswith("loss/"))
                  and isinstance(value, (int, float)) and not isinstance(value, bool)}
        if values and entry.get("step") is not None:
            curve.append({"step": entry["step"], **values})
    return curve


def _state(state, key: str) -> Any:
    if state is None:
        return None
    return state.get(key) if isinstance(state, Mapping) else getattr(state, key, None)


def _sanitized_args(training_args) -> dict[str, Any]:
    """The training arguments as JSON values, without any credential (the folder is uploaded as it is)."""
    if training_args is None:
        return {}
    values = training_args.to_sanitized_dict() if hasattr(training_args, "to_sanitized_dict") else dict(training_args)
    return {k: v for k, v in values.items() if not k.startswith("_") and "token" not in k.lower()}


def _as_file(values: dict[str, Any]) -> dict[str, Any]:
    """The file's layout: the version, the run's fields in their section, the rest beside it."""
    values = dict(values)
    run = {name: values.pop(name) for name in RUN_FIELDS if name in values}
    return {"record_version": RECORD_VERSION, "run": run, **values}


def _plain(value: Any) -> Any:
    """``value`` as JSON would read it back (tuples as lists, other objects as text)."""
    return json.loads(json.dumps(value, default=str))


__all__ = ["RECORD_FILE", "RUN_FIELDS", "RunRecord", "training_curve"]
