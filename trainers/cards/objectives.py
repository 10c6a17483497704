"""How a card describes the contrastive objective: what the objective's own class says of itself."""

from typing import Any, Dict

from ..objectives.base import GRADIENT_PARADIGM_CITATION
from ..methods.objective import contrastive_from_config


def objective_info(config) -> Dict[str, Any]:
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
        "described": config.objective != "infonce",  # SimCSE's own term needs no section of its own
    }


__all__ = ["objective_info"]
