"""The card's description of a run: its training hyperparameters, environment, backbone and corpus.

Everything here reads the run's ``RunRecord`` (``record``) and the checkpoint's config.
"""

from pathlib import Path
from typing import Any

from ...modeling.inputs import looks_local
from .environment import collect_environment
from .files import DEV_METRIC_KEY

Rows = list[tuple[str, str]]


def format_value(value: Any) -> str:
    """A config or argument value as the card's tables show it ("-" for None or an empty mapping)."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(format_value(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={format_value(v)}" for k, v in value.items()) if value else "-"
    return str(value)


def is_local(name: str | None) -> bool:
    """Whether a backbone / corpus name is a local path rather than a Hub id."""
    if not name:
        return True
    return Path(name).expanduser().exists() or looks_local(name) or name.endswith((".txt", ".gz", ".jsonl", ".csv"))


def training_rows(record, config) -> Rows:
    """(name, value) rows of the Training table of ``record`` (a ``RunRecord``): corpus, batch, schedule, steps,
    model selection, runtime."""
    args = record.training_args
    rows: Rows = []

    def add(name, value):
        if value is not None and value != "":
            rows.append((name, format_value(value)))

    if record.train_file:
        n = record.n_sentences
        name = local_names(record.train_file) if record.is_local("train_file") else record.train_file
        add("corpus", f"`{name}`" + (f" ({n:,} sentences)" if n else ""))
    add("preset", record.preset)
    per_device = args.get("per_device_train_batch_size")
    processes = int(record.world_size or record.environment.get("processes") or 1)
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
    max_steps = args.get("max_steps")
    if max_steps and max_steps > 0:
        add("max steps", max_steps)
    else:
        add("epochs", args.get("num_train_epochs"))
    add("steps trained", record.steps_trained)
    add("max length (tokens)", config.max_length)
    add("precision", "bf16" if args.get("bf16") else "fp16" if args.get("fp16")
        else "fp32" if "bf16" in args or "fp16" in args else None)
    add("seed", args.get("seed"))
    dev = dev_name(record)
    steps = sorted({entry["step"] for entry in record.curve if DEV_METRIC_KEY in entry})
    if steps:
        add("model selection", f"{dev} Spearman at step{'s' if len(steps) > 1 else ''} "
            + (", ".join(map(str, steps)) if len(steps) <= 8 else f"{steps[0]}, {steps[1]}, ..., {steps[-1]}")
            + (", best checkpoint kept" if args.get("load_best_model_at_end", True) and len(steps) > 1 else ""))
    if record.best_dev is not None:
        add(f"best {dev}", f"{record.best_dev:.2f}"
            + (f" (step {record.best_step})" if record.best_step is not None else ""))
    if record.raw_backbone_dev:
        add(f"{dev} of the untrained backbone", ", ".join(f"{v:.2f} ({k})" for k, v in record.raw_backbone_dev.items()))
    final = record.final_eval
    if "eval_stsb_alignment" in final:
        add(f"alignment / uniformity ({dev}, lower is better)",
            f"{final['eval_stsb_alignment']:.3f} / {final['eval_stsb_uniformity']:.3f}")
    runtime = record.runtime_seconds
    if runtime is not None:
        add("training time", f"{runtime / 60:.1f} min" if runtime >= 60 else f"{runtime:.1f} s")
    return rows


def dev_name(record) -> str:
    """The model-selection data as the card names it: the user's pairs file, else STS-B dev."""
    if not record.dev_file:
        return "STS-B dev"
    return f"`{local_names(record.dev_file) if record.is_local('dev_file') else record.dev_file}` (your pairs)"


def environment_rows(record) -> Rows:
    """(name, value) rows of the Environment table: the training's record, else this process's."""
    env = record.environment
    label = "training"
    if not env:
        env, label = collect_environment(), "card generation (no training record)"
    return [("recorded at", label)] + [(key, format_value(value)) for key, value in env.items()]


def local_names(value: str) -> str:
    """A local path by its name; each of a comma-separated list of paths or globs (``--train_file``) by its own."""
    return ",".join(Path(part.strip()).expanduser().name or part for part in value.split(",") if part.strip())


def corpus_info(record) -> dict[str, Any]:
    """The template's ``corpus``: description (Markdown), name, hub."""
    train_file = record.train_file
    n = record.n_sentences
    count = f"{n:,} unlabeled sentences" if n else "unlabeled sentences"
    if not train_file:
        return {"description": "unlabeled sentences", "hub": False, "name": None}
    if record.is_local("train_file"):
        name = local_names(train_file)
        return {"description": f"`{name}` ({count}, a local file)", "hub": False, "name": name}
    return {"description": f"[`{train_file}`](https://huggingface.co/datasets/{train_file}) ({count})", "hub": True,
            "name": train_file}


def backbone_info(config, record) -> dict[str, Any]:
    """The template's ``backbone``: name, hub, link (Markdown)."""
    name = record.backbone
    if not name:
        kind = config.backbone_config.model_type
        return {"name": kind, "hub": False, "link": f"a `{kind}` backbone"}
    if record.is_local("backbone"):
        return {"name": Path(name).name, "hub": False, "link": f"`{Path(name).name}` (a local backbone)"}
    return {"name": name, "hub": True, "link": f"[`{name}`](https://huggingface.co/{name})"}


def backbone_license(backbone: str | None) -> str | None:
    """The ``license:`` of the backbone's README.md front matter, without the network: the README of a local
    backbone folder, else the one in the Hub cache of a Hub backbone (from_pretrained does not fetch it, so usually
    None). None when unknown."""
    from huggingface_hub.repocard import metadata_load

    if not backbone:
        return None
    readme = Path(backbone).expanduser() / "README.md"
    if not readme.is_file() and not is_local(backbone):
        from huggingface_hub import try_to_load_from_cache

        try:
            cached = try_to_load_from_cache(backbone, "README.md")
        except ValueError:  # not a valid repo id
            cached = None
        readme = Path(cached) if isinstance(cached, str) else readme
    try:
        value = (metadata_load(readme) or {}).get("license") if readme.is_file() else None
    except (OSError, ValueError):  # unreadable file or malformed YAML
        return None
    if isinstance(value, list):  # the Hub allows a list; the card keeps the first
        value = value[0] if value else None
    return str(value) if value else None


__all__ = ["backbone_info", "backbone_license", "corpus_info", "dev_name", "environment_rows", "format_value",
           "is_local", "local_names", "training_rows"]
