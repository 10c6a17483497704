"""The toy method's config (SimCSE's plus one field) and model."""

from huggingface_hub.dataclasses import strict

from sentcse.modeling import SimCseConfig, SimCseModel
from sentcse.modeling.configuration_simcse import config_field, positive


@strict(accept_kwargs=True)
class ToyConfig(SimCseConfig):
    r"""
    A SimCSE config plus a norm penalty.

    Args:
{fields}
    """

    model_type = "toy-cse"

    norm_weight: float = config_field(0.5, "weight of the mean squared norm of the projections", positive)


class ToyModel(SimCseModel):
    config_class = ToyConfig
