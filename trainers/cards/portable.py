"""Keeping this machine out of a Hub-ready folder: no absolute local path in an uploaded file, and every uploaded
file readable like any ``save_pretrained`` output.

The run description records a local backbone / corpus by name and lists it under ``local_inputs`` (so the card
still knows it is no Hub name); the uploaded JSON files (config.json's backbone ``_name_or_path``,
training_info.json's ``output_dir``, trainer_state.json's ``best_model_checkpoint``, ...) record a path inside the
folder relative to it and any other local path by its name. Hub names and URLs stay as they are.
"""

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..methods import checkpoint_file_names
from .files import write_json
from .hub import hub_upload_files
from .sections import is_local, local_names

LOCAL_INPUTS_KEY = "local_inputs"
RUN_PATH_KEYS = ("backbone", "train_file", "dev_file")
# Vocabularies: their strings are tokens ("/", "/s", ...), not paths; so are the methods' own files (SARCSE's token
# counts). Tokenizer configs nest tokens too: only their top-level values (name_or_path, tokenizer_file) are checked.
VOCABULARY_FILES = frozenset({"tokenizer.json", "vocab.json", *checkpoint_file_names()})
TOKENIZER_CONFIG_FILES = frozenset({"tokenizer_config.json", "special_tokens_map.json", "added_tokens.json"})
FILE_MODE = 0o644


def is_local_path(text: Any) -> bool:
    """Whether ``text`` is an absolute path of this machine (one whose top folder exists here: a removed run
    folder under /tmp still counts; a token such as "/s" does not)."""
    if not isinstance(text, str) or not text or len(text) > 4096 or "\n" in text:
        return False
    path = Path(text).expanduser() if text.startswith("~") else Path(text)
    if not path.is_absolute() or len(path.parts) < 2:
        return False
    try:
        return path.exists() or Path(path.parts[0], path.parts[1]).is_dir()
    except OSError:  # e.g. a name too long for the file system: no path of this machine
        return False


def portable_path(text: str, folder: str | Path) -> str:
    """``text`` relative to ``folder`` when inside it ("." for the folder itself), else its name."""
    path = Path(text).expanduser()
    folder = Path(folder)
    for inner, outer in ((path.absolute(), folder.absolute()), (path.resolve(), folder.resolve())):
        try:
            return inner.relative_to(outer).as_posix()
        except ValueError:
            continue
    return path.name


def portable_value(value: Any, folder: str | Path) -> Any:
    """A JSON value with every absolute local path made portable (``portable_path``); keys are kept."""
    if isinstance(value, dict):
        return {key: portable_value(item, folder) for key, item in value.items()}
    if isinstance(value, list):
        return [portable_value(item, folder) for item in value]
    return portable_path(value, folder) if is_local_path(value) else value


def portable_run(run: Mapping[str, Any]) -> dict[str, Any]:
    """The run description with a local backbone / corpus recorded by name, listed under ``local_inputs``."""
    run = dict(run)
    local: list[str] = list(run.get(LOCAL_INPUTS_KEY) or ())
    for key in RUN_PATH_KEYS:
        value = run.get(key)
        if isinstance(value, str) and value and key not in local and is_local(value):
            run[key] = local_names(value) or value
            local.append(key)
    if local:
        run[LOCAL_INPUTS_KEY] = local
    return run


def make_portable(folder: str | Path, files: Iterable[str] | None = None) -> list[str]:
    """Rewrite the JSON files among ``files`` (default: those ``hub_upload_files`` lists) that hold an absolute
    local path (``portable_value``); a file without one is left byte for byte. Returns the rewritten paths."""
    folder = Path(folder)
    rewritten = []
    for name in files if files is not None else hub_upload_files(folder):
        path = folder / name
        if not name.endswith(".json") or path.name in VOCABULARY_FILES:
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if path.name in TOKENIZER_CONFIG_FILES and isinstance(data, dict):
            portable = {key: portable_value(value, folder) if isinstance(value, str) else value
                        for key, value in data.items()}
        else:
            portable = portable_value(data, folder)
        if portable != data:
            write_json(path, portable, ensure_ascii=False)
            rewritten.append(name)
    return rewritten


def publish_permissions(folder: str | Path, files: Iterable[str] | None = None) -> None:
    """Make ``files`` (default: those ``hub_upload_files`` lists) 0644: safetensors writes the weights 0600."""
    folder = Path(folder)
    for name in files if files is not None else hub_upload_files(folder):
        if not (folder / name).is_symlink():  # a link's target is not this folder's file
            os.chmod(folder / name, FILE_MODE)


__all__ = ["FILE_MODE", "LOCAL_INPUTS_KEY", "TOKENIZER_CONFIG_FILES", "VOCABULARY_FILES", "is_local_path",
           "make_portable", "portable_path", "portable_run", "portable_value", "publish_permissions"]
