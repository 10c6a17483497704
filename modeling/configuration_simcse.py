"""Configuration of the SimCSE baseline, and the field declaration every sentcse config shares.

Configs are huggingface_hub ``@strict`` dataclasses, as transformers v5's own are: each field is a typed class
annotation (``Literal[...]`` for a choice) with its default, its meaning (``help``: the docstring, the CLI's
``--help`` and the model card) and its value checks (``validated_field``). The annotation and the checks run on
construction and on every assignment; cross-field rules are ``validate_*`` methods, run on construction and by
``validate()`` (``save_pretrained`` and the model's constructor call it). Failures raise huggingface_hub's
``StrictDataclassError``s, naming the field.
"""

import dataclasses
import difflib
import logging
import math
import re
import types
import typing
from collections.abc import Callable
from typing import Any, Literal

from huggingface_hub.dataclasses import strict, validated_field
from huggingface_hub.errors import StrictDataclassError, StrictDataclassFieldValidationError
from transformers import AutoConfig, BertConfig, GenerationConfig, PreTrainedConfig

logger = logging.getLogger(__name__)

Pooler = Literal["cls", "cls_before_pooler", "avg", "avg_first_last", "avg_top2"]
MlpActivation = Literal["tanh", "tanh_first", "none"]
ObjectiveVariant = Literal["orig", "mod"]
POOLERS = typing.get_args(Pooler)

# What a bad config raises: a field's type or check (StrictDataclassError), a rule or a backbone config (ValueError).
CONFIG_ERRORS = (StrictDataclassError, ValueError, TypeError)


# ---------------------------------------------------------------------------------------------- value checks
def finite(value: Any) -> None:
    if not math.isfinite(value):
        raise ValueError(f"must be finite, got {value!r}")


def positive(value: Any) -> None:
    if not value > 0:
        raise ValueError(f"must be > 0, got {value!r}")
    finite(value)


def non_negative(value: Any) -> None:
    if not value >= 0:
        raise ValueError(f"must be >= 0, got {value!r}")
    finite(value)


def at_least_one(value: Any) -> None:
    if value is not None and value < 1:
        raise ValueError(f"must be >= 1, got {value!r}")


def config_field(default: Any, help: str, check: Callable[[Any], None] | None = None, kind: str = "option",
                 default_text: str | None = None) -> Any:
    """A config field: ``help`` says what it means; ``check`` raises ``ValueError`` for a bad value (the type is
    the annotation's); ``kind`` is "[paper]" (a value a paper states), "[decision]" (METHODS.md's reading where the
    paper is silent), "option", or "speed" (changes time or memory, no number of the model); ``default_text``
    describes a derived default."""
    metadata = {"help": help, "kind": kind, "default_text": default_text}
    checks = [check] if check else []
    if isinstance(default, (list, dict)):
        return validated_field(checks, default_factory=lambda: type(default)(default), metadata=metadata)
    return validated_field(checks, default=default, metadata=metadata)


def declared_fields(config_class) -> dict[str, dataclasses.Field]:
    """The sentcse fields of ``config_class`` (those declared with ``config_field``), in declaration order."""
    return {f.name: f for f in dataclasses.fields(config_class) if "help" in f.metadata}


def principal_type(annotation: Any) -> Any:
    """A field's annotation, or the first member of its union other than None (``Optional[X]`` and ``X | int``:
    X)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return next((a for a in typing.get_args(annotation) if a is not type(None)), annotation)
    return annotation


def field_choices(field: dataclasses.Field) -> tuple[Any, ...]:
    """The values a ``Literal`` field allows (also inside ``Optional``), without None; () for any other field."""
    annotation = principal_type(field.type)
    return typing.get_args(annotation) if typing.get_origin(annotation) is Literal else ()


def build_backbone_config(backbone_config: Any) -> PreTrainedConfig:
    """Accept a config object, a dict with ``model_type`` (as read from config.json) or None (BERT-base)."""
    if backbone_config is None:
        return BertConfig()
    if isinstance(backbone_config, PreTrainedConfig):
        return backbone_config
    if isinstance(backbone_config, dict):
        if "model_type" not in backbone_config:
            raise ValueError("backbone_config needs a 'model_type' (e.g. 'bert' or 'roberta')")
        values = dict(backbone_config)
        return AutoConfig.for_model(values.pop("model_type"), **values)
    raise ValueError(f"backbone_config must be a PreTrainedConfig, a dict or None, "
                     f"got {type(backbone_config).__name__}")


def fields_docstring(config_class) -> str:
    lines = []
    for name, f in declared_fields(config_class).items():
        default = (f.metadata["default_text"]
                   or repr(f.default if f.default is not dataclasses.MISSING else f.default_factory()))
        lines.append(f"        {name} (defaults to {default}): {f.metadata['help']}")
    return "\n".join(lines)


# Keys a config takes beside its fields: the ones PreTrainedConfig.__post_init__ consumes, and those config.json
# carries without a field (model_type, auto_map).
TRANSFORMERS_KEYS = frozenset({
    "model_type", "auto_map", "torch_dtype", "num_labels", "name_or_path", "_name_or_path", "_commit_hash",
    "output_attentions", "attn_implementation", "experts_implementation", "_attn_implementation_internal",
    "_experts_implementation_internal", "pad_token_id", "bos_token_id", "eos_token_id", "sep_token_id",
    "decoder_start_token_id", *GenerationConfig._get_default_generation_params(),
})


@strict(accept_kwargs=True)
class SimCseConfig(PreTrainedConfig):
    r"""
    Configuration of [`SimCseModel`]: unsupervised SimCSE (Gao et al., 2021), the baseline of every sentcse method.
    Subclasses (one per method, each ``@strict``) add their own fields; a key that is no field is rejected.

    Args:
        backbone_config (`PreTrainedConfig` or `dict`, *optional*): config of the wrapped encoder (any BERT- or
            RoBERTa-family model); defaults to a BERT-base config.
{fields}
    """

    model_type = "simcse"
    sub_configs = {"backbone_config": AutoConfig}

    backbone_config: Any = None
    pooler: Pooler = config_field(
        "cls", "pooler: cls ([CLS] through the MLP head), cls_before_pooler (raw [CLS]), avg (mean of the last layer "
        "over real tokens), avg_first_last (first and last layers), avg_top2 (last two layers)", kind="[paper]")
    mlp_only_train: bool = config_field(
        True, "with pooler cls, the MLP head makes the training projection only; the inference embedding is the raw "
        "[CLS] (SimCSE's unsupervised recipe)", kind="[paper]")
    mlp_activation: MlpActivation = config_field(
        "tanh", "MLP head layout: tanh (Linear then tanh, SimCSE), tanh_first (tanh then Linear, the RoBERTa head of "
        "arXiv 2402.18281's code) or none (Linear only, its BERT head)", kind="[paper]")
    max_length: int = config_field(32, "training sequence length in tokens", at_least_one, "[paper]")
    freeze_embeddings: bool = config_field(False, "freeze the backbone's embedding layer (arXiv 2402.18281's code)",
                                           kind="[paper]")
    temperature: float | int = config_field(0.05, "temperature tau of the contrastive term", positive, "[paper]")
    objective: str = config_field("infonce", "the contrastive objective trained with, by its name in sentcse's "
                                  "objectives")
    objective_variant: ObjectiveVariant | None = config_field(
        None, "the variant of an objective that has two: orig, or mod (the gradient-paradigm modification)")
    objective_kwargs: dict[str, Any] | None = config_field({}, "further hyperparameters of the objective (margin, "
                                                              "ratio, ...)")
    length_buckets: int = config_field(
        4, "a training forward runs the backbone (and SARCSE's head) on this many groups of rows of similar length, "
        "each padded only to its own longest row: the same outputs with fewer padded positions; 1 runs one padded "
        "batch", at_least_one, "speed")

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__doc__ and "{fields}" in cls.__doc__:
            cls.__doc__ = cls.__doc__.replace("{fields}", fields_docstring(cls))

    @classmethod
    def from_dict(cls, config_dict, **kwargs):
        """As ``PreTrainedConfig.from_dict``; a key this config has no field for (saved by an older sentcse, or a
        field of another method, which older versions accepted) is dropped with a warning, so the checkpoint loads."""
        unknown = sorted(set(config_dict) - set(cls.__dataclass_fields__) - TRANSFORMERS_KEYS)
        if unknown:
            logger.warning("%s config: ignoring %s (no field of this config)", cls.model_type, ", ".join(unknown))
            config_dict = {key: value for key, value in config_dict.items() if key not in unknown}
        objective_kwargs = dict(config_dict.get("objective_kwargs") or {})
        if "temperature" in objective_kwargs:  # older sentcse: this one won over the field, so it is what trained
            config_dict = {**config_dict, "temperature": objective_kwargs.pop("temperature"),
                           "objective_kwargs": objective_kwargs}
        try:
            return super().from_dict(config_dict, **kwargs)
        except StrictDataclassFieldValidationError as error:  # its first line names the field, its second the fault
            field, cause = re.search(r"'([^']+)'", str(error)).group(1), str(error.__cause__)
            named = cause if f"'{field}'" in cause else f"{field} {cause}"
            raise ValueError(f"{named} (a value of this {cls.model_type} config.json or of from_pretrained's "
                             "arguments: correct it)") from error

    def __post_init__(self, **kwargs):
        unknown = sorted(set(kwargs) - TRANSFORMERS_KEYS)
        if unknown:
            raise ValueError(_unknown_keys_text(type(self), unknown))
        self.backbone_config = build_backbone_config(self.backbone_config)
        if self.objective_kwargs is None:
            self.objective_kwargs = {}
        super().__post_init__(**kwargs)

    def validate_objective_kwargs(self) -> None:
        shadowed = sorted(set(self.objective_kwargs or {}) & {"temperature"})
        if shadowed:
            raise ValueError(f"objective_kwargs must not set {', '.join(shadowed)}: it is a config field of its own "
                             f"(--{shadowed[0]}); set it there")

    @property
    def hidden_size(self) -> int:
        return self.backbone_config.hidden_size


SimCseConfig.__doc__ = SimCseConfig.__doc__.replace("{fields}", fields_docstring(SimCseConfig))


def _unknown_keys_text(config_class, unknown: list[str]) -> str:
    """One line for keys ``config_class`` has no field for: whose field each is, or the field it resembles."""
    own = list(declared_fields(config_class))
    notes = []
    for key in unknown:
        owners = [c.model_type for c in _sentcse_configs() if key in declared_fields(c)]
        close = difflib.get_close_matches(key, own, n=1)
        notes.append(f"{key} (a field of {' and '.join(owners)}; choose that method)" if owners
                     else f"{key} (did you mean {close[0]}?)" if close else key)
    listed = "" if len(notes) == 1 and notes[0] != unknown[0] else f" (its fields: {', '.join(own)})"
    return (f"{', '.join(notes)}: not {'a field' if len(unknown) == 1 else 'fields'} "
            f"of a {config_class.model_type} config{listed}")


def _sentcse_configs() -> list[type]:
    """SimCseConfig and every subclass loaded in this process."""
    found, pending = [], [SimCseConfig]
    while pending:
        current = pending.pop()
        found.append(current)
        pending.extend(current.__subclasses__())
    return found


def own_fields(config_class) -> tuple[str, ...]:
    """The fields ``config_class`` declares beyond [`SimCseConfig`]'s (a method's own options)."""
    base = set(declared_fields(SimCseConfig))
    return tuple(name for name in declared_fields(config_class) if name not in base)


__all__ = ["SimCseConfig", "config_field", "declared_fields", "own_fields"]
