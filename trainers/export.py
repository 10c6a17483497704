"""Hub-ready output folders: the sentence-transformers files, and the upload of a finished folder.

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

``upload_folder_to_hub`` uploads a finished folder as it is (no re-save, no card of the Trainer's): used by
``examples/train.py --push_to_hub`` once, after the card and the plot are written.
"""

import json
import logging
from pathlib import Path
from typing import List, Optional, Sequence, Union

logger = logging.getLogger(__name__)

ST_TRANSFORMER_CLASS = "sentence_transformers.base.modules.transformer.Transformer"
ST_FILES = ("modules.json", "sentence_bert_config.json", "config_sentence_transformers.json")
MIN_SENTENCE_TRANSFORMERS = "6.0"
# What an upload leaves out of the output folder: intermediate checkpoints and private files (as the Trainer does).
HUB_IGNORE_PATTERNS = ("checkpoint-*", "checkpoint-*/**", "_*", "**/__pycache__/**", "*.pyc")


def _version(package: str) -> Optional[str]:
    try:
        from importlib.metadata import PackageNotFoundError, version

        return version(package)
    except PackageNotFoundError:
        return None


def _write_json(path: Path, data) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def export_sentence_transformers(model, folder: Union[str, Path], tokenizer=None, save_model: Optional[bool] = None) -> Path:
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
    if not any((folder / name).is_file() for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt")):
        tokenizer.save_pretrained(folder)

    _write_json(folder / "modules.json", [{"idx": 0, "name": "0", "path": "", "type": ST_TRANSFORMER_CLASS}])
    _write_json(
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
    versions = {"sentence_transformers": _version("sentence-transformers"), "transformers": _version("transformers"),
                "pytorch": _version("torch")}
    _write_json(
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


def hub_upload_files(folder: Union[str, Path], ignore_patterns: Sequence[str] = HUB_IGNORE_PATTERNS) -> List[str]:
    """The relative paths ``upload_folder_to_hub`` sends (the folder minus ``ignore_patterns``), sorted."""
    from huggingface_hub.utils import filter_repo_objects

    folder = Path(folder)
    paths = [p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()]
    return sorted(filter_repo_objects(paths, ignore_patterns=list(ignore_patterns)))


def create_hub_repo(repo_id: str, token: Optional[str] = None, private: Optional[bool] = None) -> str:
    """Create the model repository ``repo_id`` if it does not exist; returns its full id (with the namespace)."""
    from huggingface_hub import HfApi

    repo = HfApi(token=token).create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
    return getattr(repo, "repo_id", None) or repo_id


def upload_folder_to_hub(
    folder: Union[str, Path],
    repo_id: str,
    token: Optional[str] = None,
    private: Optional[bool] = None,
    revision: Optional[str] = None,
    commit_message: str = "Upload sentcse model",
    ignore_patterns: Sequence[str] = HUB_IGNORE_PATTERNS,
    create_repo: bool = True,
):
    """Create ``repo_id`` (if needed, unless ``create_repo=False``) and upload ``folder`` as it is, minus
    intermediate checkpoints (``hub_upload_files`` lists what goes). Returns ``HfApi.upload_folder``'s
    ``CommitInfo``."""
    from huggingface_hub import HfApi

    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"{folder} holds no saved model (config.json): nothing to upload")
    if create_repo:
        repo_id = create_hub_repo(repo_id, token=token, private=private)
    api = HfApi(token=token)
    if revision:
        api.create_branch(repo_id, branch=revision, exist_ok=True)
    logger.info("uploading %s to %s (%d files)", folder, repo_id, len(hub_upload_files(folder, ignore_patterns)))
    return api.upload_folder(
        repo_id=repo_id,
        folder_path=str(folder),
        commit_message=commit_message,
        revision=revision,
        ignore_patterns=list(ignore_patterns),
        repo_type="model",
    )


def write_hub_outputs(
    trainer,
    output_dir: Union[str, Path],
    run: Optional[dict] = None,
    final_eval: Optional[dict] = None,
    repo_id: Optional[str] = None,
    results=None,
) -> Path:
    """Finish a training output folder (process zero, after ``save_model``, ``save_state`` and the final
    evaluation): ``training_info.json``, ``training_curve.png`` (from ``trainer.state.log_history``), the
    sentence-transformers files and ``README.md``. ``run`` describes the run (method, backbone, train_file,
    n_sentences, preset, world_size); ``final_eval`` holds the final ``eval_stsb_spearman``; ``results`` the STS
    scores when not in ``sts_results.json``. Returns the card's path."""
    from .model_card import CURVE_FILE, plot_training_curve, save_training_info, write_model_card

    output_dir = Path(output_dir)
    model = trainer.accelerator.unwrap_model(trainer.model) if getattr(trainer, "accelerator", None) else trainer.model
    run = dict(run or {})
    run.setdefault("world_size", int(getattr(trainer.args, "world_size", 1) or 1))
    if repo_id:
        run["hub_model_id"] = repo_id  # so a later card update (examples/evaluate.py --write_card) keeps it
    save_training_info(output_dir, trainer.args, run, final_eval)
    title = f"{model.config.model_type} ({model.config.objective}) on {Path(str(run.get('backbone', ''))).name or 'backbone'}"
    plot_training_curve(trainer.state.log_history, output_dir / CURVE_FILE, title=title)
    tokenizer = getattr(trainer, "processing_class", None)
    export_sentence_transformers(model, output_dir, tokenizer=tokenizer if hasattr(tokenizer, "save_pretrained") else None)
    return write_model_card(output_dir, results=results, repo_id=repo_id)


def finish_output_folder(trainer, run: Optional[dict] = None, final_eval: Optional[dict] = None, push_to_hub: bool = False) -> Path:
    """``examples/train.py``'s last step (process zero): ``write_hub_outputs`` into ``trainer.args.output_dir``
    and, with ``push_to_hub``, one upload of the finished folder to ``hub_model_id`` (default: the output folder's
    name under your namespace), honouring ``hub_token``, ``hub_private_repo`` and ``hub_revision``.

    The Trainer's own push must be off (``args.push_to_hub=False``; train.py turns it off and passes the flag
    here): it would create the repository at start, commit at every save (``hub_strategy``) without the code
    files, and write its own README. Returns the card's path."""
    args = trainer.args
    output_dir = Path(args.output_dir)
    repo_id = args.hub_model_id
    if push_to_hub:
        repo_id = create_hub_repo(repo_id or output_dir.absolute().name, token=args.hub_token, private=args.hub_private_repo)
    card = write_hub_outputs(trainer, output_dir, run=run, final_eval=final_eval, repo_id=repo_id)
    if push_to_hub:
        commit = upload_folder_to_hub(output_dir, repo_id, token=args.hub_token, private=args.hub_private_repo,
                                      revision=args.hub_revision, commit_message="End of training", create_repo=False)
        logger.info("pushed %s to %s", output_dir, getattr(commit, "repo_url", repo_id))
    return card


__all__ = [
    "HUB_IGNORE_PATTERNS",
    "ST_FILES",
    "create_hub_repo",
    "export_sentence_transformers",
    "finish_output_folder",
    "hub_upload_files",
    "upload_folder_to_hub",
    "write_hub_outputs",
]
