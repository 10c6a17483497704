"""Stopping a run whose loss or gradient is no longer finite, before the weights or a checkpoint take it in: the
same error on every process (the check agrees across processes, so none is left waiting in a collective), saying
what is on disk."""

import math
from collections.abc import Mapping
from pathlib import Path

import torch
from transformers import TrainerCallback
from transformers.trainer_utils import get_last_checkpoint

# fp16's GradScaler skips a step whose gradient overflowed and halves its scale: routine at first, but this many
# skips in a row (the scale 2^20 times below where it started) is a gradient that is non-finite at any scale
MAX_SKIPPED_STEPS = 20


class NonFiniteLossError(FloatingPointError):
    """Raised when a training loss or gradient is NaN or infinite: on every process of a multi-process run, with the
    same message."""


def on_disk(output_dir: str) -> str:
    """What an interrupted run leaves on disk, said as it is."""
    last = get_last_checkpoint(output_dir) if Path(output_dir).is_dir() else None
    if last is None:
        return f"no checkpoint was written to {output_dir} yet"
    return f"the last checkpoint on disk is {last} (resume with --resume_from_checkpoint last)"


def gather_finiteness(
    accelerator, terms: Mapping[str, torch.Tensor], loss: torch.Tensor
) -> tuple[list[str], torch.Tensor]:
    """(term names, every process's term values and loss): one ``(world, terms + 1)`` all-gather, on the device,
    without a host transfer. The contrastive terms see gathered embeddings, but local terms (SARCSE's
    reconstruction) and the loss itself can differ by process: all must agree on whether to stop."""
    names = list(terms)
    values = torch.stack([value.detach().float().reshape(()) for value in terms.values()] + [loss.detach()])
    return names, accelerator.gather(values.unsqueeze(0))


def raise_if_not_finite(names: list[str], table: torch.Tensor, step: int, output_dir: str) -> None:
    """Raise the same NonFiniteLossError on every process when any process's loss is NaN or infinite (one host
    transfer of a boolean)."""
    if bool(torch.isfinite(table).all()):
        return
    rows = table.tolist()
    bad = [rank for rank, row in enumerate(rows) if not all(math.isfinite(value) for value in row)]
    values = {name: value for name, value in zip(names, rows[bad[0]])}
    world = len(rows)
    where = stopped = ""
    if world > 1:
        where = f" on process{'es' if len(bad) > 1 else ''} {', '.join(map(str, bad))} of {world}"
        stopped = " on every process"
    raise NonFiniteLossError(
        f"non-finite loss at step {step}{where}: {values}. Training stopped{stopped}; {on_disk(output_dir)}. Lower "
        "--learning_rate, use fp32/bf16 instead of fp16, or check the corpus for degenerate lines."
    )


class FiniteGradients(TrainerCallback):
    """Before each optimizer step: a finite loss can still give a non-finite gradient (an inf in a backward
    formula), and the step (or clipping, which scales by the norm) would put it into the weights and the next
    checkpoint. One host read of a flag per optimizer step; the gradients are the same on every process. Under a
    GradScaler (fp16) the scaler skips such a step itself: only ``MAX_SKIPPED_STEPS`` in a row stop the run."""

    def __init__(self, trainer):
        self.trainer = trainer
        self.skipped = 0

    def on_pre_optimizer_step(self, args, state, control, **kwargs):
        grads = [p.grad for p in self.trainer.model.parameters() if p.grad is not None]
        if not grads or bool(torch.isfinite(torch.stack(torch._foreach_norm(grads))).all()):
            self.skipped = 0
            return
        step = state.global_step + 1
        if getattr(self.trainer.accelerator, "scaler", None) is not None:
            self.skipped += 1
            if self.skipped < MAX_SKIPPED_STEPS:
                return
            raise NonFiniteLossError(
                f"non-finite gradient at {self.skipped} steps in a row (steps {step - self.skipped + 1}-{step}), "
                f"skipped by the fp16 GradScaler each time; training stopped; {on_disk(args.output_dir)}. Lower "
                "--learning_rate, or use bf16/fp32 instead of fp16.")
        raise NonFiniteLossError(
            f"non-finite gradient at step {step} (the loss was finite); the weights were not updated. Training "
            f"stopped; {on_disk(args.output_dir)}. Lower --learning_rate, or use bf16/fp32 instead of fp16.")


__all__ = ["FiniteGradients", "MAX_SKIPPED_STEPS", "NonFiniteLossError", "gather_finiteness", "on_disk",
           "raise_if_not_finite"]
