"""A run's checkpoints: which exist, which this run may resume from, and whether one is whole (a run killed
mid-save leaves it cut short) and resumable exactly."""

import json
import logging
import math
import re
import zipfile
from pathlib import Path

from ..cards.files import RUN_FILE, TRAINER_STATE_FILE
from ..errors import error_line
from .arguments import UsageError

logger = logging.getLogger("sentcse.train")

CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def read_fingerprint(folder: Path) -> str | None:
    path = folder / RUN_FILE
    try:
        return None if path.is_symlink() else json.loads(path.read_text()).get("fingerprint")
    except (OSError, ValueError, AttributeError):
        return None


def checkpoints(folder: Path) -> dict[int, Path]:
    """The checkpoint-N folders in ``folder`` by step (a link of that name is no checkpoint a run wrote)."""
    found = {}
    if folder.is_dir():
        for path in folder.iterdir():
            match = CHECKPOINT.match(path.name)
            if match and path.is_dir() and not path.is_symlink():
                found[int(match.group(1))] = path
    return dict(sorted(found.items()))


def resume_point(folder: Path, mine: set, resume: str) -> str:
    if resume.lower() in ("last", "true"):
        if not folder.is_dir():
            raise UsageError(f"--resume_from_checkpoint {resume}: output folder {folder} does not exist; check "
                             "--output_dir (the folder of the run to continue)")
        own = {step: path for step, path in checkpoints(folder).items() if read_fingerprint(path) in mine}
        if not own:
            others = len(checkpoints(folder))
            why = f" ({others} checkpoint(s) there belong to another run: other flags or data)" if others else ""
            raise UsageError(f"--resume_from_checkpoint {resume}: no checkpoint of this run in {folder}{why}; run "
                             "with the same flags as the interrupted run, or without --resume_from_checkpoint")
        step, path = next(reversed(own.items()))
    else:
        path = Path(resume)
        if not path.is_dir():
            raise UsageError(f"--resume_from_checkpoint {resume}: no checkpoint folder there")
        if read_fingerprint(path) not in (*mine, None):
            raise UsageError(f"--resume_from_checkpoint {resume}: that checkpoint belongs to another run (other "
                             "flags or data); resume it with its own flags")
        match = CHECKPOINT.match(path.name)
        step = int(match.group(1)) if match else None
    check_checkpoint(path)
    check_resumable(path)
    logger.info("resuming from %s (step %s)", path, step)
    return str(path)


def refuse_a_wrapped_stream(checkpoint: Path) -> None:
    """A streamed corpus of unknown length resumes by skipping the checkpoint's number of batches of its FIRST
    pass: exact until the stream first wrapped, not after. The Trainer counts a stream of unknown length as one
    epoch of max_steps steps, so its last checkpoint is at epoch 1.0 exactly; a wrapped stream passed 1."""
    try:
        epoch = float(json.loads((checkpoint / TRAINER_STATE_FILE).read_text()).get("epoch") or 0)
    except (OSError, ValueError):
        return
    if epoch > 1:
        raise UsageError(f"--resume_from_checkpoint: {checkpoint.name} of this streamed run was written after the "
                         f"stream passed the end of its corpus (epoch {epoch:.2f}); a resumed stream would replay "
                         "its first pass instead: start the run again, or train without --streaming (exact resume)")


def weights_problem(folder: Path) -> str | None:
    """What is wrong with the weights saved in ``folder``, naming the file (None: nothing found): a safetensors
    file whose header or tensor extents do not fit it, a PyTorch archive without its end (a save or copy cut
    short)."""
    from safetensors import safe_open

    for file in sorted(folder.glob("*.safetensors")):
        try:
            with safe_open(str(file), framework="pt") as handle:
                for key in handle.keys():
                    handle.get_slice(key)
        except Exception as error:  # safetensors raises its own error type for a truncated file
            return f"{file.name}: {error_line(error)}"
    for file in sorted(folder.glob("pytorch_model*.bin")):
        with open(file, "rb") as handle:
            legacy = handle.read(1) == b"\x80"  # torch's format before zip archives: a pickle
        if not (legacy or zipfile.is_zipfile(file)):
            return f"{file.name}: not a complete PyTorch archive"
    return None


def checkpoint_step(path: Path) -> int:
    """The optimizer steps a checkpoint holds (its trainer_state.json's global_step)."""
    try:
        return int(json.loads((path / TRAINER_STATE_FILE).read_text()).get("global_step") or 0)
    except (OSError, ValueError, TypeError, AttributeError):
        return 0


def check_checkpoint(path: Path) -> None:
    """Fail with one line, naming the file, when a checkpoint is incomplete or corrupt (a run killed mid-save)."""
    problem = None
    state = path / TRAINER_STATE_FILE
    try:
        json.loads(state.read_text())
    except (OSError, ValueError) as error:
        problem = f"{state.name}: {error.__class__.__name__}"
    if problem is None and not any(path.glob("*.safetensors")):
        problem = "no model.safetensors"
    problem = problem or weights_problem(path)
    if problem is None:
        return
    earlier = [p for step, p in checkpoints(path.parent).items() if p != path and step < _step(path)]
    hint = f"resume from the previous one: --resume_from_checkpoint {earlier[-1]}" if earlier else "start the run again"
    raise UsageError(f"checkpoint {path} is incomplete or corrupt ({problem}); {hint}")


def check_resumable(path: Path) -> None:
    """A checkpoint continues its run exactly only with the optimizer's and the random generators' states, which
    --save_only_model leaves out."""
    states = {"optimizer": ("optimizer*", "global_step*"), "random generator": ("rng_state*.pth",)}
    missing = [what for what, patterns in states.items() if not any(any(path.glob(p)) for p in patterns)]
    if missing:
        raise UsageError(f"checkpoint {path} holds no {' or '.join(missing)} state (saved with --save_only_model): it "
                         "cannot continue the run as it would have gone; start the run again (without "
                         "--save_only_model, checkpoints resume)")


def _step(path: Path) -> int:
    match = CHECKPOINT.match(path.name)
    return int(match.group(1)) if match else math.inf
