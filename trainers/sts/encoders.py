"""Loading a model to evaluate (examples/evaluate.py): a sentcse checkpoint, a sentence-transformers folder or a
plain Hugging Face encoder."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .evaluator import StsEvaluator, StsResults

logger = logging.getLogger(__name__)

# The untrained backbone's poolings a trained model is compared with: label -> sentcse pooler.
RAW_POOLERS = {"mean pooling": "avg", "[CLS]": "cls_before_pooler"}

# sentence-transformers pooling mode -> sentcse pooler
_ST_POOLERS = {"mean": "avg", "cls": "cls_before_pooler"}


def _sentence_transformers_pooler(folder: Path) -> tuple[str, Path]:
    """(sentcse pooler, backbone folder) of a sentence-transformers model folder (one with modules.json)."""
    modules = json.loads((folder / "modules.json").read_text())
    backbone, pooling = None, None
    for m in modules:
        kind = m.get("type", "")
        path = folder / m.get("path", "")
        if kind.endswith(".Transformer"):
            backbone = path
        elif kind.endswith(".Pooling"):
            pooling = path
        elif kind.endswith(".Normalize"):
            pass  # cosine similarity is unchanged by L2 normalisation
        else:
            raise ValueError(
                f"{folder}: module {kind} would change the embeddings and sentcse cannot reproduce it; evaluate "
                f"this model with --backend sentence-transformers"
            )
    if backbone is None:
        raise ValueError(f"{folder}/modules.json has no sentence_transformers.models.Transformer module")
    mode = "mean"
    if pooling is not None and (pooling / "config.json").is_file():
        cfg = json.loads((pooling / "config.json").read_text())
        if "pooling_mode" in cfg:  # newer format: "pooling_mode": "mean"
            mode = cfg["pooling_mode"]
        else:  # classic format: one pooling_mode_*_tokens flag set
            flags = [k for k, v in cfg.items() if k.startswith("pooling_mode_") and v is True]
            names = {"pooling_mode_mean_tokens": "mean", "pooling_mode_cls_token": "cls"}
            if len(flags) != 1 or flags[0] not in names:
                raise ValueError(f"{pooling}/config.json: unsupported pooling {flags}; pass --pooler explicitly")
            mode = names[flags[0]]
    if mode not in _ST_POOLERS:
        raise ValueError(f"{folder}: pooling mode {mode!r} has no sentcse pooler (supported: {sorted(_ST_POOLERS)}); "
                         f"pass --pooler or use --backend sentence-transformers")
    return _ST_POOLERS[mode], backbone


def _check_custom_code(folder: Path, trust_remote_code: bool) -> None:
    """A local backbone folder whose config.json points at its own code (``auto_map``) needs trust_remote_code=True."""
    config_file = folder / "config.json"
    if trust_remote_code or not config_file.is_file():
        return
    try:
        auto_map = json.loads(config_file.read_text()).get("auto_map")
    except (ValueError, AttributeError):
        return  # transformers reports a broken config.json itself
    if auto_map:
        raise ValueError(
            f"{folder} holds custom model code (auto_map in config.json): pass trust_remote_code=True to "
            "load_encoder if you trust it"
        )


def load_encoder(
    model_path: str | Path,
    pooler: str | None = None,
    backend: str = "sentcse",
    device: str | None = None,
    trust_remote_code: bool = False,
):
    """Load something with ``encode(...)`` from ``model_path`` for evaluation.

    - a saved sentcse checkpoint (config.json ``model_type`` a registered method, ``trainers.methods.METHODS``):
      ``AutoModel.from_pretrained(path, trust_remote_code=True)``; ``pooler`` overrides its config when given;
    - a sentence-transformers folder (``modules.json``): its Pooling config picks the pooler (mean -> avg,
      cls -> cls_before_pooler) unless ``pooler`` is given; the backbone is the Transformer module's folder;
    - any other HF encoder (folder or cached name): ``SimCseModel.from_backbone(path, pooler=pooler or "avg")``.

    For an untrained backbone ``pooler="cls"`` means the raw [CLS] state and is mapped to ``cls_before_pooler``
    (``cls`` would add SimCSE's randomly initialised MLP). ``backend="sentence-transformers"`` loads the folder with
    ``SentenceTransformer`` instead (for comparison, or for modules sentcse does not reproduce).

    Nothing asks "Do you wish to run the custom code?": a sentcse checkpoint runs sentcse's own registered classes
    (its tokenizer is loaded with the same ``trust_remote_code``); a backbone with custom code (``auto_map`` in its
    config.json) needs ``trust_remote_code=True``, else it fails at once saying so.
    """
    path = Path(model_path).expanduser()
    if backend in ("sentence-transformers", "st"):
        from sentence_transformers import SentenceTransformer

        if pooler is not None:
            logger.warning("--pooler is ignored with --backend sentence-transformers")
        return SentenceTransformer(str(path), device=device or "cpu", trust_remote_code=trust_remote_code)
    if backend != "sentcse":
        raise ValueError(f"backend must be 'sentcse' or 'sentence-transformers', got {backend!r}")

    # Imported here so that scoring and reporting need neither torch nor transformers; importing the registry
    # also registers every method's classes with AutoConfig / AutoModel.
    from ...modeling import SimCseModel
    from ..methods import METHODS

    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"{path} is a file; pass a model folder")
    config = json.loads((path / "config.json").read_text()) if (path / "config.json").is_file() else {}
    if config.get("model_type") in METHODS:
        from transformers import AutoModel

        kwargs = {"pooler": pooler} if pooler is not None else {}
        model = AutoModel.from_pretrained(str(path), trust_remote_code=True, **kwargs)
    else:
        if (path / "modules.json").is_file():
            st_pooler, backbone = _sentence_transformers_pooler(path)
            chosen = pooler or st_pooler
            if pooler is not None and pooler != st_pooler:
                logger.warning("%s was trained with pooler %s; evaluating with --pooler %s", path, st_pooler, pooler)
            source = str(backbone)
        else:  # a local folder, or a Hub name (from_backbone says "no folder" for a local-looking path)
            chosen = pooler or "avg"
            source = str(model_path) if not path.exists() else str(path)
        if chosen == "cls":
            logger.info("pooler 'cls' on an untrained backbone means the raw [CLS] state: using cls_before_pooler")
            chosen = "cls_before_pooler"
        _check_custom_code(Path(source), trust_remote_code)
        model = SimCseModel.from_backbone(source, pooler=chosen, trust_remote_code=trust_remote_code)
    if device is not None and hasattr(model, "to"):
        model = model.to(device)
    if hasattr(model, "eval"):
        model.eval()
    return model


def raw_backbone_results(backbone: str, evaluator: StsEvaluator,
                         poolers: Mapping[str, str] = RAW_POOLERS) -> dict[str, StsResults]:
    """``evaluator``'s results for the untrained ``backbone`` (a folder or Hub name) with each pooling of
    ``poolers`` (label -> sentcse pooler): the reference a trained model must beat."""
    from ...modeling import SimCseModel

    return {label: evaluator.evaluate(SimCseModel.from_backbone(backbone, pooler=pooler))
            for label, pooler in poolers.items()}
