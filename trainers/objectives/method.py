"""A method's full objective: its contrastive term plus its own terms (METHODS.md section 5).

SimCSE: contrastive only. SARCSE: + self-adaptive reconstruction. reCSE: + reshaped positive, with the
contrastive (dropout) term weighted by lambda_dropout. Built from the model config, so a checkpoint's config
says exactly what it was trained with.
"""

import inspect
from typing import Dict, Optional

import torch
from torch import nn

from . import CONTRASTIVE_OBJECTIVES, build_objective
from .base import CseObjective
from .reconstruction import SelfAdaptiveReconstruction
from .reshaping import ReshapedPositive


class MethodObjective(CseObjective):
    """Sum of named terms: ``contrastive`` (weighted) and the method's extra terms, each logged by name."""

    def __init__(self, contrastive: CseObjective, extra_terms=(), contrastive_weight: float = 1.0):
        super().__init__()
        self.contrastive = contrastive
        self.extra_terms = nn.ModuleList(extra_terms)
        self.contrastive_weight = contrastive_weight

    def forward(self, anchor: torch.Tensor, positive: torch.Tensor, output: Optional[object] = None) -> Dict[str, torch.Tensor]:
        terms: Dict[str, torch.Tensor] = {}
        if self.contrastive_weight != 0:
            for name, value in self.contrastive(anchor, positive, output).items():
                terms[name] = self.contrastive_weight * value
        for term in self.extra_terms:
            terms.update(term(anchor, positive, output))
        return terms


def contrastive_from_config(config) -> CseObjective:
    """The contrastive objective named by ``config.objective`` with its variant, temperature and kwargs."""
    kwargs = dict(config.objective_kwargs or {})
    objective_class = CONTRASTIVE_OBJECTIVES.get(config.objective)
    if objective_class is not None and "temperature" in inspect.signature(objective_class.__init__).parameters:
        kwargs.setdefault("temperature", config.temperature)
    return build_objective(config.objective, variant=config.objective_variant, **kwargs)


def build_method_objective(config, token_weights: Optional[torch.Tensor] = None) -> MethodObjective:
    """The full training objective of a SimCSE/SARCSE/reCSE config."""
    contrastive = contrastive_from_config(config)
    if config.model_type == "sarcse":
        if token_weights is None:
            raise ValueError("SARCSE needs token weights from the training corpus (trainers.token_frequency)")
        extra = [SelfAdaptiveReconstruction(token_weights, beta=config.beta, gamma=config.gamma)]
        return MethodObjective(contrastive, extra)
    if config.model_type == "recse":
        extra = [ReshapedPositive(config.reshape_temperature)]
        return MethodObjective(contrastive, extra, contrastive_weight=config.lambda_dropout)
    return MethodObjective(contrastive)
