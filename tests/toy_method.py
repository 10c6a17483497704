"""A toy method registered the way a maintainer adds one: a config with its own field, a model, an extra loss
term, and a ``Method``; nothing else in sentcse is touched (used by tests/modeling/test_layout.py)."""

import torch
from huggingface_hub.dataclasses import strict

from sentcse.modeling import SimCseConfig, SimCseModel
from sentcse.modeling.configuration_simcse import config_field, positive
from sentcse.trainers.methods import Method
from sentcse.trainers.objectives import CseObjective


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


class NormPenalty(CseObjective):
    def __init__(self, weight: float):
        super().__init__()
        self.weight = weight

    def forward(self, anchor, positive, output=None, gathered=None):
        return {"norm": self.weight * (anchor.square().sum(-1).mean() + positive.square().sum(-1).mean())}


class ToyMethod(Method):
    model_class = ToyModel
    title = "ToyCSE"
    paper = "A toy method"
    arxiv = "0000.00000"
    citation = "@misc{toy}"
    summary = "SimCSE with a norm penalty."

    def extra_terms(self, config, resources):
        return [NormPenalty(config.norm_weight)]


TOY = ToyMethod()
