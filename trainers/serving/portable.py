"""The portable folder: a trained sentcse model as its backbone's own architecture plus sentence-transformers'
modules, which every stack loads without sentcse and without remote code.

A sentcse model's inference embedding is (for every reading but SARCSE's TextCNN z) a pooling of its backbone's
token states, optionally through the MLP head. The folder holds the backbone as it is (``config.json`` with the
backbone's ``model_type``, its weights without any training head, the tokenizer) and the pooling as
sentence-transformers modules, saved by sentence-transformers itself: ``Transformer`` -> (``WeightedLayerPooling``
for the layer-averaging poolers) -> ``Pooling`` -> (``Dense`` where the MLP runs at inference). The export checks
the saved folder against the model's own ``encode`` before it returns.
"""

import json
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..cards.card import inference_embedding, template_loader
from ..cards.files import CARD_FILE, TRAINING_INFO_FILE, read_json, write_json
from ..cards.portable import publish_permissions
from ..methods import METHODS

# sentcse pooler -> (sentence-transformers Pooling mode, the hidden layers averaged first: None for the last layer
# alone, else the indices into ``hidden_states``, 0 being the embeddings, counted for a backbone of L layers)
POOLINGS = {
    "cls": ("cls", None),
    "cls_before_pooler": ("cls", None),
    "avg": ("mean", None),
    "avg_first_last": ("mean", lambda layers: (1, layers)),
    "avg_top2": ("mean", lambda layers: (layers - 1, layers)),
}
# Activations of the MLP head that sentence-transformers' Dense (Linear, then its activation) computes.
DENSE_ACTIVATIONS = {"tanh": torch.nn.Tanh, "none": torch.nn.Identity}
# What transformers 5 writes into a tokenizer_config.json of a tokenizer it loaded from a folder: how it was loaded,
# not the tokenizer (a Hub copy that says local_files_only would be read as if offline).
LOADING_KEYS = ("is_local", "local_files_only")
# The largest difference to the model's own encode() an export may have (fp32).
MAX_DIFFERENCE = 1e-5
PROBE_SENTENCES = ("", "a", "A man is playing a guitar.", "Someone plays music on the street, loudly and for hours.")
# The way out for a reading no sentence-transformers module computes: the whole model through torch.export.
ONNX_ROUTE = ("torch.onnx.export(model, (input_ids, attention_mask), dynamo=True) on its sentence_embedding (needs "
              "onnxscript; onnxruntime then runs every input length from 1 token)")


class ExportError(ValueError):
    """A model or folder that cannot be exported as asked: one line naming the problem and the way out."""


@dataclass(frozen=True)
class PortableReading:
    """The sentence-transformers modules that compute a config's inference embedding."""

    pooling_mode: str
    layers: tuple[int, ...] | None  # hidden_states averaged before pooling (None: the last layer)
    dense_activation: str | None  # the MLP head's activation when the MLP runs at inference


def portable_reading(config) -> PortableReading:
    """What a portable folder of ``config`` holds after its backbone; raises ``ExportError`` (one line) for a reading
    no sentence-transformers module computes."""
    spec = METHODS.get(config.model_type)
    own_text = spec.inference_embedding(config) if spec is not None else None
    if own_text:  # the method's own head makes the embedding (SARCSE with embedding_source cnn: its TextCNN)
        reading = f" (embedding_source {config.embedding_source})" if hasattr(config, "embedding_source") else ""
        raise ExportError(f"{config.model_type}{reading} embeds {own_text}, which needs sentcse's code at inference: "
                          f"no portable folder; export it to ONNX instead with {ONNX_ROUTE}")
    mode, layers = POOLINGS[config.pooler]
    layers = layers(config.backbone_config.num_hidden_layers) if layers else None
    dense = None
    if config.pooler == "cls" and not config.mlp_only_train:
        if config.mlp_activation not in DENSE_ACTIVATIONS:
            raise ExportError(f"mlp_activation {config.mlp_activation} applies tanh before the MLP's Linear, which no "
                              f"sentence-transformers module does: no portable folder; export it to ONNX instead "
                              f"with {ONNX_ROUTE}")
        dense = config.mlp_activation
    return PortableReading(mode, layers, dense)


def trained_config(folder: str | Path):
    """The config of the sentcse model saved in ``folder``; ``ExportError`` for a folder that holds none."""
    folder = Path(folder).expanduser()
    config = read_json(folder / "config.json")
    if not isinstance(config, dict) or config.get("model_type") not in METHODS:
        raise ExportError(f"{folder} holds no sentcse model (config.json with model_type one of "
                          f"{', '.join(sorted(METHODS))}); pass the output folder of sentcse-train")
    return METHODS[config["model_type"]].config_class.from_pretrained(folder)


def load_trained(folder: str | Path, config=None):
    """The sentcse model saved in ``folder``, in fp32 and eval mode."""
    config = config if config is not None else trained_config(folder)
    model = METHODS[config.model_type].model_class.from_pretrained(Path(folder).expanduser(), config=config,
                                                                   dtype=torch.float32)
    return model.eval()


def check_destination(out: str | Path, sources: Sequence[Path], overwrite: bool) -> Path:
    """``out``, once checked: not a trained folder itself nor a folder above one, not a file, and empty unless
    ``overwrite``."""
    out = Path(out).expanduser()
    for source in sources:
        if out.resolve() == source.resolve() or out.resolve() in source.resolve().parents:
            raise ExportError(f"--to {out} holds the trained folder {source}: choose another folder")
    if out.exists() and not out.is_dir():
        raise ExportError(f"--to {out} is a file: choose a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise ExportError(f"--to {out} already holds files: pass --overwrite to replace them, or choose another folder")
    return out


def empty_folder(out: Path) -> Path:
    """``out`` created, or emptied when it holds files (``check_destination`` allowed it)."""
    if out.is_dir() and any(out.iterdir()):
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    return out


def save_backbone(model, work: Path) -> None:
    """Save ``model``'s backbone and tokenizer in ``work`` as the backbone's own class saves them, with the pooler
    that class builds (BERT's, RoBERTa's, ...) set to zeros: sentcse trains none, and a pooler missing from the
    weights would make every loader report newly initialised (random) weights. ``pooler_output`` is then plainly no
    embedding (zeros) rather than a random one."""
    from transformers import AutoModel

    full = AutoModel.from_config(model.config.backbone_config, dtype=torch.float32)
    missing, unexpected = full.load_state_dict(model.backbone.state_dict(), strict=False)
    if unexpected or any(not name.startswith("pooler.") for name in missing):
        raise ExportError(f"the backbone does not match its own class {type(full).__name__} (missing "
                          f"{', '.join(missing) or 'nothing'}, unexpected {', '.join(unexpected) or 'nothing'}): "
                          f"export it to ONNX instead with {ONNX_ROUTE}")
    with torch.no_grad():
        for name in missing:
            full.get_parameter(name).zero_()
    full.save_pretrained(work)
    model.get_tokenizer().save_pretrained(work)


def sentence_transformer_of(model, reading: PortableReading, work: Path):
    """A ``SentenceTransformer`` built from sentence-transformers' own modules around ``model``'s backbone, which is
    saved in ``work`` first (``save_backbone``: nothing of sentcse)."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Dense, Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling, WeightedLayerPooling

    save_backbone(model, work)
    tokenizer = model.get_tokenizer()
    hidden = model.config.hidden_size
    transformer = Transformer(
        str(work), max_seq_length=model.max_input_length(tokenizer), model_kwargs={"dtype": torch.float32},
        # WeightedLayerPooling reads every layer's states, which the model returns when its config says so
        config_kwargs={"output_hidden_states": True} if reading.layers else None,
    )
    modules = [transformer]
    if reading.layers:
        first, last = reading.layers
        weights = torch.zeros(last - first + 1)
        weights[0] += 1
        weights[-1] += 1  # the same layer twice (a one-layer backbone's first and last) weighs 2 of 2
        modules.append(WeightedLayerPooling(hidden, num_hidden_layers=last, layer_start=first,
                                            layer_weights=torch.nn.Parameter(weights)))
    modules.append(Pooling(hidden, pooling_mode=reading.pooling_mode))
    if reading.dense_activation:
        dense = model.mlp.dense
        modules.append(Dense(hidden, hidden, activation_function=DENSE_ACTIVATIONS[reading.dense_activation](),
                             init_weight=dense.weight.detach().clone(), init_bias=dense.bias.detach().clone()))
    return SentenceTransformer(modules=modules, device="cpu", similarity_fn_name="cosine")


def export_portable(source, out: str | Path, overwrite: bool = False,
                    sentences: Sequence[str] = PROBE_SENTENCES) -> Path:
    """Write the portable folder of a trained sentcse model to ``out``; returns ``out``.

    Args:
        source: the trained folder (the output of sentcse-train or ``save_pretrained``).
        out: the new folder; one that holds files is refused unless ``overwrite``.
        sentences: embedded by the saved folder and by the model's ``encode``; a difference above ``MAX_DIFFERENCE``
            fails the export (the folder is removed).

    ``SentenceTransformer(out)``, ``AutoModel.from_pretrained(out)``, ``AutoTokenizer.from_pretrained(out)`` and
    ``pipeline("feature-extraction", out)`` load it without sentcse and without ``trust_remote_code``. Raises
    ``ExportError`` (one line) for a reading that needs sentcse's code at inference (SARCSE's TextCNN z: export it as
    ONNX) and for a bad ``source`` / ``out``.
    """
    source = Path(source).expanduser()
    config = trained_config(source)
    reading = portable_reading(config)  # bad input is refused before the weights are read or anything is written
    out = check_destination(out, [source], overwrite)
    model = load_trained(source, config)
    empty_folder(out)
    try:
        with tempfile.TemporaryDirectory(prefix="sentcse-portable-") as work:
            st_model = sentence_transformer_of(model, reading, Path(work))
            st_model.save(str(out), create_model_card=False)
        drop_loading_keys(out / "tokenizer_config.json")
        difference = encode_difference(model, out, sentences)
        if difference > MAX_DIFFERENCE:
            raise ExportError(f"the portable folder embeds {difference:.1e} away from the model's encode() (more than "
                              f"{MAX_DIFFERENCE:g}): export it to ONNX instead with {ONNX_ROUTE}")
        write_portable_card(out, source, model, reading)
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    publish_permissions(out, portable_files(out))  # safetensors writes its files 0600
    return out


def drop_loading_keys(path: Path) -> None:
    """Remove ``LOADING_KEYS`` from a saved ``tokenizer_config.json``."""
    data = read_json(path)
    if isinstance(data, dict) and any(key in data for key in LOADING_KEYS):
        write_json(path, {key: value for key, value in data.items() if key not in LOADING_KEYS}, ensure_ascii=False)


def encode_difference(model, folder: Path, sentences: Sequence[str]) -> float:
    """The largest absolute difference between ``SentenceTransformer(folder).encode`` and the model's ``encode``."""
    from sentence_transformers import SentenceTransformer

    sentences = list(sentences) + ["word " * (model.max_input_length(model.get_tokenizer()) + 8)]  # truncated alike
    loaded = SentenceTransformer(str(folder), device="cpu")
    got = loaded.encode(sentences, convert_to_numpy=True, batch_size=len(sentences))
    expected = model.encode(sentences, device="cpu")
    return float(np.abs(got - expected).max())


def write_portable_card(out: Path, source: Path, model, reading: PortableReading) -> Path:
    """The folder's README.md: what the model was trained as, what the folder holds and how to load it."""
    import jinja2
    from huggingface_hub import ModelCardData
    from huggingface_hub.repocard import metadata_load

    config = model.config
    spec = METHODS[config.model_type]
    run = (read_json(source / TRAINING_INFO_FILE) or {}).get("run") or {}
    source_card = metadata_load(source / CARD_FILE) if (source / CARD_FILE).is_file() else None
    modules = [entry["type"].rsplit(".", 1)[-1] for entry in json.loads((out / "modules.json").read_text())]
    data = ModelCardData(
        library_name="sentence-transformers", pipeline_tag="sentence-similarity",
        license=(source_card or {}).get("license"), base_model=(source_card or {}).get("base_model"),
        tags=["sentence-transformers", "feature-extraction", "sentence-similarity", "sentcse", config.model_type],
    )
    environment = jinja2.Environment(loader=template_loader(), undefined=jinja2.StrictUndefined, trim_blocks=True,
                                     lstrip_blocks=True, keep_trailing_newline=True, autoescape=False)
    body = environment.get_template("portable.md.j2").render(
        model_name=out.name, source_name=source.name, method=spec, config=config,
        backbone=run.get("backbone") or config.backbone_config.model_type,
        backbone_type=config.backbone_config.model_type, architecture=type(model.backbone).__name__,
        embedding=inference_embedding(config, spec), modules=modules, reading=reading,
        max_seq_length=model.max_input_length(model.get_tokenizer()), hidden_size=config.hidden_size,
        left_out=[name for name, child in model.named_children()
                  if child is not None and name != "backbone" and not (name == "mlp" and reading.dense_activation)],
    )
    path = out / CARD_FILE
    path.write_text(f"---\n{data.to_yaml()}\n---\n\n{body}", encoding="utf-8")
    return path


def portable_files(out: str | Path) -> list[str]:
    """The files of a portable folder, relative to it."""
    out = Path(out)
    return sorted(str(path.relative_to(out)) for path in out.rglob("*") if path.is_file())


__all__ = ["ExportError", "MAX_DIFFERENCE", "ONNX_ROUTE", "POOLINGS", "PortableReading", "export_portable",
           "check_destination", "empty_folder", "load_trained", "portable_files", "portable_reading", "trained_config"]
