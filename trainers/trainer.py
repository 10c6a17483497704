"""``CseTrainer``: the Hugging Face Trainer for unsupervised sentence-embedding objectives.

Public hooks only: ``compute_loss`` (one forward over the 2B two-view batch, cross-process gathering, the
objective's named terms), ``evaluate`` (STS-B dev Spearman for ``metric_for_best_model``), ``log`` (adds the loss
terms and gradient diagnostics) and ``save_model`` (adds the token-count table beside the weights).

Gradient accumulation averages the loss of micro-batches; it is NOT a larger batch of in-batch negatives (each
micro-batch only contrasts its own sentences). Use more processes or a larger per-device batch for that.
"""

import logging
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import torch
import torch.distributed as dist
from transformers import Trainer, TrainingArguments

from .diagnostics import gradient_diagnostics
from .objectives.base import CseObjective
from .sts import DEV_TASK
from .token_frequency import save_token_counts

logger = logging.getLogger(__name__)

DEV_METRIC = "stsb_spearman"


class NonFiniteLossError(FloatingPointError):
    """Raised when a training loss is NaN or infinite."""


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


def gather_views(embeddings: torch.Tensor):
    """Split stacked ``(2b, d)`` rows into the two views and gather each across processes."""
    view1, view2 = embeddings.chunk(2)
    return gather_keep_local_grad(view1), gather_keep_local_grad(view2)


@dataclass
class CseTrainingArguments(TrainingArguments):
    """``TrainingArguments`` with SimCSE's recipe as defaults (batch 64, lr 3e-5, 1 epoch, STS-B dev every 125
    steps, keep the best checkpoint)."""

    output_dir: Optional[str] = field(default="sentcse-output", metadata={"help": "where checkpoints and the model go"})
    per_device_train_batch_size: int = 64
    learning_rate: float = 3e-5
    num_train_epochs: float = 1.0
    eval_strategy: str = "steps"
    eval_steps: Optional[float] = 125
    save_strategy: str = "steps"
    save_steps: float = 125
    save_total_limit: Optional[int] = 2
    load_best_model_at_end: bool = True
    metric_for_best_model: Optional[str] = DEV_METRIC
    greater_is_better: Optional[bool] = True
    logging_steps: float = 10
    dataloader_drop_last: bool = True
    remove_unused_columns: bool = False
    seed: int = 42
    report_to: Optional[List[str]] = field(default=None, metadata={"help": "default: tensorboard when installed"})

    def __post_init__(self):
        if not torch.cuda.is_available():
            self.dataloader_pin_memory = False  # nothing to pin to; avoids a warning per dataloader
        if self.report_to is None:
            try:
                import tensorboard  # noqa: F401

                self.report_to = ["tensorboard"]
            except ImportError:
                self.report_to = "none"
        super().__post_init__()


class CseTrainer(Trainer):
    """Trainer for sentcse models.

    Args:
        objective: the method's objective (``trainers.objectives.method.build_method_objective``).
        dev_evaluator: an ``StsEvaluator`` with STS-B dev; ``evaluate`` reports ``eval_stsb_spearman``.
        token_counts: SARCSE's corpus token counts, saved beside every checkpoint.
        diagnostics: log the gradient components (GD, W, R) of the contrastive term every logging step.
    """

    def __init__(
        self,
        *args,
        objective: CseObjective,
        dev_evaluator=None,
        token_counts: Optional[Dict[int, int]] = None,
        token_counts_fingerprint: str = "",
        diagnostics: bool = True,
        **kwargs,
    ):
        if dev_evaluator is not None and kwargs.get("eval_dataset") is None:
            kwargs["eval_dataset"] = dev_evaluator.load()[DEV_TASK]  # the pairs evaluate() scores
        super().__init__(*args, **kwargs)
        # compute_loss returns a per-micro-batch mean: let the Trainer average over accumulation steps.
        self.model_accepts_loss_kwargs = False
        self.objective = objective.to(self.args.device)
        self.dev_evaluator = dev_evaluator
        self.token_counts = token_counts
        self.token_counts_fingerprint = token_counts_fingerprint
        self.diagnostics = diagnostics
        self._term_sums: Dict[str, float] = {}
        self._term_steps = 0
        self._diagnostics_logs: Dict[str, float] = {}

    # ------------------------------------------------------------------ training
    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        output = model(**inputs)
        anchor, positive = gather_views(output.projection)
        if getattr(output, "reshaped", None) is not None:
            output["reshaped"] = torch.cat(gather_views(output.reshaped))
        terms = self.objective(anchor, positive, output)
        loss = torch.stack([value.float() for value in terms.values()]).sum()
        if not torch.isfinite(loss):
            values = {name: float(value.detach()) for name, value in terms.items()}
            raise NonFiniteLossError(
                f"non-finite loss at step {self.state.global_step}: {values}. Training stopped; the last good "
                f"checkpoint is kept in {self.args.output_dir} (resume with --resume_from_checkpoint). Lower "
                "--learning_rate, use fp32/bf16 instead of fp16, or check the corpus for degenerate lines."
            )
        if model.training:
            self._record_terms(terms, anchor, positive)
        return (loss, output) if return_outputs else loss

    def _record_terms(self, terms, anchor, positive) -> None:
        for name, value in terms.items():
            self._term_sums[name] = self._term_sums.get(name, 0.0) + float(value.detach())
        self._term_steps += 1
        logging_steps = max(1, int(self.args.logging_steps))
        if self.diagnostics and not self._diagnostics_logs and self.state.global_step % logging_steps == 0:
            contrastive = getattr(self.objective, "contrastive", self.objective)
            self._diagnostics_logs = gradient_diagnostics(contrastive, anchor.detach(), positive.detach())

    def log(self, logs: Dict[str, float], *args, **kwargs) -> None:
        if "loss" in logs and self._term_steps:
            logs.update({f"loss/{name}": total / self._term_steps for name, total in self._term_sums.items()})
            logs.update(self._diagnostics_logs)
            self._term_sums, self._term_steps, self._diagnostics_logs = {}, 0, {}
        super().log(logs, *args, **kwargs)

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval") -> Dict[str, float]:
        if self.dev_evaluator is None:
            return super().evaluate(eval_dataset, ignore_keys, metric_key_prefix)
        model = self.accelerator.unwrap_model(self.model)
        result = self.dev_evaluator.evaluate_task(model, DEV_TASK)
        metrics = {f"{metric_key_prefix}_{DEV_METRIC}": result.spearman, f"{metric_key_prefix}_stsb_pearson": result.pearson}
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        return metrics

    # ------------------------------------------------------------------ saving
    def save_model(self, output_dir: Optional[str] = None, _internal_call: bool = False) -> None:
        super().save_model(output_dir, _internal_call)
        if self.token_counts is not None and self.args.should_save:
            save_token_counts(self.token_counts, output_dir or self.args.output_dir, self.token_counts_fingerprint)
