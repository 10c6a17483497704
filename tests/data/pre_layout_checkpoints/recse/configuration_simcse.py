"""Configuration of the SimCSE baseline, and the validation helpers every sentcse config shares."""

from typing import Any, Dict, Optional, Sequence

from transformers import AutoConfig, BertConfig, PreTrainedConfig

POOLERS = ("cls", "cls_before_pooler", "avg", "avg_first_last", "avg_top2")
MLP_ACTIVATIONS = ("tanh", "tanh_first", "none")


def check_choice(field: str, value: Any, choices: Sequence[Any]) -> None:
    if value not in choices:
        raise ValueError(f"{field} must be one of {list(choices)}, got {value!r}")


def check_positive(field: str, value: Any, allow_zero: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and (value >= 0 if allow_zero else value > 0)
    if not ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{field} must be a number {bound}, got {value!r}")


def check_positive_int(field: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{field} must be an integer >= 1, got {value!r}")


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


class SimCseConfig(PreTrainedConfig):
    r"""
    Configuration of [`SimCseModel`]: unsupervised SimCSE (Gao et al., 2021), the baseline of every sentcse method.

    Args:
        backbone_config (`PreTrainedConfig` or `dict`, *optional*):
            Config of the wrapped encoder (any BERT- or RoBERTa-family model). Defaults to a BERT-base config.
        pooler (`str`, *optional*, defaults to `"cls"`):
            `"cls"` ([CLS] through the MLP head), `"cls_before_pooler"` (raw [CLS]), `"avg"` (mean of the last
            layer over real tokens), `"avg_first_last"` (first and last layers), `"avg_top2"` (last two layers).
        mlp_only_train (`bool`, *optional*, defaults to `True`):
            With `pooler="cls"`, use the MLP head for the training projection only; the inference embedding
            is then the raw [CLS] (SimCSE's unsupervised recipe).
        mlp_activation (`str`, *optional*, defaults to `"tanh"`):
            MLP head layout: `"tanh"` (Linear then tanh, SimCSE), `"tanh_first"` (tanh then Linear, the
            RoBERTa head of arXiv 2402.18281's code) or `"none"` (Linear only, its BERT head).
        max_length (`int`, *optional*, defaults to 32): training sequence length in tokens.
        freeze_embeddings (`bool`, *optional*, defaults to `False`): freeze the backbone's embedding layer.
        temperature (`float`, *optional*, defaults to 0.05): contrastive temperature tau.
        objective (`str`, *optional*, defaults to `"infonce"`): the contrastive objective trained with.
        objective_variant (`str`, *optional*): `"orig"` or `"mod"` for the non-contrastive objectives.
        objective_kwargs (`dict`, *optional*): further hyperparameters of the objective (margin, ratio, ...).
        length_buckets (`int`, *optional*, defaults to 4): a training forward runs the backbone (and SARCSE's
            head) on this many groups of rows of similar length, each padded only to its own longest row: the
            same outputs with fewer padded positions (about 0.87x the forward + backward time of one padded
            batch on a CPU, BENCHMARKS.md section 1). 1 runs one padded batch.
    """

    model_type = "simcse"
    sub_configs = {"backbone_config": AutoConfig}

    # Declared fields (transformers v5 config dataclass); `max_length` and `temperature` must be declared to be
    # told apart from generation parameters.
    backbone_config: Any = None
    pooler: str = "cls"
    mlp_only_train: bool = True
    mlp_activation: str = "tanh"
    max_length: int = 32
    freeze_embeddings: bool = False
    temperature: float = 0.05
    objective: str = "infonce"
    objective_variant: Optional[str] = None
    objective_kwargs: Optional[Dict[str, Any]] = None
    length_buckets: int = 4

    def __init__(
        self,
        backbone_config: Optional[Any] = None,
        pooler: str = "cls",
        mlp_only_train: bool = True,
        mlp_activation: str = "tanh",
        max_length: int = 32,
        freeze_embeddings: bool = False,
        temperature: float = 0.05,
        objective: str = "infonce",
        objective_variant: Optional[str] = None,
        objective_kwargs: Optional[Dict[str, Any]] = None,
        length_buckets: int = 4,
        **kwargs,
    ):
        check_choice("pooler", pooler, POOLERS)
        check_choice("mlp_activation", mlp_activation, MLP_ACTIVATIONS)
        check_positive_int("max_length", max_length)
        check_positive("temperature", temperature)
        check_positive_int("length_buckets", length_buckets)
        if objective_variant not in (None, "orig", "mod"):
            raise ValueError(f"objective_variant must be None, 'orig' or 'mod', got {objective_variant!r}")
        self.backbone_config = build_backbone_config(backbone_config)
        self.pooler = pooler
        self.mlp_only_train = bool(mlp_only_train)
        self.mlp_activation = mlp_activation
        self.max_length = max_length
        self.freeze_embeddings = bool(freeze_embeddings)
        self.temperature = float(temperature)
        self.objective = objective
        self.objective_variant = objective_variant
        self.objective_kwargs = dict(objective_kwargs or {})
        self.length_buckets = length_buckets
        super().__init__(**kwargs)

    @property
    def hidden_size(self) -> int:
        return self.backbone_config.hidden_size


__all__ = ["SimCseConfig"]
