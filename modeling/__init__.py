"""sentcse models. Importing this package registers them with AutoConfig/AutoModel, and for the auto classes,
so ``save_pretrained`` writes ``auto_map`` and the code files (loadable with ``trust_remote_code=True``)."""

from transformers import AutoConfig, AutoModel

from .configuration_recse import ReCseConfig
from .configuration_sarcse import SarcseConfig
from .configuration_simcse import SimCseConfig
from .modeling_recse import ReCseModel, ReCseModelOutput
from .modeling_sarcse import SarcseModel, SarcseModelOutput
from .modeling_simcse import SimCseModel, SimCseModelOutput, SimCsePreTrainedModel

MODEL_CLASSES = {"simcse": SimCseModel, "sarcse": SarcseModel, "recse": ReCseModel}

for _model_class in MODEL_CLASSES.values():
    _config_class = _model_class.config_class
    AutoConfig.register(_config_class.model_type, _config_class, exist_ok=True)
    AutoModel.register(_config_class, _model_class, exist_ok=True)
    _config_class.register_for_auto_class()
    _model_class.register_for_auto_class("AutoModel")

__all__ = [
    "MODEL_CLASSES",
    "SimCseConfig",
    "SimCseModel",
    "SimCseModelOutput",
    "SimCsePreTrainedModel",
    "SarcseConfig",
    "SarcseModel",
    "SarcseModelOutput",
    "ReCseConfig",
    "ReCseModel",
    "ReCseModelOutput",
]
