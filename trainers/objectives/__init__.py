"""Training objectives, one per file. ``build_objective`` maps the CLI's ``--objective`` name to a module."""

from .arccon import ArcCon
from .barlow_twins import BarlowTwins
from .base import (
    CseObjective,
    SimilarityObjective,
    autocast_off,
    check_views,
    cosine_matrix,
    full_precision,
    upcast_half,
)
from .infonce import InfoNCE, info_nce
from .met import MET
from .mhe import MHE
from .mhs import MHS
from .mpt import MPT
from .vicreg import VARIANTS, NonContrastiveObjective, VICReg

# name (the class's ``name``) -> class, contrastive and non-contrastive; every class takes its hyperparameters as
# constructor keyword arguments.
OBJECTIVES = {objective.name: objective for objective in (InfoNCE, ArcCon, MPT, MET, BarlowTwins, VICReg, MHE, MHS)}

# The objectives that take ``variant`` (the CLI's ``--objective_variant``).
VARIANT_OBJECTIVES = tuple(name for name, objective in OBJECTIVES.items() if "variant" in objective.hyperparameters())


def objective_variants() -> list[tuple[str, str | None]]:
    """``(name, variant)`` of every objective: once per variant where it has them (``VARIANTS``), else once (None)."""
    return [(name, variant) for name in OBJECTIVES for variant in (VARIANTS if name in VARIANT_OBJECTIVES else (None,))]


def build_objective(name: str, variant: str | None = None, **kwargs) -> CseObjective:
    """Instantiate the contrastive objective called ``name`` with ``kwargs`` as hyperparameters.

    ``variant`` (one of ``VARIANTS``) goes to the objectives that have one (``VARIANT_OBJECTIVES``); ``None`` keeps
    their default. Any other objective with a variant is an error.
    """
    if name not in OBJECTIVES:
        raise ValueError(f"unknown objective {name!r}; choose one of {sorted(OBJECTIVES)}")
    if variant is not None:
        if name not in VARIANT_OBJECTIVES:
            raise ValueError(f"objective {name!r} has no variant (got variant={variant!r}); "
                             f"only {VARIANT_OBJECTIVES} do")
        kwargs["variant"] = variant
    objective_class = OBJECTIVES[name]
    parameters = objective_class.hyperparameters()
    unknown = sorted(set(kwargs) - set(parameters))
    if unknown:
        raise ValueError(f"objective {name!r} has no hyperparameter {', '.join(map(repr, unknown))}; "
                         f"valid: {', '.join(parameters)}")
    for key, value in kwargs.items():
        default = parameters[key].default
        numeric = isinstance(default, (int, float)) and not isinstance(default, bool)
        if numeric and (not isinstance(value, (int, float)) or isinstance(value, bool)):
            raise ValueError(f"objective {name!r}: {key} must be a number, got {value!r}")
    return objective_class(**kwargs)


__all__ = [
    "CseObjective", "SimilarityObjective", "check_views", "upcast_half", "full_precision", "autocast_off", "InfoNCE",
    "cosine_matrix", "info_nce", "ArcCon", "MPT", "MET", "BarlowTwins",
    "VICReg", "MHE", "MHS", "NonContrastiveObjective", "VARIANTS", "OBJECTIVES", "VARIANT_OBJECTIVES",
    "build_objective", "objective_variants",
]
