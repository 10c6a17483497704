"""Step timing shared by the benchmarks: one ``TrainerCallback`` for the steps of a real ``trainer.train()``, and a
clock for the phases of one step run by hand (``bench.steps.trainer_step``).

``StepTimer`` reads the wall time of every optimizer step from ``on_step_begin`` to ``on_step_end``: in the
Trainer's loop the batch is already fetched and collated when the step begins, and logging, evaluation and
checkpoints run after it ends, so the time covers exactly forward + objective + backward, gradient clipping, the
optimizer and scheduler steps and ``zero_grad`` (collation, evaluation and saving excluded). Pass it to
``sentcse.trainers.cli.train.run(argv, callbacks=[timer])`` or ``trainer.add_callback(timer)``; on CUDA both ends
synchronise the device, so the time is the step's and not its launch's.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

from transformers import TrainerCallback


def synchronize() -> None:
    """Wait for the CUDA device's queued work (nothing on CPU)."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


class StepTimer(TrainerCallback):
    """Collects the wall time (seconds) of every optimizer step of ``trainer.train()`` in ``times`` (a list given
    or a new one), in step order."""

    def __init__(self, times: list | None = None):
        self.times = [] if times is None else times
        self._start = None

    def on_step_begin(self, args, state, control, **kwargs):
        synchronize()
        self._start = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        synchronize()
        self.times.append(time.perf_counter() - self._start)


class PhaseClock:
    """A ``phase`` for ``bench.steps.trainer_step``: ``seconds`` holds the wall time of each named phase of the last
    step (CUDA synchronised at both ends of each phase)."""

    def __init__(self):
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        synchronize()
        start = time.perf_counter()
        try:
            yield
        finally:
            synchronize()
            self.seconds[name] = time.perf_counter() - start
