"""The method registry: one ``Method`` per method, one package per method holding everything that method alone uses.

Adding a method: a package with its ``Method`` subclass (model and config classes, extra loss terms, files saved
beside each checkpoint, card text), then one line here (or ``register_method(method)`` from your own code).
Everything else (the CLI's ``--method`` and flags, the trainer's objective and gathering, the model card, loading
for evaluation) reads the registry.
"""

from ...modeling import register_auto_classes
from .base import Method, MethodResources
from .recse import ReCseMethod
from .sarcse import SarcseMethod
from .simcse import SimCseMethod

METHODS: dict[str, Method] = {}

_REQUIRED = ("model_class", "title", "paper", "arxiv", "citation")


def register_method(method: Method) -> Method:
    """Add ``method`` to the registry under its model type, and its classes to AutoConfig/AutoModel."""
    if not isinstance(method, Method):
        raise TypeError(f"register_method takes a Method instance, got {method!r}")
    missing = [name for name in _REQUIRED if not hasattr(method, name)]
    if missing:
        raise TypeError(f"{type(method).__name__} does not set {', '.join(missing)}")
    register_auto_classes(method.model_class)
    METHODS[method.name] = method
    return method


def get_method(name: str) -> Method:
    """The registered method ``name`` (a model type such as ``sarcse``)."""
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; choose one of {sorted(METHODS)}")
    return METHODS[name]


def checkpoint_file_names() -> frozenset[str]:
    """The names of the files any registered method saves beside its checkpoints."""
    return frozenset(name for method in METHODS.values() for name in method.checkpoint_files)


for _method in (SimCseMethod(), SarcseMethod(), ReCseMethod()):
    register_method(_method)

__all__ = ["METHODS", "Method", "MethodResources", "checkpoint_file_names", "get_method", "register_method"]
