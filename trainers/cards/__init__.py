"""Hub-ready output folders: the run's record, the model card (README.md) rendered from it, the training curve, the
sentence-transformers files, and the upload of a finished folder.

``finish_output_folder(trainer, run, final_eval, push_to_hub)`` (the end of ``sentcse-train``) writes:

- ``training_info.json``: the run's ``RunRecord``, built once from what the run holds in memory
  (``RunRecord.from_run``: the run's description with the backbone and corpus by name, the training arguments
  without tokens, the dev curve from ``trainer.state``, the final evaluation, the STS results in
  ``StsResults.to_dict()``'s shape, versions, hardware and git commit) and saved with no absolute local path
  (``sts_results.json`` beside it holds the same scores);
- ``modules.json``, ``sentence_bert_config.json``, ``config_sentence_transformers.json``
  (``export_sentence_transformers``): ``SentenceTransformer(folder, trust_remote_code=True)`` loads the folder and
  returns the model's own ``encode`` vectors (sentence-transformers >= 6.0);
- ``training_curve.png`` (``plot_training_curve``, from the record's curve) and ``README.md``
  (``write_model_card``), both rendered from the record and ``config.json`` (the method, and every declared option
  the checkpoint used, marked where it differs from the default); nothing else in the folder is read back.

``sentcse-evaluate --write_card`` loads the record (``RunRecord.load``), adds its scores
(``RunRecord.with_sts_results``), saves it and renders the card again. A folder of an earlier sentcse (no record:
training_info.json, trainer_state.json and sts_results.json) is converted in ``RunRecord.from_legacy_folder``.

All of it is written before any network step; no uploaded JSON file keeps an absolute local path (``portable``:
paths inside the folder relative to it, others by name) and every uploaded file is 0644. Then, with
``push_to_hub``, the folder is uploaded as it is, minus intermediate checkpoints, pickles (training_args.bin),
TensorBoard runs and the run's local state (``HUB_IGNORE_PATTERNS``); with ``files`` (sentcse-train passes the
names a run writes), only those of the folder's files are rewritten, made readable and uploaded, never the
user's own. A failed upload raises ``HubUploadError`` with the ``hf upload``
command that retries it. ``check_hub_access`` (before training) fails at once, in one line (``HubAccessError``),
when the upload could not happen: offline mode, no token, the Hub unreachable, an invalid token, no write access.

The card's YAML header is built with ``huggingface_hub.ModelCardData`` / ``EvalResult``: ``library_name:
transformers``, ``pipeline_tag: sentence-similarity``, tags, ``base_model`` / ``datasets`` when they are Hub names,
``license`` (the backbone's, from its README.md; else ``other`` and a note in the body to set it) and a
``model-index`` with one ``cosine_spearman`` value (Spearman x100) per STS task. The body comes from the Jinja2
templates of ``sentcse.model_cards`` (package data; ``templates=`` or ``$SENTCSE_MODEL_CARDS`` override them), the
method texts and the files a method saves from the method registry (``trainers.methods``), the objective's text
from its class.

Modules: ``record`` (the run's record), ``environment`` (versions, git commit), ``curve``, ``results`` (the STS
results' shape, tables, model-index), ``sections`` (training / environment rows), ``card`` (the card, its method
and objective texts), ``export`` (sentence-transformers files), ``portable`` (no local path, readable files),
``hub`` (access check, upload, retry command), ``upload`` (finishing a folder).
"""

from .card import (
    TEMPLATE_DIR_ENV,
    build_model_card,
    checkpoint_config,
    template_loader,
    template_name,
    write_model_card,
)
from .curve import plot_training_curve
from .environment import collect_environment, git_commit, package_version
from .export import MIN_SENTENCE_TRANSFORMERS, ST_FILES, export_sentence_transformers
from .files import CARD_FILE, CURVE_FILE, RECORD_FILE, STS_RESULTS_FILE, TRAINING_INFO_FILE
from .hub import (
    HUB_IGNORE_PATTERNS,
    HubAccessError,
    HubUploadError,
    check_hub_access,
    hub_upload_command,
    hub_upload_files,
    upload_folder_to_hub,
)
from .record import RunRecord
from .results import eval_results, merged_sts_results, sts_results_dict
from .upload import finish_output_folder, write_hub_outputs

__all__ = [
    "CARD_FILE",
    "CURVE_FILE",
    "HUB_IGNORE_PATTERNS",
    "HubAccessError",
    "HubUploadError",
    "MIN_SENTENCE_TRANSFORMERS",
    "RECORD_FILE",
    "RunRecord",
    "STS_RESULTS_FILE",
    "ST_FILES",
    "TEMPLATE_DIR_ENV",
    "TRAINING_INFO_FILE",
    "build_model_card",
    "check_hub_access",
    "checkpoint_config",
    "collect_environment",
    "eval_results",
    "export_sentence_transformers",
    "finish_output_folder",
    "git_commit",
    "hub_upload_command",
    "hub_upload_files",
    "merged_sts_results",
    "package_version",
    "plot_training_curve",
    "sts_results_dict",
    "template_loader",
    "template_name",
    "upload_folder_to_hub",
    "write_hub_outputs",
    "write_model_card",
]
