"""Finishing a training output folder, and uploading it to the Hugging Face Hub as it is.

``finish_output_folder`` is ``examples/train.py``'s last step: the run's record, the sentence-transformers files, the
curve and the card rendered from the record, all written before any network step, then (``--push_to_hub``) one
upload of the finished folder, with no re-save and no card of the Trainer's. A failed upload leaves the folder
complete and raises ``HubUploadError`` with the command that retries it. The network side lives in ``hub``.
"""

import logging
from collections.abc import Sequence
from pathlib import Path

from .card import write_model_card
from .export import export_sentence_transformers
from .hub import HubAccessError, check_hub_access, hub_upload_files, push_folder, upload_error
from .portable import make_portable, publish_permissions
from .record import RunRecord

logger = logging.getLogger(__name__)


def write_hub_outputs(
    trainer,
    output_dir: str | Path,
    run: dict | None = None,
    final_eval: dict | None = None,
    repo_id: str | None = None,
    results=None,
    files: Sequence[str] | None = None,
) -> Path:
    """Finish a training output folder (process zero, after ``save_model``, ``save_state`` and the final
    evaluation), without the network: the run's record ``training_info.json`` (``RunRecord.from_run``: the run,
    the training arguments as JSON, the curve from ``trainer.state``, the final evaluation, the STS results, the
    environment), the sentence-transformers files, ``training_curve.png`` and ``README.md`` rendered from that
    record; then no uploaded JSON file keeps an absolute local path (``make_portable``) and every uploaded file is
    0644. ``run`` describes the run (method, backbone, train_file, n_sentences, preset, dev_file, raw_backbone_dev);
    ``final_eval`` holds the final ``eval_stsb_spearman``; ``results`` the STS scores (None: none were
    scored; the record writes ``sts_results.json``); ``files``, glob patterns of the run's own files
    (default: every file), limits what is rewritten, made readable and uploaded: the folder's other files are the
    user's. Returns the card's path."""
    output_dir = Path(output_dir)
    model = trainer.accelerator.unwrap_model(trainer.model) if getattr(trainer, "accelerator", None) else trainer.model
    run = dict(run or {})
    if repo_id:
        run["hub_model_id"] = repo_id  # so a later card update (sentcse-evaluate --write_card) keeps it
    record = RunRecord.from_run(output_dir, run, trainer.args, trainer.state, final_eval, results)
    record.save(output_dir)
    tokenizer = getattr(trainer, "processing_class", None)
    export_sentence_transformers(model, output_dir,
                                 tokenizer=tokenizer if hasattr(tokenizer, "save_pretrained") else None)
    rewritten = make_portable(output_dir, hub_upload_files(output_dir, allow_patterns=files))
    if rewritten:
        logger.info("local paths recorded relative or by name in %s", ", ".join(rewritten))
    card = write_model_card(output_dir, record=record, repo_id=repo_id, redraw_curve=True)
    publish_permissions(output_dir, hub_upload_files(output_dir, allow_patterns=files))
    return card


def finish_output_folder(trainer, run: dict | None = None, final_eval: dict | None = None,
                         push_to_hub: bool = False, repo_id: str | None = None,
                         files: Sequence[str] | None = None, results=None) -> Path:
    """``examples/train.py``'s last step (process zero): ``write_hub_outputs`` into ``trainer.args.output_dir``
    and, with ``push_to_hub``, one upload of the finished folder to ``repo_id`` (the full id ``check_hub_access``
    returned before training; default ``hub_model_id``, else the output folder's name under your namespace),
    honouring ``hub_token``, ``hub_private_repo`` and ``hub_revision``. A failed upload raises ``HubUploadError``
    (the folder complete, the retry command in the message). ``files``: glob patterns of the run's own files
    (default: every file); only these are uploaded. ``results``: the final STS scores (None: none).

    The Trainer's own push must be off (``args.push_to_hub=False``; train.py turns it off and passes the flag
    here): it would create the repository at start, commit at every save (``hub_strategy``) without the code
    files, and write its own README. Returns the card's path."""
    args = trainer.args
    output_dir = Path(args.output_dir)
    checked = repo_id is not None
    repo_id = repo_id or args.hub_model_id
    access_error = None
    if push_to_hub and not checked:
        # Not checked before training: check now for the card's full id; a failure only stops the upload.
        try:
            repo_id = check_hub_access(repo_id, output_dir, token=args.hub_token, private=args.hub_private_repo)
        except HubAccessError as error:
            access_error, repo_id = error, repo_id or output_dir.absolute().name
    card = write_hub_outputs(trainer, output_dir, run=run, final_eval=final_eval, repo_id=repo_id, results=results,
                             files=files)
    if push_to_hub:
        if access_error is not None:
            raise upload_error(output_dir, repo_id, access_error, revision=args.hub_revision,
                               private=args.hub_private_repo, allow_patterns=files) from access_error
        commit = push_folder(output_dir, repo_id, token=args.hub_token, private=args.hub_private_repo,
                             revision=args.hub_revision, allow_patterns=files)
        logger.info("pushed %s to %s", output_dir, getattr(commit, "repo_url", repo_id))
    return card


__all__ = ["finish_output_folder", "write_hub_outputs"]
