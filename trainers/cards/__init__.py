"""Hub-ready output folders: the model card (README.md), the training record and curve, the sentence-transformers
files, and the upload of a finished folder.

``finish_output_folder(trainer, run, final_eval, push_to_hub)`` (the end of ``examples/train.py``) writes:

- ``training_info.json`` (``save_training_info``): the training arguments (no tokens), the run (backbone, corpus,
  processes), the library versions, hardware and git commit (``collect_environment``), the final STS-B dev score;
- ``training_curve.png`` (``plot_training_curve``): the loss terms and the STS-B dev Spearman against the step;
- ``modules.json``, ``sentence_bert_config.json``, ``config_sentence_transformers.json``
  (``export_sentence_transformers``): ``SentenceTransformer(folder, trust_remote_code=True)`` loads the folder and
  returns the model's own ``encode`` vectors (sentence-transformers >= 6.0);
- ``README.md`` (``write_model_card``), rendered from what the folder holds: ``config.json`` (the method, and
  every declared option the checkpoint used, marked where it differs from the default), ``training_info.json``,
  ``trainer_state.json``, the curve, and ``sts_results.json`` (``merge_sts_results``, from train.py's final
  evaluation or ``examples/evaluate.py --write_card``).

All of it is written before any network step; no uploaded JSON file keeps an absolute local path (``portable``:
paths inside the folder relative to it, others by name) and every uploaded file is 0644. Then, with
``push_to_hub``, the folder is uploaded as it is, minus intermediate checkpoints, pickles (training_args.bin),
TensorBoard runs and the run's local record (``HUB_IGNORE_PATTERNS``); with ``files`` (sentcse-train passes the
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

Modules: ``environment`` (versions, git commit, training_info.json), ``curve``, ``results`` (sts_results.json,
tables, model-index), ``sections`` (training / environment rows), ``card`` (the card, its method and objective
texts), ``export`` (sentence-transformers files), ``portable`` (no local path, readable files), ``hub`` (access check,
upload, retry command), ``upload`` (finishing a folder).
"""

from .card import TEMPLATE_DIR_ENV, build_model_card, template_loader, template_name, write_model_card
from .curve import plot_training_curve
from .environment import collect_environment, git_commit, package_version, save_training_info
from .export import MIN_SENTENCE_TRANSFORMERS, ST_FILES, export_sentence_transformers
from .files import CARD_FILE, CURVE_FILE, STS_RESULTS_FILE, TRAINING_INFO_FILE
from .hub import (
    HUB_IGNORE_PATTERNS,
    HubAccessError,
    HubUploadError,
    check_hub_access,
    hub_upload_command,
    hub_upload_files,
    upload_folder_to_hub,
)
from .results import eval_results, merge_sts_results, normalize_results
from .upload import finish_output_folder, write_hub_outputs

__all__ = [
    "CARD_FILE",
    "CURVE_FILE",
    "HUB_IGNORE_PATTERNS",
    "HubAccessError",
    "HubUploadError",
    "MIN_SENTENCE_TRANSFORMERS",
    "STS_RESULTS_FILE",
    "ST_FILES",
    "TEMPLATE_DIR_ENV",
    "TRAINING_INFO_FILE",
    "build_model_card",
    "check_hub_access",
    "collect_environment",
    "eval_results",
    "export_sentence_transformers",
    "finish_output_folder",
    "git_commit",
    "hub_upload_command",
    "hub_upload_files",
    "merge_sts_results",
    "normalize_results",
    "package_version",
    "plot_training_curve",
    "save_training_info",
    "template_loader",
    "template_name",
    "upload_folder_to_hub",
    "write_hub_outputs",
    "write_model_card",
]
