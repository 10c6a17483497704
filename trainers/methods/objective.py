"""A method's full objective: its contrastive term plus its own terms (METHODS.md section 5).

The method's extra terms and the contrastive weight come from its registry entry (``trainers.methods``); the
objective is built from the model config, so a checkpoint's config says exactly what it was trained with.
"""


import torch
from torch import nn

from ..objectives import OBJECTIVES, build_objective
from ..objectives.base import CseObjective, Gathered


class MethodObjective(CseObjective):
    """Sum of named terms: ``contrastive`` (weighted) and the method's extra terms, each logged by name."""

    def __init__(self, contrastive: CseObjective, extra_terms=(), contrastive_weight: float = 1.0):
        super().__init__()
        self.contrastive = contrastive
        self.extra_terms = nn.ModuleList(extra_terms)
        self.contrastive_weight = contrastive_weight

    @property
    def gathered_outputs(self) -> tuple[str, ...]:
        names = [self.contrastive.gathered_outputs] + [term.gathered_outputs for term in self.extra_terms]
        return tuple(dict.fromkeys(name for group in names for name in group))

    def forward(
        self, anchor: torch.Tensor, positive: torch.Tensor, output: object | None = None, gathered: Gathered = None
    ) -> dict[str, torch.Tensor]:
        terms: dict[str, torch.Tensor] = {}
        if self.contrastive_weight != 0:
            for name, value in self.contrastive(anchor, positive, output, gathered).items():
                terms[name] = self.contrastive_weight * value
        for term in self.extra_terms:
            terms.update(term(anchor, positive, output, gathered))
        return terms


def contrastive_from_config(config) -> CseObjective:
    """The contrastive objective named by ``config.objective`` with its variant, temperature and kwargs."""
    kwargs = dict(config.objective_kwargs or {})
    objective_class = OBJECTIVES.get(config.objective)
    if objective_class is not None and "temperature" in objective_class.hyperparameters():
        kwargs["temperature"] = config.temperature  # the config's field (objective_kwargs may not set it)
    return build_objective(config.objective, variant=config.objective_variant, **kwargs)


__all__ = ["MethodObjective", "contrastive_from_config"]
