"""The sentence-transformers files of an output folder.

One folder serves both loaders:

- ``AutoModel.from_pretrained(folder, trust_remote_code=True)``: config.json (with ``auto_map``), model.safetensors,
  the modeling/configuration code files and the tokenizer, as ``save_pretrained`` writes them;
- ``SentenceTransformer(folder, trust_remote_code=True)``: ``export_sentence_transformers`` adds ``modules.json``,
  ``sentence_bert_config.json`` and ``config_sentence_transformers.json`` beside them. The single module is
  sentence-transformers' own ``Transformer`` (no custom module code): it loads the sentcse model through
  ``AutoModel`` (the folder's remote code) and, through its ``modality_config``, reads the model output's
  ``sentence_embedding`` field, so no Pooling module runs and ``SentenceTransformer.encode(x)`` equals the
  model's own ``encode(x)``. The truncation length and right padding match ``encode``. Needs sentence-transformers
  >= 6.0 to load (declared in ``config_sentence_transformers.json``'s ``requirements``; older releases cannot read
  the module's ``modality_config``).
"""

from pathlib import Path

from .environment import package_version
from .files import write_json

ST_TRANSFORMER_CLASS = "sentence_transformers.base.modules.transformer.Transformer"
ST_FILES = ("modules.json", "sentence_bert_config.json", "config_sentence_transformers.json")
MIN_SENTENCE_TRANSFORMERS = "6.0"
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt")


def export_sentence_transformers(model, folder: str | Path, tokenizer=None,
                                 save_model: bool | None = None) -> Path:
    """Make ``folder`` loadable with ``SentenceTransformer(folder, trust_remote_code=True)``.

    Args:
        model: a sentcse model (SimCseModel, SarcseModel or ReCseModel).
        folder: the output folder. When it holds no ``config.json`` yet (or ``save_model=True``) the model and its
            tokenizer are saved there first; otherwise the model saved there is assumed to be ``model``.
        tokenizer: the tokenizer to save and to take the truncation length from (default: ``model.get_tokenizer()``).

    Returns the folder. Writes ``modules.json``, ``sentence_bert_config.json`` (the Transformer module: the model's
    ``sentence_embedding`` output, truncation at the length ``encode`` uses, right padding) and
    ``config_sentence_transformers.json`` (cosine similarity, versions, the sentence-transformers requirement).
    Needs neither the network nor sentence-transformers itself.
    """
    folder = Path(folder)
    tokenizer = tokenizer if tokenizer is not None else model.get_tokenizer()
    if save_model is None:
        save_model = not (folder / "config.json").is_file()
    if save_model:
        folder.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
    elif not (folder / "config.json").is_file():
        raise FileNotFoundError(f"{folder} holds no saved model (config.json); pass save_model=True")
    if not any((folder / name).is_file() for name in _TOKENIZER_FILES):
        tokenizer.save_pretrained(folder)

    write_json(folder / "modules.json", [{"idx": 0, "name": "0", "path": "", "type": ST_TRANSFORMER_CLASS}])
    write_json(
        folder / "sentence_bert_config.json",
        {
            "transformer_task": "feature-extraction",
            # Call the model's forward and keep its `sentence_embedding` output: no Pooling module.
            "modality_config": {"text": {"method": "forward", "method_output_name": "sentence_embedding"}},
            "module_output_name": "sentence_embedding",
            # The truncation length of the model's own encode() (the backbone's position limit).
            "max_seq_length": int(model.max_input_length(tokenizer)),
            "do_lower_case": False,
            # SARCSE reads the content tokens of right-padded rows.
            "processor_kwargs": {"padding_side": "right"},
        },
    )
    versions = {"sentence_transformers": package_version("sentence-transformers"),
                "transformers": package_version("transformers"), "pytorch": package_version("torch")}
    write_json(
        folder / "config_sentence_transformers.json",
        {
            "model_type": "SentenceTransformer",
            "__version__": {name: value for name, value in versions.items() if value},
            "requirements": {
                "sentence_transformers": {
                    "specifier": f">={MIN_SENTENCE_TRANSFORMERS}",
                    "reason": "the Transformer module reads the sentcse model's sentence_embedding output "
                    "(modality_config); older releases cannot load this folder",
                },
            },
            "prompts": {},
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    )
    return folder


__all__ = ["MIN_SENTENCE_TRANSFORMERS", "ST_FILES", "ST_TRANSFORMER_CLASS", "export_sentence_transformers"]
