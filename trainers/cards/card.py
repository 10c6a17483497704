"""The model card (README.md) of a sentcse checkpoint folder, rendered from the Jinja2 templates.

The method's title, paper, citation, summary and the files it saves come from its ``Method`` (``trainers.methods``);
the objective's text from the objective's class; the table of options from the config's declared fields (their
meaning, kind and default). Templates are package data of ``sentcse.model_cards``; a folder passed as
``templates=`` or named by ``$SENTCSE_MODEL_CARDS`` overrides any of them by file name.
"""

import dataclasses
import os
import re
from pathlib import Path
from typing import Any

from ... import model_cards
from ...modeling.configuration_simcse import CONFIG_ERRORS, declared_fields
from ..methods import METHODS, Method, get_method
from ..methods.objective import contrastive_from_config
from ..objectives import VARIANT_OBJECTIVES, InfoNCE
from ..objectives.base import GRADIENT_PARADIGM_CITATION
from .curve import plot_training_curve
from .export import MIN_SENTENCE_TRANSFORMERS
from .files import CARD_FILE, CURVE_FILE
from .record import RunRecord
from .results import eval_results, headline, result_rows, results_table
from .sections import backbone_info, corpus_info, environment_rows, format_value, training_rows

# A card whose licence is not known says so in its header and body; the user sets it before publishing.
LICENSE_PLACEHOLDER = "other"
LICENSE_NOTE = ("> **Licence: not known**: set `license:` in the header above to the backbone's licence before "
                "publishing (no `license:` was found in the backbone's README.md).")
TEMPLATE_DIR_ENV = "SENTCSE_MODEL_CARDS"

# The common fields the options table shows last, in this order: what the contrastive term is.
OBJECTIVE_FIELDS = ("objective", "objective_variant", "objective_kwargs", "temperature")
MLP_FIELDS = frozenset({"mlp_only_train", "mlp_activation"})

_POOLER_EMBEDDINGS = {
    "cls_before_pooler": "the raw [CLS] state",
    "avg": "the mean of the last layer over the real tokens",
    "avg_first_last": "the mean over the real tokens of the first and last layers",
    "avg_top2": "the mean over the real tokens of the last two layers",
}


# ------------------------------------------------------------------------------------------------ templates
def template_loader(templates: str | Path | None = None):
    """The Jinja2 loader of the card templates: ``templates`` first, then ``$SENTCSE_MODEL_CARDS``, then the
    package data (any install: a folder or a zip). An override folder may hold only the templates it changes."""
    import jinja2

    folders = [str(Path(f).expanduser()) for f in (templates, os.environ.get(TEMPLATE_DIR_ENV)) if f]
    return jinja2.ChoiceLoader([jinja2.FileSystemLoader(folders), jinja2.PackageLoader(model_cards.__name__, "")])


def _jinja_environment(templates: str | Path | None = None):
    import jinja2

    return jinja2.Environment(loader=template_loader(templates), undefined=jinja2.StrictUndefined, trim_blocks=True,
                              lstrip_blocks=True, keep_trailing_newline=True, autoescape=False)


def _method(config) -> Method:
    if config.model_type not in METHODS:
        raise ValueError(f"not a sentcse config: model_type {config.model_type!r}")
    return METHODS[config.model_type]


def template_name(config) -> str:
    """The method's template (``Method.card_template_name``; "base.md.j2" for a method without its own)."""
    return _method(config).card_template_name(config)


# ------------------------------------------------------------------------------------------------ objective
def objective_info(config) -> dict[str, Any]:
    """The template's ``objective``: name, title, formula, variant, hyperparameters, description, citation and
    is_gradient_paradigm / described, from the objective ``config`` builds (its ``title``, ``card_description()``,
    ``citation`` and ``get_config_dict()``)."""
    objective = contrastive_from_config(config)
    hyperparameters = {key: value for key, value in objective.get_config_dict().items() if key != "variant"}
    variant = config.objective_variant
    return {
        "name": config.objective,
        "title": objective.title + (f" ({variant})" if variant else ""),
        "formula": type(objective).__name__,  # the name the method templates write its loss with
        "variant": variant,
        "kwargs": hyperparameters,
        "description": objective.card_description(),
        "citation": objective.citation,
        "is_gradient_paradigm": objective.citation == GRADIENT_PARADIGM_CITATION,
        "described": config.objective != InfoNCE.name,  # SimCSE's own term needs no section of its own
    }


# ------------------------------------------------------------------------------------------------ options table
def hidden_fields(config, method: Method) -> frozenset[str]:
    """The declared fields the options table leaves out for ``config``: those that do not apply, plus the method's
    own rule (``Method.card_hidden_fields``)."""
    fields = declared_fields(type(config))
    speed = {name for name, field in fields.items() if field.metadata["kind"] == "speed"}  # they change no number
    hidden = speed | set(method.card_hidden_fields(config))
    if config.pooler != "cls":
        hidden |= MLP_FIELDS
    if config.objective not in VARIANT_OBJECTIVES:
        hidden.add("objective_variant")
    if not config.objective_kwargs:
        hidden.add("objective_kwargs")
    return frozenset(hidden)


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _declared_default(field: dataclasses.Field) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None


def _derived_default(config, name: str) -> Any:
    """What ``config.<name>`` is when left at its declared default, the other fields as they are (a default
    derived from other fields, e.g. ``decoder_length = max_length - 2``); None where that config is invalid."""
    fields = declared_fields(type(config))
    values = {n: getattr(config, n) for n in fields if n != name}
    values[name] = _declared_default(fields[name])
    try:
        return getattr(type(config)(backbone_config=config.backbone_config, **values), name)
    except CONFIG_ERRORS:
        return None


def decision_rows(config, method: Method | None = None) -> list[dict[str, Any]]:
    """The options table: one row (option, value, default, changed, kind, description) per declared config field
    that applies to ``config``; the method's own fields first, then the common ones, then the objective's."""
    method = method or _method(config)
    fields = declared_fields(type(config))
    own = [name for name in method.own_fields if name in fields]
    common = [name for name in fields if name not in own and name not in OBJECTIVE_FIELDS]
    hidden = hidden_fields(config, method)
    rows = []
    for name in own + common + [name for name in OBJECTIVE_FIELDS if name in fields]:
        if name in hidden:
            continue
        field, value = fields[name], getattr(config, name)
        default_text = field.metadata.get("default_text")
        if default_text:
            default = _derived_default(config, name)
            shown = f"{default_text} = {format_value(default)}" if default is not None else default_text
        else:
            default = _declared_default(field)
            shown = format_value(default)
        rows.append({
            "option": name,
            "value": format_value(value),
            "default": shown,
            "changed": _plain(value) != _plain(default),
            "kind": field.metadata["kind"],
            "description": method.field_help(name),
        })
    return rows


def inference_embedding(config, method: Method | None = None) -> str:
    """Which vector ``encode`` returns, in words: the method's text, else the pooler's."""
    text = (method or _method(config)).inference_embedding(config)
    if text:
        return text
    if config.pooler == "cls":
        if config.mlp_only_train:
            return "the raw [CLS] state (the MLP head is training-only)"
        return "[CLS] through the MLP head"
    return _POOLER_EMBEDDINGS[config.pooler]


# ------------------------------------------------------------------------------------------------ the card
def checkpoint_config(folder: str | Path):
    """The config of the sentcse checkpoint in ``folder`` (ValueError for any other model)."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(folder)
    if config.model_type not in METHODS:
        raise ValueError(f"{folder} is not a sentcse checkpoint (model_type {config.model_type!r})")
    return config


def build_model_card(
    folder: str | Path,
    results=None,
    repo_id: str | None = None,
    model_name: str | None = None,
    license: str | None = None,
    templates: str | Path | None = None,
    record: RunRecord | None = None,
):
    """The ``huggingface_hub.ModelCard`` of the checkpoint in ``folder`` (see the package docstring), rendered from
    its config.json and the run's ``record`` (default: ``RunRecord.load(folder)``).

    ``results``: STS scores (``StsResults``, its dict, or ``{task: spearman}``) shown with the record's
    (``RunRecord.with_sts_results``; nothing is saved). ``repo_id`` names the model in the usage snippets and the
    model-index (default: the record's ``hub_model_id``, else ``path/to/<folder name>``). ``license``: default the
    backbone's, as the record holds it, else ``LICENSE_PLACEHOLDER`` and ``LICENSE_NOTE`` in the body.
    ``templates``: a folder of templates overriding the packaged ones.
    """
    from huggingface_hub import ModelCard, ModelCardData

    folder = Path(folder)
    config = checkpoint_config(folder)
    method = METHODS[config.model_type]
    record = (record or RunRecord.load(folder)).with_sts_results(results)
    repo_id = repo_id or record.hub_model_id
    scores = record.scores()
    license = license or record.backbone_license

    name = model_name or (repo_id.split("/")[-1] if repo_id else folder.resolve().name)
    objective = objective_info(config)
    backbone = backbone_info(config, record)
    corpus = corpus_info(record)
    citations = [method.citation]
    if objective["citation"]:
        citations.append(objective["citation"])
    base = method.builds_on
    while base:
        citations.append(get_method(base).citation)
        base = get_method(base).builds_on

    tags = ["sentence-transformers", "sentence-similarity", "feature-extraction", "sentcse", config.model_type]
    if objective["described"]:
        tags.append(config.objective.replace("_", "-"))
    card_data = ModelCardData(
        library_name="transformers",
        pipeline_tag="sentence-similarity",
        tags=tags,
        license=license or LICENSE_PLACEHOLDER,
        language="en",
        base_model=backbone["name"] if backbone["hub"] else None,
        datasets=[corpus["name"]] if corpus["hub"] else None,
        model_name=name,
        eval_results=eval_results(scores) or None,
    )
    context = {
        "model_name": name,
        "repo_id": repo_id or f"path/to/{folder.resolve().name}",
        "folder_hint": _folder_hint(folder),
        "config": config,
        "method": {"title": method.title, "paper": method.paper, "arxiv": method.arxiv, "summary": method.summary},
        "objective": objective,
        "backbone": backbone,
        "corpus": corpus,
        "hidden_size": config.hidden_size,
        "decisions": decision_rows(config, method),
        "inference_embedding": inference_embedding(config, method),
        "headline": headline(scores, record.raw_backbone_dev),
        "results": result_rows(scores),
        "results_table": results_table(scores),
        "training_rows": training_rows(record, config),
        "curve_image": CURVE_FILE if (folder / CURVE_FILE).is_file() else None,
        "method_files": [{"name": name, "description": description}
                         for name, description in method.checkpoint_files.items() if (folder / name).is_file()],
        "environment_rows": environment_rows(record),
        "citations": citations,
        "st_min_version": MIN_SENTENCE_TRANSFORMERS,
    }
    body = _jinja_environment(templates).get_template(template_name(config)).render(**context)
    body = re.sub(r"\n{3,}", "\n\n", body).strip() + "\n"
    if not license:  # below the title, where it is seen
        title, _, rest = body.partition("\n")
        body = f"{title}\n\n{LICENSE_NOTE}\n{rest}" if title.startswith("#") else f"{LICENSE_NOTE}\n\n{body}"
    return ModelCard(f"---\n{card_data.to_yaml()}\n---\n\n{body}")


def _folder_hint(folder: Path) -> str:
    """The folder as the card's commands name it: never an absolute path (the card is uploaded)."""
    if not folder.is_absolute():
        return folder.as_posix()
    try:
        return folder.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return f"path/to/{folder.name}"


def write_model_card(folder: str | Path, results=None, record: RunRecord | None = None, redraw_curve: bool = False,
                     **kwargs) -> Path:
    """Render ``folder/README.md`` (``build_model_card``) from the run's ``record`` (default: the folder's), after
    drawing ``training_curve.png`` from the record's curve when it is missing (or ``redraw_curve``). Returns the
    README path."""
    folder = Path(folder)
    record = (record or RunRecord.load(folder)).with_sts_results(results)
    curve = folder / CURVE_FILE
    if record.curve and (redraw_curve or not curve.is_file()):
        config = checkpoint_config(folder)
        backbone = Path(record.backbone or "").name or "backbone"
        plot_training_curve(record.curve, curve, title=f"{config.model_type} ({config.objective}) on {backbone}")
    path = folder / CARD_FILE
    build_model_card(folder, record=record, **kwargs).save(path)
    return path


__all__ = ["LICENSE_NOTE", "LICENSE_PLACEHOLDER", "TEMPLATE_DIR_ENV", "build_model_card", "checkpoint_config",
           "decision_rows", "hidden_fields", "inference_embedding", "objective_info", "template_loader",
           "template_name", "write_model_card"]
