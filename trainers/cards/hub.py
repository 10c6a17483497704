"""The Hugging Face Hub side of an output folder: checking access before training, and one upload that either
lands or leaves the folder complete with the command that retries it.

``check_hub_access`` runs before training with ``--push_to_hub``: offline mode, a token, the endpoint, the token's
validity and write access each fail at once with one line (``HubAccessError``) instead of after hours of
training. ``push_folder`` uploads a finished folder; when it fails it raises ``HubUploadError`` naming the folder,
the error and the retry command (``hub_upload_command``: huggingface_hub's own ``hf upload`` with our excludes).
"""

import logging
import os
import shlex
from collections.abc import Sequence
from pathlib import Path

from ..errors import error_line
from .files import RUN_FILE

logger = logging.getLogger(__name__)

# What an upload leaves out of the output folder: intermediate checkpoints, private files (as the Trainer does),
# pickles (training_args.bin: the arguments go as JSON in training_info.json), TensorBoard runs (their event
# files record the local paths of the run) and the run's record (local paths, for resume and overwrite).
HUB_IGNORE_PATTERNS = ("checkpoint-*", "checkpoint-*/**", "_*", "**/__pycache__/**", "*.pyc", "training_args.bin",
                       "*.pt", "*.pth", "*.pkl", "runs/*", "*tfevents*", RUN_FILE)
COMMIT_MESSAGE = "End of training"
_OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")


class HubAccessError(ValueError):
    """The Hub cannot take the upload (offline, no token, unreachable, invalid token, no write access): one line
    saying what is wrong and how to fix it."""


class HubUploadError(RuntimeError):
    """The upload of a finished folder failed; the folder is complete and the message holds the retry command."""


def hub_upload_files(folder: str | Path, ignore_patterns: Sequence[str] = HUB_IGNORE_PATTERNS,
                     allow_patterns: Sequence[str] | None = None) -> list[str]:
    """The relative paths ``upload_folder_to_hub`` sends (the folder's files matching ``allow_patterns``, default
    all, minus ``ignore_patterns``), sorted. A symbolic link is no file of the folder's."""
    from huggingface_hub.utils import filter_repo_objects

    folder = Path(folder)
    paths = [p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and not p.is_symlink()]
    allow = None if allow_patterns is None else list(allow_patterns)
    return sorted(filter_repo_objects(paths, allow_patterns=allow, ignore_patterns=list(ignore_patterns)))


def hub_upload_command(folder: str | Path, repo_id: str, revision: str | None = None,
                       private: bool | None = None, commit_message: str | None = COMMIT_MESSAGE,
                       ignore_patterns: Sequence[str] = HUB_IGNORE_PATTERNS,
                       include: Sequence[str] | None = None) -> str:
    """The shell command that uploads ``folder`` as ``finish_output_folder`` does: huggingface_hub's ``hf upload``
    (it creates the repo and the branch when missing) with the same excludes, and ``include`` (the files that are
    the run's) when given."""
    parts = ["hf", "upload", repo_id, str(Path(folder).absolute()), "."]
    for pattern in include or ():
        parts += ["--include", pattern]
    for pattern in ignore_patterns:
        parts += ["--exclude", pattern]
    if revision:
        parts += ["--revision", revision]
    if private:
        parts.append("--private")
    if commit_message:
        parts += ["--commit-message", commit_message]
    return shlex.join(parts)


def offline_mode() -> str | None:
    """The variable that turns huggingface_hub's offline mode on (None when it is off)."""
    from huggingface_hub import constants

    for name in _OFFLINE_VARIABLES:
        if os.environ.get(name, "").strip().upper() in ("1", "ON", "YES", "TRUE"):
            return name
    # huggingface_hub reads the variables once, at import
    return "HF_HUB_OFFLINE" if constants.is_offline_mode() else None


def _status(error: BaseException) -> int | None:
    response = getattr(error, "response", None)
    return getattr(response, "status_code", None)


def check_hub_access(repo_id: str | None, output_dir: str | Path, token: str | None = None,
                     private: bool | None = None, endpoint: str | None = None) -> str:
    """Check, before training, that the finished ``output_dir`` can be pushed to ``repo_id`` (default: the output
    folder's name under the token's account), creating the repository (``exist_ok``). In order: offline mode is
    off, a token is found (``token``, ``HF_TOKEN`` or the stored login), the endpoint answers, the token is valid,
    and the repository can be created or written. Returns the full repo id; raises ``HubAccessError`` (one line)."""
    from huggingface_hub import HfApi, constants, get_token
    from huggingface_hub.errors import HfHubHTTPError

    endpoint = (endpoint or constants.ENDPOINT).rstrip("/")
    name = repo_id or Path(output_dir).absolute().name
    later = f"or train without --push_to_hub and upload later with `{hub_upload_command(output_dir, name)}`"
    offline = offline_mode()
    if offline:
        raise HubAccessError(f"--push_to_hub needs the Hub but offline mode is on ({offline}=1): unset {offline}, "
                             f"{later}")
    token = token or get_token()
    if not token:
        raise HubAccessError("--push_to_hub needs a Hugging Face token and none was found (--hub_token, HF_TOKEN or "
                             "a stored login): run `hf auth login` or set HF_TOKEN")
    api = HfApi(endpoint=endpoint, token=token)
    unreachable = f"check the network or HF_ENDPOINT, {later}"
    try:
        me = api.whoami(token=token) or {}
    except HfHubHTTPError as error:
        if _status(error) == 401:
            raise HubAccessError("the token is not valid: run `hf auth login` or set HF_TOKEN") from None
        raise HubAccessError(f"the Hub at {endpoint} refused to say who the token belongs to "
                             f"({error_line(error, with_type=True)}): {unreachable}") from None
    except Exception as error:  # the HTTP client's connection errors and timeouts
        raise HubAccessError(f"the Hub at {endpoint} cannot be reached ({error_line(error, with_type=True)}): "
                             f"{unreachable}") from None

    user = me.get("name")
    namespace, _, short_name = name.rpartition("/")
    full = name if namespace or not user else f"{user}/{name}"
    namespace = namespace or user
    role = ((me.get("auth") or {}).get("accessToken") or {}).get("role")
    if role == "read":
        raise HubAccessError(f"no write access to {full}: the token is read-only; create a write token at "
                             f"{endpoint}/settings/tokens, then run `hf auth login` or set HF_TOKEN")
    orgs = {org.get("name") for org in me.get("orgs") or ()}
    if user and "orgs" in me and namespace not in orgs | {user}:
        raise HubAccessError(f"no write access to {full}: {namespace} is neither your account ({user}) nor one of "
                             f"your organisations; pass --hub_model_id {user}/{short_name}")
    try:
        repo = api.create_repo(full, private=private, exist_ok=True, repo_type="model")
    except HfHubHTTPError as error:
        if _status(error) in (401, 403):
            raise HubAccessError(f"no write access to {full}: the Hub refused to create it "
                                 f"({error_line(error, with_type=True)}); use a token that may write to {namespace} "
                                 "(`hf auth login`) or pass --hub_model_id with a namespace you own") from None
        raise HubAccessError(f"cannot create {full} on {endpoint} ({error_line(error, with_type=True)}): "
                             f"{unreachable}") from None
    except Exception as error:
        raise HubAccessError(f"the Hub at {endpoint} cannot be reached ({error_line(error, with_type=True)}): "
                             f"{unreachable}") from None
    return getattr(repo, "repo_id", None) or full


def upload_folder_to_hub(
    folder: str | Path,
    repo_id: str,
    token: str | None = None,
    revision: str | None = None,
    commit_message: str = "Upload sentcse model",
    ignore_patterns: Sequence[str] = HUB_IGNORE_PATTERNS,
    allow_patterns: Sequence[str] | None = None,
):
    """Upload ``folder`` as it is to the repository ``repo_id`` (``check_hub_access`` creates it): the files
    matching ``allow_patterns`` (default all) minus ``ignore_patterns`` (``hub_upload_files`` lists what goes).
    Returns ``HfApi.upload_folder``'s ``CommitInfo``."""
    from huggingface_hub import HfApi

    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"{folder} holds no saved model (config.json): nothing to upload")
    api = HfApi(token=token)
    if revision:
        api.create_branch(repo_id, branch=revision, exist_ok=True)
    files = hub_upload_files(folder, ignore_patterns, allow_patterns)
    logger.info("uploading %s to %s (%d files)", folder, repo_id, len(files))
    return api.upload_folder(
        repo_id=repo_id,
        folder_path=str(folder),
        commit_message=commit_message,
        revision=revision,
        allow_patterns=None if allow_patterns is None else list(allow_patterns),
        ignore_patterns=list(ignore_patterns),
        repo_type="model",
    )


def push_folder(folder: str | Path, repo_id: str, token: str | None = None, private: bool | None = None,
                revision: str | None = None, allow_patterns: Sequence[str] | None = None):
    """``upload_folder_to_hub`` of a finished folder (only the files matching ``allow_patterns`` when given); any
    failure becomes ``HubUploadError`` with the retry command. Returns the ``CommitInfo``."""
    try:
        return upload_folder_to_hub(folder, repo_id, token=token, revision=revision, commit_message=COMMIT_MESSAGE,
                                    allow_patterns=allow_patterns)
    except Exception as error:
        raise upload_error(folder, repo_id, error, revision=revision, private=private,
                           allow_patterns=allow_patterns) from error


def upload_error(folder: str | Path, repo_id: str, error: BaseException, revision: str | None = None,
                 private: bool | None = None, allow_patterns: Sequence[str] | None = None) -> HubUploadError:
    """The ``HubUploadError`` of a failed upload of ``folder``: the folder, the error, the retry command (which
    names the files to send when ``allow_patterns`` limits them)."""
    include = None if allow_patterns is None else hub_upload_files(folder, allow_patterns=allow_patterns)
    command = hub_upload_command(folder, repo_id, revision=revision, private=private, include=include)
    return HubUploadError(f"the upload of {Path(folder).absolute()} to {repo_id} failed "
                          f"({error_line(error, with_type=True)}); the folder is complete: retry with `{command}`")


__all__ = ["COMMIT_MESSAGE", "HUB_IGNORE_PATTERNS", "HubAccessError", "HubUploadError", "check_hub_access",
           "hub_upload_command", "hub_upload_files", "offline_mode", "push_folder", "upload_error",
           "upload_folder_to_hub"]
