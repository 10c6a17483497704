"""sentcse: unsupervised sentence embeddings (SimCSE, SARCSE, reCSE, the unified gradient paradigm) as Hugging
Face models. Importing it registers the models with ``AutoConfig`` / ``AutoModel``.

The public API; everything else lives in ``sentcse.modeling`` (the models, shipped as remote code) and
``sentcse.trainers`` (training, evaluation, model cards).
"""

import os as _os

# In a checkout this folder is the package's top and its subpackages are its siblings (setup.cfg's package_dir);
# an interpreter started in the checkout (``python``, ``python -m bench.quality``) finds this folder before the
# installed package, so the subpackages are looked up beside it too.
_CHECKOUT = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
if _os.path.isfile(_os.path.join(_CHECKOUT, "setup.cfg")) and _os.path.isdir(_os.path.join(_CHECKOUT, "modeling")):
    __path__.append(_CHECKOUT)

from .modeling import (
    ReCseConfig,
    ReCseModel,
    SarcseConfig,
    SarcseModel,
    SimCseConfig,
    SimCseModel,
)
from .trainers.builder import build_trainer
from .trainers.cards.environment import package_version
from .trainers.data import TwoViewCollator, load_corpus
from .trainers.methods import METHODS, Method, MethodResources, get_method, register_method
from .trainers.objectives import build_objective
from .trainers.serving import export_portable
from .trainers.sts import StsEvaluator, format_table, load_encoder
from .trainers.trainer import CseTrainer, CseTrainingArguments

__version__ = package_version("sentcse")

__all__ = [
    "CseTrainer",
    "CseTrainingArguments",
    "METHODS",
    "Method",
    "MethodResources",
    "ReCseConfig",
    "ReCseModel",
    "SarcseConfig",
    "SarcseModel",
    "SimCseConfig",
    "SimCseModel",
    "StsEvaluator",
    "TwoViewCollator",
    "build_objective",
    "build_trainer",
    "export_portable",
    "format_table",
    "get_method",
    "load_corpus",
    "load_encoder",
    "register_method",
]
