"""What the command-line tests share (the tiny backbone and corpus fixtures are in conftest.py): the flags of a short
run, the one error line a refused run prints, and a callback slipped into the CLI's trainer (to act during a run)."""

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

import pytest

from sentcse.trainers.cli.train import main

REPO = Path(__file__).resolve().parents[1]
STSB = REPO / "examples" / "data" / "stsb"
SENTENCES = [f"the {a} {b} sat on the mat" for a in "big small red blue".split() for b in "cat dog".split()]


@functools.cache
def dev_dir() -> Path:
    """A folder whose sts-dev.csv holds every tenth pair of the bundled STS-B dev (150 of 1,500, from every genre):
    the dev pairs of the short runs. Each run scores them after training, where all of dev took 0.8 s of a tiny
    run's 1.4 s; a tiny random model's score means nothing, and a test about the dev pairs themselves passes
    ``--dev_dir STSB``. Written once per process, removed at its exit."""
    folder = Path(tempfile.mkdtemp(prefix="sentcse-test-dev-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    lines = (STSB / "sts-dev.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    (folder / "sts-dev.csv").write_text("".join(lines[::10]), encoding="utf-8")
    return folder


def flags(backbone, corpus, out, *extra):
    return [
        "--method", "simcse", "--backbone", str(backbone), "--train_file", str(corpus), "--dev_dir", str(dev_dir()),
        "--output_dir", str(out), "--per_device_train_batch_size", "4", "--max_steps", "4", "--save_steps", "2",
        "--eval_strategy", "no", "--load_best_model_at_end", "false", "--report_to", "none", "--skip_raw_eval",
        "--max_length", "16", "--disable_tqdm", "true", "--save_total_limit", "1", *extra,
    ]


def user_error(capsys, argv, entry=main, program: str = "sentcse-train", absent=()) -> str:
    """The one error line of a command (``entry``, sentcse-train's by default) that must stop with status 2 (log
    lines may come before it; no traceback, nor any text of ``absent``)."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as stopped:
        entry(argv)
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith(f"{program}: error: ")]
    assert len(errors) == 1 and "Traceback" not in err, err[-2000:]
    assert not [text for text in absent if text in err], err[-2000:]
    return errors[0]


def during_training(monkeypatch, step: int, action) -> None:
    """Every later ``main`` calls ``action()`` at the end of optimizer step ``step``: the user acting while the run
    trains (a callback slipped into the CLI's trainer)."""
    from sentcse.trainers.cli import train

    monkeypatch.setattr(train, "build_trainer", acting_at(train.build_trainer, step, action))


def acting_at(build_trainer, step: int, action):
    """``build_trainer`` with a callback that calls ``action()`` at the end of optimizer step ``step``."""
    from transformers import TrainerCallback

    class At(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == step:
                action()

    def build(*args, callbacks=(), **kwargs):
        return build_trainer(*args, callbacks=[*callbacks, At()], **kwargs)

    return build
