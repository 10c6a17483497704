"""Training objectives, one per file. ``build_objective`` maps the CLI's ``--objective`` name to a module."""

from .base import CseObjective, check_views
from .infonce import InfoNCE, cosine_matrix, info_nce

# name -> class; every class takes its hyperparameters as constructor keyword arguments.
CONTRASTIVE_OBJECTIVES = {
    "infonce": InfoNCE,
}


def build_objective(name: str, **kwargs) -> CseObjective:
    """Instantiate the contrastive objective called ``name`` with ``kwargs`` as hyperparameters."""
    if name not in CONTRASTIVE_OBJECTIVES:
        raise ValueError(f"unknown objective {name!r}; choose one of {sorted(CONTRASTIVE_OBJECTIVES)}")
    return CONTRASTIVE_OBJECTIVES[name](**kwargs)


__all__ = ["CseObjective", "check_views", "InfoNCE", "cosine_matrix", "info_nce", "CONTRASTIVE_OBJECTIVES", "build_objective"]
