"""One run per output folder: which folder a run may write, which checkpoint it resumes, which files are its own,
and what a stopped run kept.

A run writes ``sentcse_run.json`` (its fingerprint and what it is made of) in its output folder and beside every
checkpoint; in the folder the record also names the files the run wrote there. A folder's contents are the user's
unless that record proves them the run's: the names it lists (only names a run writes, each recorded once it
exists) and the checkpoint-N folders beside it. A folder without a record is the user's. A file of the user's with
a name a run writes (README.md, config.json, checkpoint-3, ...) refuses the run, fresh or resumed, before anything
is written, and again before the final save; ``--overwrite_output_dir`` deletes only what the record proves the
earlier run's (a link by unlinking it, the record last). A resume only picks checkpoints with this run's
fingerprint, so checkpoint rotation never sees, and never deletes, another run's.
"""

import errno
import fnmatch
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ..cards.export import ST_FILES
from ..cards.files import CARD_FILE, CURVE_FILE, RUN_FILE, STS_RESULTS_FILE, TRAINER_STATE_FILE, TRAINING_INFO_FILE
from ..errors import error_line
from ..methods import checkpoint_file_names
from .arguments import UsageError
from .checkpoints import (
    CHECKPOINT,
    check_checkpoint,
    checkpoints,
    read_fingerprint,
    refuse_a_wrapped_stream,
    resume_point,
)
from .identity import accepted_fingerprints, run_file_text

logger = logging.getLogger("sentcse.train")

MODEL_FILES = ("config.json", "model.safetensors", "pytorch_model.bin")

# What a run writes in its folder besides checkpoints and the code files (glob patterns: sharded weights), and the
# tokenizer's own file names: the names a user's file must not have, and the only ones a run records as its own.
RUN_OUTPUTS = (*MODEL_FILES, "model-*-of-*.safetensors", "model.safetensors.index.json", "pytorch_model-*-of-*.bin",
               "pytorch_model.bin.index.json", RUN_FILE, CARD_FILE, CURVE_FILE, TRAINING_INFO_FILE, TRAINER_STATE_FILE,
               "training_args.bin", STS_RESULTS_FILE, *sorted(checkpoint_file_names()), *ST_FILES, "tokenizer.json",
               "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", "chat_template.jinja",
               "chat_template.json", "vocab.txt", "vocab.json", "merges.txt", "all_results.json", "train_results.json",
               "eval_results.json")

TENSORBOARD_FOLDER = "runs"  # the Trainer's TensorBoard logs, under the output folder


def decided_by_main(training_args, decide: Callable[[], Any]) -> Any:
    """``decide()`` run on the main process alone; its result, or its UsageError, reaches every process (so a
    refusal stops them all, and none of them reads a folder that the main process is writing)."""
    if training_args.world_size == 1:
        return decide()
    from accelerate.utils import broadcast_object_list

    outcome, failure = [None], None
    if training_args.process_index == 0:
        try:
            outcome = [("ok", decide())]
        except UsageError as error:
            outcome = [("error", str(error))]
        except Exception as error:  # noqa: BLE001  (the others are told, then it propagates here)
            outcome, failure = [("error", f"the main process stopped: {type(error).__name__}: {error}")], error
    broadcast_object_list(outcome, from_process=0)
    if failure is not None:
        raise failure
    kind, value = outcome[0]
    if kind == "error":
        raise UsageError(value)
    return value


def run_names(extra: Iterable[str] = ()) -> list[str]:
    """Glob patterns of the top-level names a run writes in its folder besides checkpoints: its outputs, the
    model's code files, TensorBoard logs, and ``extra`` (its tokenizer's file names, its method's files)."""
    from ... import modeling  # the code files save_pretrained copies are the model package's own modules

    code = {path.name for path in Path(modeling.__file__).parent.glob("*.py")} - {"__init__.py"}
    return sorted({*RUN_OUTPUTS, *code, TENSORBOARD_FOLDER, *extra})


def is_run_name(name: str, patterns: Iterable[str]) -> bool:
    """Whether a run may write ``name`` in its folder: a checkpoint folder, or one of ``patterns`` (``run_names``)."""
    return bool(CHECKPOINT.match(name)) or any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def tensorboard_names(training_args) -> list[str]:
    """The Trainer's TensorBoard folder in the output folder, when it writes one."""
    writes = "tensorboard" in (training_args.report_to or ()) and not os.environ.get("TENSORBOARD_LOGGING_DIR")
    return [TENSORBOARD_FOLDER] if writes else []


def _names(folder: Path) -> set:
    return {path.name for path in folder.iterdir()} if folder.is_dir() else set()


def _plain_names(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(name, str) and name not in ("", ".", "..") and not set(name) & {"/", "\\", "\0"} for name in value)


def read_record(folder: Path) -> dict[str, Any] | None:
    """The folder's run record, None when there is none; a ``sentcse_run.json`` that is no run record (a link, not
    JSON, no fingerprint, files that are not names in the folder) is refused in one line. ``files`` is the set of
    names the record proves the run's."""
    path = folder / RUN_FILE
    if not (path.exists() or path.is_symlink()):
        return None
    record, problem = None, None
    if path.is_symlink() or not path.is_file():
        problem = "a link or a folder, not the file a run writes"
    else:
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            problem = f"not JSON: {error_line(error)}"
    if problem is None:
        if not isinstance(record, dict) or not isinstance(record.get("fingerprint"), str):
            problem = "no fingerprint"
        elif not (_plain_names(record.get("files", [])) and _plain_names(record.get("user_files", []))):
            problem = "its files are not a list of names in the folder"
    if problem is not None:
        raise UsageError(f"output folder {folder}: {RUN_FILE} is no run record ({problem}); move it away if it is "
                         "yours, or choose another --output_dir")
    files = set(record.get("files", ())) | {RUN_FILE}
    if "user_files" in record:  # an earlier sentcse listed all it found at its end: only names a run writes count
        files = {name for name in files if is_run_name(name, run_names())} - set(record["user_files"])
    return {**record, "files": files}


def _run_entries(folder: Path, record: dict[str, Any] | None) -> set:
    """The names in ``folder`` that its record proves the run's: those it lists, and the checkpoint folders."""
    if record is None:
        return set()
    return (record["files"] & _names(folder)) | {path.name for path in checkpoints(folder).values()}


def _refuse_foreign(folder: Path, foreign: Iterable[str], patterns: Iterable[str], what: str) -> None:
    clashes = sorted(name for name in foreign if is_run_name(name, patterns))
    if clashes:
        shown = ", ".join(f"{name} (a link)" if (folder / name).is_symlink() else name for name in clashes)
        raise UsageError(f"output folder {folder} holds files that are not a run's ({shown}) and that a run writes: "
                         f"{what}")


def _delete(folder: Path, names: Iterable[str]) -> None:
    """Delete what an earlier run wrote: a link is unlinked, never followed; the record goes last, so a deletion
    cut short is finished by the next run."""
    for name in sorted(names, key=lambda name: (name == RUN_FILE, name)):
        path = folder / name
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
        except OSError as error:
            raise UsageError(f"cannot delete {path} of the previous run ({error.strerror or error}): fix its "
                             "permissions, or choose another --output_dir") from None


def holds_a_run(folder: Path) -> bool:
    """A saved model or checkpoints (a run stopped before its first checkpoint left nothing worth keeping)."""
    return folder.is_dir() and (bool(checkpoints(folder)) or any((folder / name).exists() for name in MODEL_FILES))


def prepare_output_folder(folder: Path, description: dict[str, Any], overwrite: bool, resume: str | None,
                          names: Iterable[str] = ()) -> tuple[str | None, list[str]]:
    """Check the output folder for this run (on the main process: ``decided_by_main``); returns the checkpoint to
    resume from (None: start fresh) and the names in the folder that are this run's (a resume's; [] for a fresh
    run). Every other file in the folder is the user's: one with a name the run writes (``run_names(names)``,
    checkpoint-N) refuses the run, fresh or resumed, before anything is touched. A fresh run deletes what the
    earlier run's record proves it wrote (``overwrite`` when it left a model or checkpoints).

    ``resume``: None, "last" (this run's newest checkpoint) or a checkpoint folder, perhaps another folder's."""
    mine = accepted_fingerprints(description)
    check_writable(folder)
    if overwrite and resume:
        raise UsageError("--overwrite_output_dir and --resume_from_checkpoint contradict each other: choose one")
    if folder.resolve() == Path(description["backbone"]).expanduser().resolve():
        raise UsageError(f"--output_dir {folder} is the backbone's folder: choose another --output_dir")
    record = read_record(folder)
    ours = record is not None and record["fingerprint"] in mine
    entries = _run_entries(folder, record)
    if resume:
        if record is not None and not ours and holds_a_run(folder):
            raise UsageError(f"output folder {folder} holds another run (other flags or data): resume into that run's "
                             "own folder, or choose another --output_dir")
        if record is None:  # without the folder's record, only checkpoints whose own record is this run's
            entries = {path.name for path in checkpoints(folder).values() if read_fingerprint(path) in mine}
    elif record is not None and holds_a_run(folder) and not overwrite:
        same = " (the same run: add --resume_from_checkpoint last to continue it)" if ours else ""
        raise UsageError(
            f"output folder {folder} already holds a run's model or checkpoints{same}; pass --overwrite_output_dir "
            "to replace it, --resume_from_checkpoint last to continue it, or choose another --output_dir"
        )
    _refuse_foreign(folder, _names(folder) - entries, run_names(names), "move them, or choose another --output_dir")
    point = None
    if resume:
        point = resume_point(folder, mine, resume)
        if description.get("streaming"):
            refuse_a_wrapped_stream(Path(point))
        if ours or record is None:
            return point, sorted(entries)
    if entries:  # an earlier run's, perhaps stopped before its first checkpoint
        logger.warning("deleting what the previous run wrote in %s (%d files and folders its record names; yours "
                       "stay)", folder, len(entries))
        _delete(folder, entries)
    return point, []


def check_writable(folder: Path) -> None:
    """The output folder (or, before it exists, its nearest existing parent) takes a file: found now, not at the
    first file a run writes (a read-only mount or a folder without write permission)."""
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        with tempfile.TemporaryFile(dir=probe):
            pass
    except OSError as error:
        raise UsageError(f"--output_dir {folder} cannot be written ({error.strerror or error}): choose a writable "
                         "folder") from None


def write_run_files(folder: Path, texts: dict[str, str], owned: Iterable[str]) -> None:
    """Write the run's files (its record, its method's files) into its folder, never over a file of the user's
    (one that ``owned``, the run's names there, does not name)."""
    folder.mkdir(parents=True, exist_ok=True)
    owned = set(owned)
    taken = [name for name in texts if name not in owned and ((folder / name).exists() or (folder / name).is_symlink())]
    _refuse_foreign(folder, taken, texts, "move them, or choose another --output_dir")
    for name, text in texts.items():
        (folder / name).write_text(text)


def claim_final_outputs(folder: Path, description: dict[str, Any], files: Iterable[str],
                        patterns: Iterable[str]) -> None:
    """Before the final save: a file of the user's that appeared in the folder during training with a name the run
    writes (its card, its weights, ...) stops the run, its checkpoints kept, instead of being overwritten."""
    foreign = _names(folder) - set(files) - {path.name for path in checkpoints(folder).values()}
    _refuse_foreign(folder, foreign, patterns, f"move them; {kept_checkpoint(folder, description)}")


def record_run_files(folder: Path, description: dict[str, Any], files: Iterable[str],
                     patterns: Iterable[str]) -> list[str]:
    """Record the run's files in its folder's record: those recorded before that are still there, its checkpoint
    folders, and the names a run writes that are in the folder now (free of the user's since
    ``claim_final_outputs``). Returns them."""
    present = _names(folder)
    own = (set(files) & present) | {path.name for path in checkpoints(folder).values()}
    own |= {name for name in present if is_run_name(name, patterns) and not (folder / name).is_symlink()}
    (folder / RUN_FILE).write_text(run_file_text(description, own))
    return sorted(own | {RUN_FILE})


def kept_checkpoint(folder: Path, description: dict[str, Any], first: str = "") -> str:
    """What a stopped run left to continue from: its newest complete checkpoint and the flag that resumes it
    (``first``: what to do before, e.g. "free space, then ")."""
    mine = accepted_fingerprints(description)
    incomplete = []
    for step, path in reversed(checkpoints(folder).items()):
        if read_fingerprint(path) not in mine:
            continue
        try:
            check_checkpoint(path)
        except UsageError:
            incomplete.append(path.name)
            continue
        flag = f"--resume_from_checkpoint {path}" if incomplete else "--resume_from_checkpoint last"
        skipped = f"; {', '.join(incomplete)} incomplete" if incomplete else ""
        return f"kept {path.name} (step {step}{skipped}): {first}run the same command with {flag} to continue"
    return f"no complete checkpoint was kept: {first}run the same command again"


def disk_full(error: BaseException, folder: Path) -> bool:
    """Whether ``error`` (or what it came from) is a full disk or quota: an OSError's number, safetensors' text
    for it, or torch's failed write while ``folder``'s disk has (almost) no space left."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        text = str(error)
        if "No space left on device" in text or "Disk quota exceeded" in text or "StorageFull" in text:
            return True
        if "file write failed" in text or "unexpected pos" in text:  # torch.save's writer names no cause
            try:
                return shutil.disk_usage(folder).free < 64 * 2**20
            except OSError:
                return False
        error = error.__cause__ or error.__context__
    return False
