"""The method registry: one ``MethodSpec`` per method, one module per method.

Adding a method: a module with its spec (model and config classes, extra loss terms, card text), then one line
here (or ``register_method(spec)`` from your own code). Everything else (the CLI's ``--method`` and flags, the
trainer's objective and gathering, the model card, loading for evaluation) reads the registry.
"""

from typing import Dict

from ...modeling import register_auto_classes
from .recse import RECSE
from .sarcse import SARCSE
from .simcse import SIMCSE
from .spec import MethodResources, MethodSpec

METHODS: Dict[str, MethodSpec] = {}


def register_method(spec: MethodSpec) -> MethodSpec:
    """Add ``spec`` to the registry under its model type, and its classes to AutoConfig/AutoModel."""
    if not isinstance(spec, MethodSpec):
        raise TypeError(f"register_method takes a MethodSpec, got {type(spec).__name__}")
    register_auto_classes(spec.model_class)
    METHODS[spec.name] = spec
    return spec


def get_method(name: str) -> MethodSpec:
    """The registered method ``name`` (a model type such as ``sarcse``)."""
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; choose one of {sorted(METHODS)}")
    return METHODS[name]


for _spec in (SIMCSE, SARCSE, RECSE):
    register_method(_spec)

__all__ = ["METHODS", "MethodResources", "MethodSpec", "get_method", "register_method"]
