"""What a multi-process run needs beyond the Trainer: the refusal of ``nn.DataParallel`` and the gather that lets N
processes at batch b train exactly like one process at batch N*b."""

import torch
import torch.distributed as dist
from transformers import TrainingArguments
from transformers.training_args import ParallelMode


def refuse_data_parallel(args: TrainingArguments) -> None:
    """A ValueError (one line) when ``args`` would make the Trainer wrap the model in ``nn.DataParallel``: one
    process that sees several GPUs, not launched distributed (a plain ``python examples/train.py``)."""
    gpus = args.n_gpu
    if gpus > 1 and args.parallel_mode != ParallelMode.DISTRIBUTED:
        raise ValueError(
            f"this single process sees {gpus} GPUs, so the Trainer would split each batch with nn.DataParallel, "
            "which sentcse does not support (SARCSE's per-GPU outputs of different lengths cannot be merged, and "
            "in-batch negatives would not be shared): run one process per GPU with `accelerate launch --multi_gpu "
            f"--num_processes {gpus} examples/train.py ...`, or one GPU with CUDA_VISIBLE_DEVICES=0"
        )


class _ScaleGradient(torch.autograd.Function):
    """Identity forward; multiplies the gradient by ``scale`` (undoes DDP's averaging of a global loss)."""

    @staticmethod
    def forward(ctx, tensor, scale):
        ctx.scale = scale
        return tensor.view_as(tensor)

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.scale, None


def gather_keep_local_grad(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate ``tensor`` from every process in rank order; only the local shard carries gradient.

    Every process then computes the same global loss; DDP averages the N shard gradients, so the local shard's
    gradient is scaled by N to make N processes with batch b equal one process with batch N*b.
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return tensor
    world, rank = dist.get_world_size(), dist.get_rank()
    parts = [torch.empty_like(tensor) for _ in range(world)]
    dist.all_gather(parts, tensor.detach().contiguous())
    parts[rank] = _ScaleGradient.apply(tensor, float(world))
    return torch.cat(parts)


__all__ = ["gather_keep_local_grad", "refuse_data_parallel"]
