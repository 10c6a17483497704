"""sentcse models. Importing this package registers them with AutoConfig/AutoModel, and for the auto classes,
so ``save_pretrained`` writes ``auto_map`` and the code files (loadable with ``trust_remote_code=True``)."""

from transformers import AutoConfig, AutoModel

from .configuration_recse import ReCseConfig
from .configuration_sarcse import SarcseConfig
from .configuration_simcse import SimCseConfig
from .modeling_recse import ReCseModel, ReCseModelOutput
from .modeling_sarcse import SarcseModel, SarcseModelOutput
from .modeling_simcse import CseModelOutput, CsePreTrainedModel, SimCseModel


def register_auto_classes(model_class) -> None:
    """Register ``model_class`` and its config with AutoConfig/AutoModel, and for the auto classes (so
    ``save_pretrained`` writes ``auto_map`` and copies the code files)."""
    config_class = model_class.config_class
    AutoConfig.register(config_class.model_type, config_class, exist_ok=True)
    AutoModel.register(config_class, model_class, exist_ok=True)
    config_class.register_for_auto_class()
    model_class.register_for_auto_class("AutoModel")


for _model_class in (SimCseModel, SarcseModel, ReCseModel):
    register_auto_classes(_model_class)


__all__ = [
    "register_auto_classes",
    "SimCseConfig",
    "SimCseModel",
    "CseModelOutput",
    "CsePreTrainedModel",
    "SarcseConfig",
    "SarcseModel",
    "SarcseModelOutput",
    "ReCseConfig",
    "ReCseModel",
    "ReCseModelOutput",
]
