"""Finishing a training output folder, and uploading it to the Hugging Face Hub as it is.

``finish_output_folder`` is ``examples/train.py``'s last step: the training record, the curve, the
sentence-transformers files and the card, then (``--push_to_hub``) one upload of the finished folder, with no
re-save and no card of the Trainer's.
"""

import logging
from pathlib import Path
from typing import List, Optional, Sequence, Union

from .card import write_model_card
from .curve import plot_training_curve
from .environment import save_training_info
from .export import export_sentence_transformers
from .files import CURVE_FILE

logger = logging.getLogger(__name__)

# What an upload leaves out of the output folder: intermediate checkpoints and private files (as the Trainer does).
HUB_IGNORE_PATTERNS = ("checkpoint-*", "checkpoint-*/**", "_*", "**/__pycache__/**", "*.pyc")


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
    output_dir = Path(output_dir)
    model = trainer.accelerator.unwrap_model(trainer.model) if getattr(trainer, "accelerator", None) else trainer.model
    run = dict(run or {})
    run.setdefault("world_size", int(getattr(trainer.args, "world_size", 1) or 1))
    if repo_id:
        run["hub_model_id"] = repo_id  # so a later card update (examples/evaluate.py --write_card) keeps it
    save_training_info(output_dir, trainer.args, run, final_eval)
    backbone = Path(str(run.get("backbone", ""))).name or "backbone"
    title = f"{model.config.model_type} ({model.config.objective}) on {backbone}"
    plot_training_curve(trainer.state.log_history, output_dir / CURVE_FILE, title=title)
    tokenizer = getattr(trainer, "processing_class", None)
    export_sentence_transformers(model, output_dir,
                                 tokenizer=tokenizer if hasattr(tokenizer, "save_pretrained") else None)
    return write_model_card(output_dir, results=results, repo_id=repo_id)


def finish_output_folder(trainer, run: Optional[dict] = None, final_eval: Optional[dict] = None,
                         push_to_hub: bool = False) -> Path:
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
        repo_id = create_hub_repo(repo_id or output_dir.absolute().name, token=args.hub_token,
                                  private=args.hub_private_repo)
    card = write_hub_outputs(trainer, output_dir, run=run, final_eval=final_eval, repo_id=repo_id)
    if push_to_hub:
        commit = upload_folder_to_hub(output_dir, repo_id, token=args.hub_token, private=args.hub_private_repo,
                                      revision=args.hub_revision, commit_message="End of training", create_repo=False)
        logger.info("pushed %s to %s", output_dir, getattr(commit, "repo_url", repo_id))
    return card


__all__ = ["HUB_IGNORE_PATTERNS", "create_hub_repo", "finish_output_folder", "hub_upload_files",
           "upload_folder_to_hub", "write_hub_outputs"]
