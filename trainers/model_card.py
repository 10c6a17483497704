"""Model cards (README.md) and the training-curve plot of a sentcse output folder.

``write_model_card(folder)`` renders ``folder/README.md`` from what the folder holds:

- ``config.json``: the method, and every METHODS.md option the checkpoint used ([decision] / [paper] values,
  marked where they differ from the default);
- ``training_info.json`` (written by ``save_training_info`` at the end of ``examples/train.py``): the training
  arguments, the run (backbone, corpus, processes), the library versions and the hardware, the final STS-B dev score;
- ``trainer_state.json``: steps, best checkpoint, runtime; ``training_curve.png`` (``plot_training_curve``);
- ``sts_results.json`` (``StsResults.to_dict()``, from train.py's final evaluation or ``examples/evaluate.py
  --write_card``), or results passed in.

The YAML header is built with ``huggingface_hub.ModelCardData`` / ``EvalResult``: ``library_name: transformers``,
``pipeline_tag: sentence-similarity``, tags (sentence-transformers, sentence-similarity, feature-extraction,
sentcse, the method, the objective), ``base_model`` (when the backbone is a Hub name), ``datasets`` (when the
corpus is a Hub dataset), ``license`` and a ``model-index`` with one entry per STS task: task type ``STS``, metric
``cosine_spearman`` = Spearman x100 (two decimals).

Templates: Jinja2 files in the repository's ``model_cards/`` folder (``base.md.j2`` and one per method:
``simcse``, ``sarcse``, ``recse``, ``gradient_paradigm`` for a SimCSE model trained with another objective). They
are read from ``$SENTCSE_MODEL_CARDS``, else ``<repo>/model_cards`` beside this package (an editable install or a
checkout); when neither exists (a non-editable install) a minimal built-in template is used, so a card is always
written.
"""

import json
import logging
import os
import platform
import re
import subprocess
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

logger = logging.getLogger(__name__)

CARD_FILE = "README.md"
CURVE_FILE = "training_curve.png"
TRAINING_INFO_FILE = "training_info.json"
STS_RESULTS_FILE = "sts_results.json"
TRAINER_STATE_FILE = "trainer_state.json"
DEFAULT_LICENSE = "apache-2.0"
TEMPLATE_DIR_ENV = "SENTCSE_MODEL_CARDS"
REPO_TEMPLATE_DIR = Path(__file__).resolve().parents[1] / "model_cards"
DEV_METRIC_KEY = "eval_stsb_spearman"

# ------------------------------------------------------------------------------------------------ methods, papers
METHODS = {
    "simcse": {"title": "SimCSE", "paper": "SimCSE: Simple Contrastive Learning of Sentence Embeddings", "arxiv": "2104.08821"},
    "sarcse": {"title": "SARCSE", "paper": "Self-Adaptive Reconstruction with Contrastive Learning for Unsupervised "
               "Sentence Embeddings", "arxiv": "2402.15153"},
    "recse": {"title": "reCSE", "paper": "reCSE: Portable Reshaping Features for Sentence Embedding in Self-supervised "
              "Contrastive Learning", "arxiv": "2408.04975"},
}

OBJECTIVES = {
    "infonce": ("InfoNCE", "InfoNCE", "CE(sim(h1_i, h2_j) / tau, label = i) over the in-batch negatives."),
    "arccon": ("ArcCon", "ArcCon", "InfoNCE with an additive angular margin on the positive: its logit is "
               "cos(theta_ii + u), u = 10 degrees by default; in the gradient paradigm GD and W are InfoNCE's and "
               "R = sin(theta_ii + u) / sin(theta_ii)."),
    "mpt": ("MPT (margin product triplet)", "MPT", "[max_j s_ij - s_ii + m]_+ on cosine similarities (m = 0.23 by "
            "default): GD is 1 inside the margin, W one-hot on the hardest negative, R = 1."),
    "met": ("MET (margin Euclidean triplet)", "MET", "[d_ii - min_j d_ij + m]_+ on the distances d = sqrt(2 - 2s) "
            "(m = 0.45 by default): W one-hot on the closest negative, R = d_ik / d_ii."),
    "barlow_twins": ("Barlow Twins", "BarlowTwins", "A non-contrastive objective (cross-correlation of the two "
                     "views), as the paper's code writes it: a gradient-equivalent surrogate."),
    "vicreg": ("VICReg", "VICReg", "A non-contrastive objective (variance-invariance-covariance), as the paper's "
               "code writes it: a gradient-equivalent surrogate."),
    "mhe": ("MHE (minimum hyperspherical energy)", "MHE", "A non-contrastive uniformity objective: alignment of the "
            "two views plus the log-sum-exp energy of each view's pairwise similarities."),
    "mhs": ("MHS (maximum hyperspherical separation)", "MHS", "A non-contrastive uniformity objective: alignment of "
            "the two views plus the (negated) distance of each embedding to its nearest other-view neighbour."),
}
VARIANT_TEXT = {
    "orig": "Variant `orig`: the original objective (its gradient lacks the paradigm's components, which is why "
            "it does poorly on STS).",
    "mod": "Variant `mod`: modified as the paper proposes, adding the three components: gradient dissipation "
           "(`w_gd`, a margin on the same-view similarities), the weight (`w_w`, a softmax over negatives with a "
           "temperature) and the ratio (`w_r`).",
}

CITATIONS = {
    "simcse": """@inproceedings{gao2021simcse,
  title     = {{SimCSE}: Simple Contrastive Learning of Sentence Embeddings},
  author    = {Gao, Tianyu and Yao, Xingcheng and Chen, Danqi},
  booktitle = {Proceedings of the 2021 Conference on Empirical Methods in Natural Language Processing},
  year      = {2021},
  publisher = {Association for Computational Linguistics},
  url       = {https://aclanthology.org/2021.emnlp-main.552},
  doi       = {10.18653/v1/2021.emnlp-main.552},
  eprint    = {2104.08821},
  archivePrefix = {arXiv},
  primaryClass  = {cs.CL}
}""",
    "sarcse": """@misc{liu2024sarcse,
  title     = {Self-Adaptive Reconstruction with Contrastive Learning for Unsupervised Sentence Embeddings},
  author    = {Liu, Junlong and Shang, Xichen and Feng, Huawen and Zheng, Junhao and Ma, Qianli},
  year      = {2024},
  eprint    = {2402.15153},
  archivePrefix = {arXiv},
  primaryClass  = {cs.CL},
  url       = {https://arxiv.org/abs/2402.15153}
}""",
    "recse": """@misc{zhao2024recse,
  title     = {{reCSE}: Portable Reshaping Features for Sentence Embedding in Self-supervised Contrastive Learning},
  author    = {Zhao, Fufangchen and Gao, Jian and Yan, Danfeng},
  year      = {2024},
  eprint    = {2408.04975},
  archivePrefix = {arXiv},
  primaryClass  = {cs.CL},
  url       = {https://arxiv.org/abs/2408.04975}
}""",
    "gradient_paradigm": """@inproceedings{li2024unified,
  title     = {Towards Better Understanding of Contrastive Sentence Representation Learning: A Unified Paradigm for Gradient},
  author    = {Li, Mingxin and Zhang, Richong and Nie, Zhijie},
  booktitle = {Proceedings of the 62nd Annual Meeting of the Association for Computational Linguistics (Volume 1: Long Papers)},
  year      = {2024},
  publisher = {Association for Computational Linguistics},
  url       = {https://aclanthology.org/2024.acl-long.780},
  eprint    = {2402.18281},
  archivePrefix = {arXiv},
  primaryClass  = {cs.CL}
}""",
}

# (option, kind, meaning). kind: [paper] = a value the paper states, [decision] = METHODS.md's reading, option =
# a choice the CLI offers. Rows that do not apply to a config are dropped by _decision_rows.
_COMMON_OPTIONS = [
    ("pooler", "[paper]", "SimCSE pooler (cls = [CLS] through the MLP head)"),
    ("mlp_only_train", "[paper]", "MLP head for the training projection only; inference takes the raw [CLS]"),
    ("mlp_activation", "[paper]", "MLP head layout: tanh (SimCSE), tanh_first / none (arXiv 2402.18281's code)"),
    ("freeze_embeddings", "[paper]", "embedding layer frozen (arXiv 2402.18281's code)"),
    ("max_length", "[paper]", "training sequence length in tokens"),
]
_OBJECTIVE_OPTIONS = [
    ("objective", "option", "contrastive term"),
    ("objective_variant", "option", "orig / mod (gradient-paradigm modification)"),
    ("objective_kwargs", "option", "objective hyperparameters"),
    ("temperature", "[paper]", "temperature tau of the contrastive term"),
]
_METHOD_OPTIONS = {
    "simcse": [],
    "sarcse": [
        ("embedding_source", "[decision]", "sentence embedding: cnn (TextCNN-integrated z) or cls (SimCSE pooler)"),
        ("kernel_sizes", "[paper]", "TextCNN kernel sizes"),
        ("cnn_channels", "[decision]", "channels of each TextCNN branch"),
        ("decoder_length", "[decision]", "token positions the decoder rebuilds (default max_length - 2)"),
        ("detach_target", "[decision]", "reconstruct detached token states"),
        ("theta", "[paper]", "minimum self-adaptive token weight"),
        ("beta", "[paper]", "reconstruction coefficient, view 1"),
        ("gamma", "[paper]", "reconstruction coefficient, view 2"),
    ],
    "recse": [
        ("reshape_source", "[decision]", "features reshaped: embeddings (embedding-layer output) or last_hidden"),
        ("sqrt", "[decision]", "densification of M = x^T x / n: signed (element-wise) or matrix (Newton-Schulz)"),
        ("sqrt_eps", "[decision]", "eps of the square root"),
        ("newton_schulz_iterations", "[decision]", "iterations of the matrix square root"),
        ("time_for_space", "[decision]", "reshape in chunks under activation checkpointing (same numbers, less memory)"),
        ("reshape_chunk_size", "[decision]", "sentences reshaped per chunk"),
        ("reshape_temperature", "[decision]", "tau' of InfoNCE(h, r)"),
        ("lambda_dropout", "[decision]", "weight of the dropout term InfoNCE(h1, h2); 0 = pure reshaping"),
    ],
}
_RECSE_TEMPERATURE = ("temperature", "[decision]", "tau of the dropout term InfoNCE(h1, h2)")

# STS task -> (model-index dataset type, config, display name, split); SICK-R's SentEval test split (4,927 pairs)
# is not mteb/sickr-sts's test split (the whole corpus), so it is named after the SICK dataset itself.
_INDEX_DATASETS = {
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


# ------------------------------------------------------------------------------------------------ small helpers
def _read_json(path: Path) -> Optional[Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _format_value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_format_value(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={_format_value(v)}" for k, v in value.items()) if value else "-"
    return str(value)


def _is_local(name: Optional[str]) -> bool:
    if not name:
        return True
    return Path(name).expanduser().exists() or name.startswith((".", "/", "~")) or name.endswith((".txt", ".gz", ".jsonl", ".csv"))


def _package_version(name: str) -> Optional[str]:
    try:
        from importlib.metadata import PackageNotFoundError, version

        return version(name)
    except PackageNotFoundError:
        return None


def _git_commit() -> Optional[str]:
    repo = Path(__file__).resolve().parents[1]
    if not (repo / ".git").exists():
        return None
    try:
        out = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() + (" (with local changes)" if dirty.stdout.strip() else "")


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def collect_environment(world_size: int = 1) -> Dict[str, Any]:
    """Library versions and hardware of this process (for the card's Environment section)."""
    import torch

    env: Dict[str, Any] = {"python": platform.python_version(), "platform": platform.platform()}
    for package in ("sentcse", "torch", "transformers", "accelerate", "datasets", "huggingface_hub", "sentence-transformers"):
        version = _package_version(package)
        if version:
            env[package] = version
    commit = _git_commit()
    if commit:
        env["sentcse commit"] = commit
    if torch.cuda.is_available():
        names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        env["accelerator"] = ", ".join(sorted(set(names))) + f" ({len(names)} visible per process)"
        env["cuda"] = torch.version.cuda
    else:
        env["accelerator"] = "none (CPU)"
    env["cpu"] = f"{_cpu_name()} ({os.cpu_count()} logical cores)"
    env["processes"] = world_size
    return env


# ------------------------------------------------------------------------------------------------ training record
def _sanitized_args(training_args) -> Dict[str, Any]:
    if training_args is None:
        return {}
    if hasattr(training_args, "to_sanitized_dict"):
        values = training_args.to_sanitized_dict()
    else:
        values = dict(training_args)
    values.pop("hub_token", None)
    return {k: v for k, v in values.items() if not k.startswith("_") and "token" not in k.lower()}


def save_training_info(
    folder: Union[str, Path],
    training_args=None,
    run: Optional[Mapping[str, Any]] = None,
    final_eval: Optional[Mapping[str, float]] = None,
    environment: Optional[Mapping[str, Any]] = None,
) -> Path:
    """Write ``training_info.json``: the training arguments (no tokens), the run description (method, backbone,
    corpus, ...), the final evaluation metrics and the environment, so the card can be rebuilt later."""
    folder = Path(folder)
    world_size = int(getattr(training_args, "world_size", 1) or 1)
    info = {
        "training_args": _sanitized_args(training_args),
        "run": dict(run or {}),
        "final_eval": {k: float(v) for k, v in (final_eval or {}).items() if isinstance(v, (int, float))},
        "environment": dict(environment) if environment is not None else collect_environment(world_size),
    }
    path = folder / TRAINING_INFO_FILE
    path.write_text(json.dumps(info, indent=2, default=str) + "\n", encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------------------ the plot
def plot_training_curve(log_history: Sequence[Mapping[str, Any]], path: Union[str, Path], title: Optional[str] = None) -> Optional[Path]:
    """PNG of the loss terms (``loss`` and every ``loss/...``) and of ``eval_stsb_spearman`` against the step.

    ``log_history`` is ``trainer.state.log_history`` (or trainer_state.json's). Returns the path, or None when the
    history holds nothing to plot. Uses matplotlib's Agg canvas directly (no pyplot, no global backend change).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    losses: Dict[str, List[Tuple[int, float]]] = {}
    dev: List[Tuple[int, float]] = []
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
    if not losses and not dev:
        return None
    figure = Figure(figsize=(10, 3.8), dpi=110, layout="constrained")
    FigureCanvasAgg(figure)
    loss_axis, dev_axis = figure.subplots(1, 2)
    positive = all(v > 0 for series in losses.values() for _, v in series)
    for key in sorted(losses, key=lambda k: (k != "loss", k)):
        steps, values = zip(*losses[key])
        style = {"linewidth": 2.0, "color": "black"} if key == "loss" else {"linewidth": 1.2}
        loss_axis.plot(steps, values, label="total" if key == "loss" else key.split("/", 1)[1], marker="." if len(steps) < 30 else None, **style)
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
        dev_axis.text(0.5, 0.5, "no STS-B dev evaluation logged", ha="center", va="center", transform=dev_axis.transAxes)
    dev_axis.set_xlabel("step")
    dev_axis.set_ylabel("STS-B dev Spearman x100")
    dev_axis.set_title("model selection (STS-B dev)")
    dev_axis.grid(alpha=0.3)
    if title:
        figure.suptitle(title)
    path = Path(path)
    figure.savefig(path)
    return path


# ------------------------------------------------------------------------------------------------ results
def _task_name(name: str) -> str:
    """``trainers.sts.canonical_task``, also accepting format_table's column names ("STS-B dev")."""
    from .sts import canonical_task

    try:
        return canonical_task(name)
    except ValueError:
        return canonical_task(name.replace(" ", "-"))


def normalize_results(results) -> Dict[str, Dict[str, Any]]:
    """``{task: {"spearman", "n_pairs", "source"}}`` from ``StsResults``, its ``to_dict()`` (or JSON) or a plain
    ``{task: spearman}`` mapping (task names as ``trainers.sts.canonical_task`` accepts them)."""
    from .sts import StsResults

    if results is None:
        return {}
    if isinstance(results, StsResults):
        results = results.to_dict()
    out: Dict[str, Dict[str, Any]] = {}
    tasks = results["tasks"] if isinstance(results, Mapping) and "tasks" in results else results
    for name, value in dict(tasks).items():
        task = _task_name(name)
        if isinstance(value, Mapping):
            out[task] = {"spearman": float(value["spearman"]), "n_pairs": value.get("n_pairs"), "source": value.get("source")}
        elif hasattr(value, "spearman"):
            out[task] = {"spearman": float(value.spearman), "n_pairs": value.n_pairs, "source": value.source}
        else:
            out[task] = {"spearman": float(value), "n_pairs": None, "source": None}
    return out


def merge_sts_results(folder: Union[str, Path], results) -> Path:
    """Merge ``results`` into ``folder/sts_results.json`` (new tasks replace old ones, others are kept; each task
    keeps its own data source) and recompute the 7-task average. Returns the file."""
    from .sts import StsResults, TEST_TASKS

    canonical_task = _task_name
    path = Path(folder) / STS_RESULTS_FILE
    old = _read_json(path) or {}
    new = results.to_dict() if isinstance(results, StsResults) else dict(results)
    if "tasks" not in new:  # {task: spearman}
        new = {"tasks": {canonical_task(k): {"task": canonical_task(k), "spearman": float(v)} for k, v in new.items()}}
    tasks = {canonical_task(k): v for k, v in (old.get("tasks") or {}).items()}
    tasks.update({canonical_task(k): v for k, v in new["tasks"].items()})
    ordered = {t: tasks[t] for t in sorted(tasks, key=lambda t: (t not in TEST_TASKS, TEST_TASKS.index(t) if t in TEST_TASKS else 0, t))}
    scores = [ordered[t]["spearman"] for t in TEST_TASKS if t in ordered]
    merged = {
        "tasks": ordered,
        "avg": sum(scores) / len(scores) if len(scores) == len(TEST_TASKS) else None,
        "seconds": new.get("seconds"),
        "meta": {**(old.get("meta") or {}), **(new.get("meta") or {})},
    }
    path.write_text(json.dumps(merged, indent=2) + "\n", encoding="utf-8")
    return path


def _source_label(source: Optional[str]) -> str:
    if not source:
        return "-"
    return source if source.startswith("hub:") else "SentEval files"


def eval_results(results: Mapping[str, Mapping[str, Any]]):
    """``huggingface_hub.EvalResult`` per STS task (Spearman x100, two decimals), in the papers' order."""
    from huggingface_hub import EvalResult

    out = []
    for task in _INDEX_DATASETS:
        if task not in results:
            continue
        dataset_type, config, name, split = _INDEX_DATASETS[task]
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


# ------------------------------------------------------------------------------------------------ the card
def template_name(config) -> str:
    """The method's template: sarcse / recse / simcse, or gradient_paradigm for SimCSE with another objective."""
    model_type = config.model_type
    if model_type == "simcse" and config.objective != "infonce":
        return "gradient_paradigm.md.j2"
    if model_type not in METHODS:
        raise ValueError(f"not a sentcse config: model_type {model_type!r}")
    return f"{model_type}.md.j2"


_BUILTIN_BASE = """# {{ model_name }}

A {{ method.title }} sentence encoder trained with sentcse from `{{ backbone.name }}` on {{ corpus.description }}.
{% if headline %}{{ headline }}{% endif %}

## Method

{% block method %}{% endblock %}

## Configuration

| option | value | default | kind |
|---|---|---|---|
{% for row in decisions %}| `{{ row.option }}` | {{ row.value }} | {{ row.default }} | {{ row.kind }} |
{% endfor %}

## Results

{{ results_table or "No STS evaluation recorded." }}

## Training

{% for name, value in training_rows %}- {{ name }}: {{ value }}
{% endfor %}
{% if curve_image %}![training curve]({{ curve_image }}){% endif %}

## Usage

```python
from transformers import AutoModel

model = AutoModel.from_pretrained("{{ repo_id }}", trust_remote_code=True)
embeddings = model.encode(["A sentence.", "Another sentence."])
```

```python
from sentence_transformers import SentenceTransformer

model = SentenceTransformer("{{ repo_id }}", trust_remote_code=True)
embeddings = model.encode(["A sentence.", "Another sentence."])
```

## Environment

{% for name, value in environment_rows %}- {{ name }}: {{ value }}
{% endfor %}

## Citation

{% for entry in citations %}```bibtex
{{ entry }}
```
{% endfor %}
"""
_BUILTIN_METHOD = '{% extends "base.md.j2" %}{% block method %}{{ method.summary }}{% endblock %}'


def template_dir(explicit: Union[str, Path, None] = None) -> Optional[Path]:
    """The folder the templates are read from (None: the built-in fallback)."""
    for candidate in (explicit, os.environ.get(TEMPLATE_DIR_ENV), REPO_TEMPLATE_DIR):
        if candidate and (Path(candidate) / "base.md.j2").is_file():
            return Path(candidate)
    return None


def _environment(directory: Optional[Path]):
    import jinja2

    if directory is not None:
        loader = jinja2.FileSystemLoader(str(directory))
    else:
        loader = jinja2.DictLoader({"base.md.j2": _BUILTIN_BASE, **{name: _BUILTIN_METHOD for name in (
            "simcse.md.j2", "sarcse.md.j2", "recse.md.j2", "gradient_paradigm.md.j2")}})
    return jinja2.Environment(loader=loader, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                              keep_trailing_newline=True, autoescape=False)


def _decision_rows(config) -> List[Dict[str, Any]]:
    model_type = config.model_type
    options = list(_METHOD_OPTIONS.get(model_type, []))
    uses_pooler = model_type != "sarcse" or config.embedding_source == "cls"
    if uses_pooler:
        options += [o for o in _COMMON_OPTIONS if o[0] != "max_length"]
    else:
        options += [o for o in _COMMON_OPTIONS if o[0] == "freeze_embeddings"]
    options.append(next(o for o in _COMMON_OPTIONS if o[0] == "max_length"))
    objective_options = list(_OBJECTIVE_OPTIONS)
    if model_type == "recse":
        objective_options[-1] = _RECSE_TEMPERATURE
    options += objective_options
    from .objectives import VARIANT_OBJECTIVES

    rows = []
    for option, kind, meaning in options:
        if option == "newton_schulz_iterations" and config.sqrt != "matrix":
            continue
        if option == "reshape_chunk_size" and not config.time_for_space:
            continue
        if option == "mlp_only_train" and config.pooler != "cls":
            continue
        if option == "mlp_activation" and config.pooler != "cls":
            continue
        if option == "objective_variant" and config.objective not in VARIANT_OBJECTIVES:
            continue
        if option == "objective_kwargs" and not config.objective_kwargs:
            continue
        value = getattr(config, option)
        if option == "decoder_length":
            default, default_text = config.max_length - 2, f"max_length - 2 = {config.max_length - 2}"
        elif option == "objective_kwargs":
            default, default_text = {}, "-"
        else:
            default = getattr(type(config), option, None)
            default = list(default) if isinstance(default, tuple) else default
            default_text = _format_value(default)
        rows.append({
            "option": option,
            "value": _format_value(value),
            "default": default_text,
            "changed": (list(value) if isinstance(value, tuple) else value) != default,
            "kind": kind,
            "description": meaning,
        })
    return rows


def _objective_info(config) -> Dict[str, Any]:
    title, formula, description = OBJECTIVES.get(config.objective, (config.objective, config.objective, ""))
    variant = config.objective_variant
    if variant:
        title = f"{title} ({variant})"
        description = f"{description} {VARIANT_TEXT.get(variant, '')}".strip()
    return {
        "name": config.objective,
        "title": title,
        "formula": formula,
        "variant": variant,
        "kwargs": dict(config.objective_kwargs or {}),
        "description": description,
        "is_gradient_paradigm": config.objective != "infonce",
    }


def _inference_embedding(config) -> str:
    if config.model_type == "sarcse" and config.embedding_source == "cnn":
        return "the TextCNN-integrated z (max-pooled CNN features of the content tokens)"
    pooler = config.pooler
    if pooler == "cls":
        return "the raw [CLS] state (the MLP head is training-only)" if config.mlp_only_train else "[CLS] through the MLP head"
    return {
        "cls_before_pooler": "the raw [CLS] state",
        "avg": "the mean of the last layer over the real tokens",
        "avg_first_last": "the mean over the real tokens of the first and last layers",
        "avg_top2": "the mean over the real tokens of the last two layers",
    }[pooler]


def _training_rows(info: Mapping[str, Any], state: Mapping[str, Any], config) -> List[Tuple[str, str]]:
    args = info.get("training_args") or {}
    run = info.get("run") or {}
    rows: List[Tuple[str, str]] = []

    def add(name, value):
        if value is not None and value != "":
            rows.append((name, _format_value(value)))

    corpus = run.get("train_file")
    if corpus:
        n = run.get("n_sentences")
        add("corpus", f"`{Path(corpus).name if _is_local(corpus) else corpus}`" + (f" ({n:,} sentences)" if n else ""))
    add("preset", run.get("preset"))
    per_device = args.get("per_device_train_batch_size", state.get("train_batch_size"))
    processes = int(run.get("world_size") or (info.get("environment") or {}).get("processes") or 1)
    accumulation = int(args.get("gradient_accumulation_steps") or 1)
    if per_device:
        add("batch size", f"{per_device} per process x {processes} process(es)"
            + (f" x {accumulation} accumulation steps" if accumulation > 1 else "")
            + f" = {int(per_device) * processes} in-batch sentences per contrastive batch")
    add("learning rate", args.get("learning_rate"))
    if args.get("lr_scheduler_type"):
        warmup = args.get("warmup_steps") or args.get("warmup_ratio")
        add("schedule", f"{args['lr_scheduler_type']}" + (f", warmup {warmup}" if warmup else ""))
    add("optimizer", args.get("optim"))
    if args.get("weight_decay"):
        add("weight decay", args.get("weight_decay"))
    max_steps = args.get("max_steps", state.get("max_steps"))
    if max_steps and max_steps > 0:
        add("max steps", max_steps)
    else:
        add("epochs", args.get("num_train_epochs", state.get("num_train_epochs")))
    add("steps trained", state.get("global_step"))
    add("max length (tokens)", config.max_length)
    precision = "bf16" if args.get("bf16") else "fp16" if args.get("fp16") else "fp32" if args else None
    add("precision", precision)
    add("seed", args.get("seed"))
    eval_steps = args.get("eval_steps", state.get("eval_steps"))
    if eval_steps:
        add("model selection", f"STS-B dev Spearman every {_format_value(eval_steps)} steps"
            + (", best checkpoint kept" if args.get("load_best_model_at_end", True) else ""))
    best = state.get("best_metric")
    if best is not None:
        checkpoint = state.get("best_model_checkpoint") or ""
        step = re.search(r"checkpoint-(\d+)", str(checkpoint))
        add("best STS-B dev", f"{best:.2f}" + (f" (step {step.group(1)})" if step else ""))
    runtime = next((e.get("train_runtime") for e in reversed(state.get("log_history") or []) if "train_runtime" in e), None)
    if runtime is not None:
        add("training time", f"{runtime / 60:.1f} min" if runtime >= 60 else f"{runtime:.1f} s")
    return rows


def _environment_rows(info: Mapping[str, Any]) -> List[Tuple[str, str]]:
    env = info.get("environment")
    label = "training"
    if not env:
        env, label = collect_environment(), "card generation (no training record)"
    rows = [("recorded at", label)]
    rows += [(key, _format_value(value)) for key, value in env.items()]
    return rows


def _corpus_info(run: Mapping[str, Any]) -> Dict[str, Any]:
    train_file = run.get("train_file")
    n = run.get("n_sentences")
    count = f"{n:,} unlabeled sentences" if n else "unlabeled sentences"
    if not train_file:
        return {"description": "unlabeled sentences", "hub": False, "name": None}
    if _is_local(train_file):
        return {"description": f"`{Path(train_file).name}` ({count}, a local file)", "hub": False, "name": Path(train_file).name}
    return {"description": f"[`{train_file}`](https://huggingface.co/datasets/{train_file}) ({count})", "hub": True, "name": train_file}


def _backbone_info(config, run: Mapping[str, Any]) -> Dict[str, Any]:
    name = run.get("backbone")
    if not name:
        kind = config.backbone_config.model_type
        return {"name": kind, "hub": False, "link": f"a `{kind}` backbone"}
    if _is_local(name):
        return {"name": Path(name).name, "hub": False, "link": f"`{Path(name).name}` (a local backbone)"}
    return {"name": name, "hub": True, "link": f"[`{name}`](https://huggingface.co/{name})"}


def build_model_card(
    folder: Union[str, Path],
    results=None,
    repo_id: Optional[str] = None,
    model_name: Optional[str] = None,
    license: str = DEFAULT_LICENSE,
    templates: Union[str, Path, None] = None,
):
    """The ``huggingface_hub.ModelCard`` of the checkpoint in ``folder`` (see the module docstring).

    ``results``: STS scores (``StsResults``, its dict, or ``{task: spearman}``); default: ``sts_results.json``
    plus the final STS-B dev score of ``training_info.json``. ``repo_id`` names the model in the usage snippets
    and the model-index (default: the ``hub_model_id`` recorded in training_info.json, else
    ``path/to/<folder name>``).
    """
    from huggingface_hub import ModelCard, ModelCardData
    from transformers import AutoConfig

    from .. import modeling  # noqa: F401  (registers the sentcse configs)

    from .export import MIN_SENTENCE_TRANSFORMERS
    from .sts import TEST_TASKS, format_table

    folder = Path(folder)
    config = AutoConfig.from_pretrained(folder)
    if config.model_type not in METHODS:
        raise ValueError(f"{folder} is not a sentcse checkpoint (model_type {config.model_type!r})")
    info = _read_json(folder / TRAINING_INFO_FILE) or {}
    state = _read_json(folder / TRAINER_STATE_FILE) or {}
    run = info.get("run") or {}
    repo_id = repo_id or run.get("hub_model_id")

    scores: Dict[str, Dict[str, Any]] = {}
    final_dev = (info.get("final_eval") or {}).get(DEV_METRIC_KEY)
    if final_dev is not None:
        scores["STSBenchmark-dev"] = {"spearman": final_dev, "n_pairs": None, "source": None}
    scores.update(normalize_results(results if results is not None else _read_json(folder / STS_RESULTS_FILE)))

    name = model_name or (repo_id.split("/")[-1] if repo_id else folder.resolve().name)
    usage_id = repo_id or f"path/to/{folder.resolve().name}"
    method = dict(METHODS[config.model_type])
    objective = _objective_info(config)
    method["summary"] = f"{method['title']} ({method['paper']}, arXiv:{method['arxiv']}), objective {objective['title']}."
    backbone = _backbone_info(config, run)
    corpus = _corpus_info(run)

    avg = sum(scores[t]["spearman"] for t in TEST_TASKS) / len(TEST_TASKS) if all(t in scores for t in TEST_TASKS) else None
    headline_parts = []
    if avg is not None:
        headline_parts.append(f"**STS average (7 tasks): {avg:.2f}**")
    if "STSBenchmark" in scores:
        headline_parts.append(f"STS-B test: {scores['STSBenchmark']['spearman']:.2f}")
    if "STSBenchmark-dev" in scores:
        headline_parts.append(f"STS-B dev: {scores['STSBenchmark-dev']['spearman']:.2f}")
    headline = " · ".join(headline_parts) + " (Spearman x100)" if headline_parts else ""
    from .sts import TABLE_COLUMNS

    result_rows = []
    for task in _INDEX_DATASETS:
        if task in scores:
            _, _, display, split = _INDEX_DATASETS[task]
            n_pairs = scores[task].get("n_pairs")
            result_rows.append({"task": task, "column": TABLE_COLUMNS.get(task, display), "split": split,
                                "n_pairs": n_pairs if n_pairs else "-", "spearman": scores[task]["spearman"],
                                "source": _source_label(scores[task].get("source"))})

    citations = [CITATIONS[config.model_type]]
    if objective["is_gradient_paradigm"]:
        citations.append(CITATIONS["gradient_paradigm"])
    if config.model_type != "simcse":
        citations.append(CITATIONS["simcse"])

    tags = ["sentence-transformers", "sentence-similarity", "feature-extraction", "sentcse", config.model_type]
    if objective["is_gradient_paradigm"]:
        tags.append(config.objective.replace("_", "-"))
    card_data = ModelCardData(
        library_name="transformers",
        pipeline_tag="sentence-similarity",
        tags=tags,
        license=license,
        language="en",
        base_model=backbone["name"] if backbone["hub"] else None,
        datasets=[corpus["name"]] if corpus["hub"] else None,
        model_name=name,
        eval_results=eval_results(scores) or None,
    )
    context = {
        "model_name": name,
        "repo_id": usage_id,
        "folder_hint": str(folder),
        "config": config,
        "method": method,
        "objective": objective,
        "backbone": backbone,
        "corpus": corpus,
        "hidden_size": config.hidden_size,
        "decisions": _decision_rows(config),
        "inference_embedding": _inference_embedding(config),
        "headline": headline,
        "results": result_rows,
        "results_table": format_table({t: s["spearman"] for t, s in scores.items()}) if scores else "",
        "training_rows": _training_rows(info, state, config),
        "curve_image": CURVE_FILE if (folder / CURVE_FILE).is_file() else None,
        "token_counts_file": "token_counts.json" if (folder / "token_counts.json").is_file() else None,
        "environment_rows": _environment_rows(info),
        "citations": citations,
        "st_min_version": MIN_SENTENCE_TRANSFORMERS,
    }
    body = _environment(template_dir(templates)).get_template(template_name(config)).render(**context)
    body = re.sub(r"\n{3,}", "\n\n", body).strip() + "\n"
    return ModelCard(f"---\n{card_data.to_yaml()}\n---\n\n{body}")


def write_model_card(folder: Union[str, Path], results=None, **kwargs) -> Path:
    """Render ``folder/README.md`` (``build_model_card``); redraws ``training_curve.png`` from trainer_state.json
    when it is missing. Returns the README path."""
    folder = Path(folder)
    state = _read_json(folder / TRAINER_STATE_FILE)
    if state and not (folder / CURVE_FILE).is_file():
        plot_training_curve(state.get("log_history") or [], folder / CURVE_FILE)
    card = build_model_card(folder, results=results, **kwargs)
    path = folder / CARD_FILE
    card.save(path)
    return path


__all__ = [
    "CARD_FILE",
    "CITATIONS",
    "CURVE_FILE",
    "STS_RESULTS_FILE",
    "TRAINING_INFO_FILE",
    "build_model_card",
    "collect_environment",
    "eval_results",
    "merge_sts_results",
    "normalize_results",
    "plot_training_curve",
    "save_training_info",
    "template_dir",
    "template_name",
    "write_model_card",
]
