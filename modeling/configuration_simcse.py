"""Configuration of the SimCSE baseline, and the field declaration every sentcse config shares.

Configs follow transformers v5's idiom: each field is declared once, as a class annotation with its default, its
meaning (``help``, used for the docstring, the CLI's ``--help`` and the model card) and its check. Derived defaults
are filled in ``__post_init__``; cross-field rules are ``validate_*`` methods. Every check raises ``ValueError`` and
also runs when a field is changed after construction.
"""

import dataclasses
import logging
from typing import Any, Callable, Dict, Optional, Tuple

from transformers import AutoConfig, BertConfig, PreTrainedConfig

logger = logging.getLogger(__name__)

POOLERS = ("cls", "cls_before_pooler", "avg", "avg_first_last", "avg_top2")
MLP_ACTIVATIONS = ("tanh", "tanh_first", "none")
OBJECTIVE_VARIANTS = (None, "orig", "mod")


# ---------------------------------------------------------------------------------------------- field checks
def one_of(*choices: Any) -> Callable[[str, Any], None]:
    def check(name: str, value: Any) -> None:
        if value not in choices:
            raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")

    check.choices = choices
    return check


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def positive(name: str, value: Any) -> None:
    if not (_is_number(value) and value > 0):
        raise ValueError(f"{name} must be a number > 0, got {value!r}")


def non_negative(name: str, value: Any) -> None:
    if not (_is_number(value) and value >= 0):
        raise ValueError(f"{name} must be a number >= 0, got {value!r}")


def positive_int(name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


def optional(check: Callable[[str, Any], None]) -> Callable[[str, Any], None]:
    def check_optional(name: str, value: Any) -> None:
        if value is not None:
            check(name, value)

    return check_optional


def is_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, got {value!r}")


def is_mapping(name: str, value: Any) -> None:
    if value is not None and not isinstance(value, dict):
        raise ValueError(f"{name} must be a mapping of hyperparameter names to values, got {value!r}")


def config_field(default: Any, help: str, check: Optional[Callable[[str, Any], None]] = None, kind: str = "option",
                 default_text: Optional[str] = None) -> Any:
    """A config field: ``help`` says what it means; ``kind`` is "[paper]" (a value a paper states), "[decision]"
    (METHODS.md's reading where the paper is silent) or "option"; ``default_text`` describes a derived default."""
    metadata = {"help": help, "kind": kind, "check": check, "default_text": default_text}
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def declared_fields(config_class) -> Dict[str, dataclasses.Field]:
    """The sentcse fields of ``config_class`` (those declared with ``config_field``), in declaration order."""
    return {f.name: f for f in dataclasses.fields(config_class) if "help" in f.metadata}


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
    raise ValueError(f"backbone_config must be a PreTrainedConfig, a dict or None, got {type(backbone_config).__name__}")


def fields_docstring(config_class) -> str:
    lines = []
    for name, f in declared_fields(config_class).items():
        default = f.metadata["default_text"] or repr(f.default if f.default is not dataclasses.MISSING else f.default_factory())
        lines.append(f"        {name} (defaults to {default}): {f.metadata['help']}")
    return "\n".join(lines)


class SimCseConfig(PreTrainedConfig):
    r"""
    Configuration of [`SimCseModel`]: unsupervised SimCSE (Gao et al., 2021), the baseline of every sentcse method.
    Subclasses (one per method) add their own fields; a field of another method is rejected.

    Args:
        backbone_config (`PreTrainedConfig` or `dict`, *optional*): config of the wrapped encoder (any BERT- or
            RoBERTa-family model); defaults to a BERT-base config.
{fields}
    """

    model_type = "simcse"
    sub_configs = {"backbone_config": AutoConfig}

    backbone_config: Any = None
    pooler: str = config_field(
        "cls", "pooler: cls ([CLS] through the MLP head), cls_before_pooler (raw [CLS]), avg (mean of the last layer "
        "over real tokens), avg_first_last (first and last layers), avg_top2 (last two layers)", one_of(*POOLERS), "[paper]")
    mlp_only_train: bool = config_field(
        True, "with pooler cls, the MLP head makes the training projection only; the inference embedding is the raw "
        "[CLS] (SimCSE's unsupervised recipe)", is_bool, "[paper]")
    mlp_activation: str = config_field(
        "tanh", "MLP head layout: tanh (Linear then tanh, SimCSE), tanh_first (tanh then Linear, the RoBERTa head of "
        "arXiv 2402.18281's code) or none (Linear only, its BERT head)", one_of(*MLP_ACTIVATIONS), "[paper]")
    max_length: int = config_field(32, "training sequence length in tokens", positive_int, "[paper]")
    freeze_embeddings: bool = config_field(False, "freeze the backbone's embedding layer (arXiv 2402.18281's code)",
                                           is_bool, "[paper]")
    temperature: float = config_field(0.05, "temperature tau of the contrastive term", positive, "[paper]")
    objective: str = config_field("infonce", "the contrastive objective trained with (infonce, arccon, mpt, met, "
                                  "barlow_twins, vicreg, mhe, mhs)")
    objective_variant: Optional[str] = config_field(
        None, "orig or mod (the gradient-paradigm modification) for barlow_twins, vicreg, mhe and mhs",
        one_of(*OBJECTIVE_VARIANTS))
    objective_kwargs: Optional[Dict[str, Any]] = config_field({}, "further hyperparameters of the objective (margin, "
                                                              "ratio, ...)", is_mapping)
    length_buckets: int = config_field(
        4, "a training forward runs the backbone (and SARCSE's head) on this many groups of rows of similar length, "
        "each padded only to its own longest row: the same outputs with fewer padded positions; 1 runs one padded "
        "batch", positive_int)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__doc__ and "{fields}" in cls.__doc__:
            cls.__doc__ = cls.__doc__.replace("{fields}", fields_docstring(cls))

    @classmethod
    def from_dict(cls, config_dict, **kwargs):
        """As ``PreTrainedConfig.from_dict``; a field of another method saved by an older sentcse (which accepted
        them) is dropped with a warning, so such a checkpoint still loads."""
        foreign = sorted(set(config_dict) & _other_methods_fields(cls))
        if foreign:
            logger.warning("%s config: ignoring %s (fields of another method)", cls.model_type, ", ".join(foreign))
            config_dict = {key: value for key, value in config_dict.items() if key not in foreign}
        objective_kwargs = dict(config_dict.get("objective_kwargs") or {})
        if "temperature" in objective_kwargs:  # older sentcse: this one won over the field, so it is what trained
            config_dict = {**config_dict, "temperature": objective_kwargs.pop("temperature"),
                           "objective_kwargs": objective_kwargs}
        return super().from_dict(config_dict, **kwargs)

    def __post_init__(self, **kwargs):
        foreign = sorted(set(kwargs) & _other_methods_fields(type(self)))
        if foreign:
            raise ValueError(
                f"{', '.join(foreign)} {'is not a field' if len(foreign) == 1 else 'are not fields'} of a "
                f"{self.model_type} config but of another method's; drop it or choose that method"
            )
        self.backbone_config = build_backbone_config(self.backbone_config)
        if self.objective_kwargs is None:
            self.objective_kwargs = {}
        super().__post_init__(**kwargs)
        self.check_fields()

    def __setattr__(self, name: str, value: Any) -> None:
        check = _field_checks(type(self)).get(name)
        if check is not None:
            check(name, value)
        if check is not None and getattr(self, "_post_init_done", False):
            previous = getattr(self, name)
            super().__setattr__(name, value)
            try:
                self._follow_change(name, previous)
                self.check_fields()
            except ValueError:
                super().__setattr__(name, previous)
                raise
            return
        super().__setattr__(name, value)

    def _follow_change(self, name: str, previous: Any) -> None:
        """Update the fields derived from ``name`` after it changed from ``previous`` (none here)."""

    def validate_objective_kwargs(self) -> None:
        shadowed = sorted(set(self.objective_kwargs or {}) & {"temperature"})
        if shadowed:
            raise ValueError(f"objective_kwargs must not set {', '.join(shadowed)}: it is a config field of its own "
                             f"(--{shadowed[0]}); set it there")

    def check_fields(self) -> None:
        """Run every cross-field rule (the ``validate_*`` methods); raises ``ValueError``."""
        for name in dir(type(self)):
            if name.startswith("validate_") and name not in _BASE_VALIDATORS:
                getattr(self, name)()

    @property
    def hidden_size(self) -> int:
        return self.backbone_config.hidden_size


SimCseConfig.__doc__ = SimCseConfig.__doc__.replace("{fields}", fields_docstring(SimCseConfig))
_BASE_VALIDATORS = frozenset(name for name in dir(PreTrainedConfig) if name.startswith("validate_"))


def _field_checks(config_class) -> Dict[str, Callable[[str, Any], None]]:
    checks = config_class.__dict__.get("_sentcse_checks")
    if checks is None:
        checks = {name: f.metadata["check"] for name, f in declared_fields(config_class).items() if f.metadata["check"]}
        setattr(config_class, "_sentcse_checks", checks)  # one lookup table per class
    return checks


def _other_methods_fields(config_class) -> frozenset:
    """Fields declared by the other sentcse configs loaded in this process, not by ``config_class``."""
    own = set(declared_fields(config_class))
    others: set = set()
    pending = [SimCseConfig]
    while pending:
        current = pending.pop()
        pending.extend(current.__subclasses__())
        others.update(declared_fields(current))
    return frozenset(others - own)


def own_fields(config_class) -> Tuple[str, ...]:
    """The fields ``config_class`` declares beyond [`SimCseConfig`]'s (a method's own options)."""
    base = set(declared_fields(SimCseConfig))
    return tuple(name for name in declared_fields(config_class) if name not in base)


__all__ = ["SimCseConfig", "config_field", "declared_fields", "own_fields"]
