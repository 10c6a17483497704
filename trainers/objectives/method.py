"""Deprecated location of ``trainers.methods.objective`` (a method's full objective); removed in the next release."""

import warnings

from ..methods.objective import MethodObjective, contrastive_from_config

warnings.warn("sentcse.trainers.objectives.method moved to sentcse.trainers.methods.objective", FutureWarning,
              stacklevel=2)

__all__ = ["MethodObjective", "contrastive_from_config"]
