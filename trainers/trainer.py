"""``CseTrainer``: the Hugging Face Trainer for unsupervised sentence-embedding objectives.

Public hooks only: ``compute_loss`` (one forward over the 2B two-view batch; the model output hands out its two
views, which are gathered across processes once, with the output fields the loss declares), ``training_step``
(the loss's finiteness, agreed across processes, read once backward is queued), ``prediction_step``
and ``compute_metrics`` (STS-B dev: cosine of each pair, Spearman over the gathered pairs, so the Trainer's own
``evaluate`` logs it, calls the callbacks and picks the best checkpoint), ``log`` (adds the loss terms, reduced
across processes, and the gradient diagnostics of the logged step's batch) and ``save_model`` (adds the method's
checkpoint files, e.g. SARCSE's token counts).

Gradient accumulation averages the loss of micro-batches; it is NOT a larger batch of in-batch negatives (each
micro-batch only contrasts its own sentences). Use more processes or a larger per-device batch for that.
"""

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from transformers import EvalPrediction, Trainer, TrainingArguments

from .diagnostics import gradient_diagnostics
from .distributed import gather_keep_local_grad, refuse_data_parallel
from .guards import FiniteGradients, gather_finiteness, raise_if_not_finite
from .objectives.base import CseObjective
from .sts.evaluator import correlations, geometry
from .sts.tasks import DEV_METRIC

logger = logging.getLogger(__name__)



def sts_metrics(prediction: EvalPrediction) -> dict[str, float]:
    """Spearman and Pearson (x100) of the predicted cosine similarities against the gold scores, and the
    embeddings' alignment and uniformity (``sts.geometry``) when ``prediction_step`` passed them."""
    predicted, embeddings = prediction.predictions, None
    if isinstance(predicted, (tuple, list)):
        predicted, embeddings = predicted
    predicted, gold = np.asarray(predicted, dtype=np.float64), np.asarray(prediction.label_ids, dtype=np.float64)
    spearman, pearson = correlations(gold, predicted)
    metrics = {DEV_METRIC: spearman, "stsb_pearson": pearson}
    if embeddings is not None:
        first, second = np.split(np.asarray(embeddings, dtype=np.float64), 2, axis=1)
        metrics.update({f"stsb_{name}": value for name, value in geometry(first, second, gold).items()})
    return metrics


@dataclass
class CseTrainingArguments(TrainingArguments):
    """``TrainingArguments`` with SimCSE's recipe as defaults (batch 64, lr 3e-5, 1 epoch, STS-B dev every 125
    steps, keep the best checkpoint); ``logging_nan_inf_filter`` off (a non-finite loss stops the run)."""

    output_dir: str | None = field(default="sentcse-output", metadata={"help": "where checkpoints and the model go"})
    per_device_train_batch_size: int = 64
    per_device_eval_batch_size: int = 64
    learning_rate: float = 3e-5
    num_train_epochs: float = 1.0
    eval_strategy: str = "steps"
    eval_steps: float | None = 125
    save_strategy: str = "steps"
    save_steps: float | None = field(default=None, metadata={"help": "default: every evaluation (eval_steps)"})
    save_total_limit: int | None = 2
    load_best_model_at_end: bool = True
    metric_for_best_model: str | None = DEV_METRIC
    greater_is_better: bool | None = True
    logging_steps: float = 10
    # A non-finite loss stops training (NonFiniteLossError), so the Trainer's filter of such losses has nothing to
    # filter; off, it no longer reads every micro-batch's loss on the host (two device syncs per micro-batch).
    logging_nan_inf_filter: bool = False
    dataloader_drop_last: bool = True
    remove_unused_columns: bool = False
    seed: int = 42
    report_to: list[str] | None = field(default=None, metadata={"help": "default: tensorboard"})
    head_learning_rate: float | None = field(default=None, metadata={
        "help": "learning rate of the parameters outside the backbone (the method's head: MLP, TextCNN, decoder, "
        "reshaping); default: --learning_rate"})
    head_warmup_steps: int = field(default=0, metadata={
        "help": "the first N optimizer steps train the head alone (the backbone's weights stay as they are), "
        "then both"})

    def __post_init__(self):
        if self.save_steps is None:  # keep the best checkpoint of each evaluation, whatever eval_steps is
            self.save_steps = self.eval_steps or 500
        if not torch.cuda.is_available():
            self.dataloader_pin_memory = False  # nothing to pin to; avoids a warning per dataloader
        if self.head_learning_rate is not None and not (math.isfinite(self.head_learning_rate)
                                                        and self.head_learning_rate > 0):
            raise ValueError(f"--head_learning_rate must be a finite number > 0, got {self.head_learning_rate}")
        if self.head_warmup_steps < 0 or (0 < self.max_steps <= self.head_warmup_steps):
            raise ValueError(f"--head_warmup_steps must be >= 0 and below --max_steps ({self.max_steps}), got "
                             f"{self.head_warmup_steps}: the backbone would never train")
        if self.report_to is None:
            self.report_to = ["tensorboard"]  # a dependency of sentcse
        super().__post_init__()


class CseTrainer(Trainer):
    """Trainer for sentcse models.

    Args:
        loss: the method's training objective (``Method.build_objective``), as sentence-transformers' trainer
            takes its loss.
        checkpoint_files: file name -> text written beside the weights of every save (``MethodResources``).
        diagnostics: log the gradient components (GD, W, R) of the contrastive term every logging step.

    ``eval_dataset`` holds STS pairs (``sentence1``, ``sentence2``, ``score``; ``trainers.sts.sts_pairs_dataset``),
    scored by ``sts_metrics`` unless another ``compute_metrics`` is passed.
    """

    def __init__(
        self,
        *args,
        loss: CseObjective | None = None,
        checkpoint_files: Mapping[str, str] | None = None,
        diagnostics: bool = True,
        **kwargs,
    ):
        if "objective" in kwargs:
            raise TypeError("CseTrainer takes the training objective as loss=..., not objective=...")
        if loss is None:
            raise TypeError("CseTrainer needs loss=...: the method's objective (Method.build_objective)")
        if kwargs.get("eval_dataset") is not None and kwargs.get("compute_metrics") is None:
            kwargs["compute_metrics"] = sts_metrics
        training_args = kwargs.get("args", args[1] if len(args) > 1 else None)
        if training_args is not None:
            refuse_data_parallel(training_args)  # before the Trainer moves the model or builds its accelerator
        super().__init__(*args, **kwargs)
        refuse_data_parallel(self.args)  # also the Trainer's default arguments
        # compute_loss returns a per-micro-batch mean: let the Trainer average over accumulation steps.
        self.model_accepts_loss_kwargs = False
        self.loss = loss.to(self.args.device)
        self.checkpoint_files = dict(checkpoint_files or {})
        self.diagnostics = diagnostics
        self._term_sums: dict[str, torch.Tensor] = {}
        self._term_steps = 0
        self._diagnostics_logs: dict[str, float] = {}
        self._diagnostics_step = -1
        # inside training_step, compute_loss leaves its finiteness check here to be read after backward
        self._in_training_step = False
        self._pending_check: tuple | None = None
        self.add_callback(FiniteGradients(self))

    # ------------------------------------------------------------------ training
    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        output = model(**inputs)
        anchor, positive = (gather_keep_local_grad(view) for view in output.views())
        gathered = {
            name: tuple(gather_keep_local_grad(view) for view in output.views(name))
            for name in self.loss.gathered_outputs
        }
        terms = self.loss(anchor, positive, output, gathered)
        loss = torch.stack([value.float() for value in terms.values()]).sum()
        check = gather_finiteness(self.accelerator, terms, loss)
        if self._in_training_step and not (model.training and self._diagnostics_due()):
            self._pending_check = check  # read in training_step, once backward is queued
        else:  # now: the diagnostics (or a direct caller) read this step's values
            raise_if_not_finite(*check, self.state.global_step, self.args.output_dir)
        if model.training:
            self._record_terms(terms, anchor, positive)
        return (loss, output) if return_outputs else loss

    def train(self, *args, **kwargs):
        """``Trainer.train``, the model handed back with its own forward: accelerate's mixed-precision wrapper
        (autocast inside ``forward``) ends with training, so later evaluation and ``encode`` run as the weights are
        (and ``encode(dtype=...)`` in the dtype asked)."""
        try:
            return super().train(*args, **kwargs)
        finally:
            self.accelerator.unwrap_model(self.model, keep_fp32_wrapper=False)

    def training_step(self, model, inputs, *args, **kwargs):
        """``Trainer.training_step`` (forward, backward), then the loss's finiteness check, agreed across processes.

        The check is read after backward has been queued: on a GPU, reading it in compute_loss would leave the
        device idle between forward and backward while the host waits, whereas here the device is busy with the
        backward pass while the host waits for the flag. Every process runs the same backward (no collective is
        left unmatched), and a non-finite loss raises before the optimizer step and any checkpoint."""
        self._in_training_step, self._pending_check = True, None
        try:
            loss = super().training_step(model, inputs, *args, **kwargs)
        finally:
            self._in_training_step = False
        check, self._pending_check = self._pending_check, None
        if check is not None:
            raise_if_not_finite(*check, self.state.global_step, self.args.output_dir)
        if self.state.global_step < self.args.head_warmup_steps:
            # before clipping and the optimizer: a parameter without a gradient is not stepped (no Adam moments, no
            # weight decay), so the backbone stays exactly as it is and starts its own moments after the warm-up
            for parameter in self._backbone_parameters():
                parameter.grad = None
        return loss

    def _backbone_parameters(self) -> list[torch.nn.Parameter]:
        model = self.accelerator.unwrap_model(self.model)
        return list(getattr(model, model.base_model_prefix).parameters())

    def create_optimizer(self, model=None):
        """The Trainer's optimizer; with ``head_learning_rate`` (parameters outside the backbone) its weight-decay
        groups are split into backbone and head, the head's at that rate (the scheduler scales both alike)."""
        opt_model = self.model if model is None else model
        rate = self.args.head_learning_rate
        if self.optimizer is None and rate is not None and rate != self.args.learning_rate:
            decay = set(self.get_decay_parameter_names(opt_model))
            backbone = {id(parameter) for parameter in self._backbone_parameters()}
            groups = []
            for in_backbone in (True, False):
                for decays in (True, False):
                    params = [p for name, p in opt_model.named_parameters()
                              if p.requires_grad and (name in decay) == decays and (id(p) in backbone) == in_backbone]
                    groups.append({"params": params, "weight_decay": self.args.weight_decay if decays else 0.0,
                                   **({} if in_backbone else {"lr": rate})})
            optimizer_cls, kwargs = (self.optimizer_cls_and_kwargs
                                     or self.get_optimizer_cls_and_kwargs(self.args, opt_model))
            if {"params", "model", "optimizer_dict"} & set(kwargs):
                raise ValueError(f"--head_learning_rate needs an optimizer over parameter groups; --optim "
                                 f"{self.args.optim} builds its own: drop one of them")
            self.optimizer = optimizer_cls(groups, **kwargs)
        return super().create_optimizer(model)

    def _record_terms(self, terms, anchor, positive) -> None:
        # weighted as the Trainer's ``loss``: each optimizer step is the mean of its micro-batches (an epoch's short
        # last step has fewer), and the window the mean of its steps
        weight = 1.0 / max(1, int(getattr(self, "current_gradient_accumulation_steps", 1) or 1))
        for name, value in terms.items():
            value = value.detach().float() * weight
            self._term_sums[name] = self._term_sums[name] + value if name in self._term_sums else value
        self._term_steps += weight
        if self._diagnostics_due():
            contrastive = getattr(self.loss, "contrastive", self.loss)
            self._diagnostics_logs = gradient_diagnostics(contrastive, anchor.detach(), positive.detach())
            self._diagnostics_step = self.state.global_step + 1

    def _diagnostics_due(self) -> bool:
        """Whether this micro-batch computes the gradient diagnostics: the first micro-batch of a logged step."""
        # the step being computed is global_step + 1; the Trainer logs it when that is a multiple of logging_steps
        step = self.state.global_step + 1
        logged = self.args.logging_strategy == "steps" and (
            step % max(1, int(self.state.logging_steps or 1)) == 0 or (self.args.logging_first_step and step == 1))
        return self.diagnostics and logged and self._diagnostics_step != step

    def log(self, logs: dict[str, float], *args, **kwargs) -> None:
        if "loss" in logs and self._term_steps:
            names = sorted(self._term_sums)
            means = torch.stack([self._term_sums[name] for name in names]) / self._term_steps
            means = self.accelerator.reduce(means, reduction="mean")  # every rank logs; one transfer
            logs.update({f"loss/{name}": value for name, value in zip(names, means.tolist())})
            logs.update(self._diagnostics_logs)
            self._term_sums, self._term_steps, self._diagnostics_logs = {}, 0, {}
        super().log(logs, *args, **kwargs)

    # ------------------------------------------------------------------ evaluation
    def get_eval_dataloader(self, eval_dataset=None):
        """The evaluation pairs, every one of them: ``dataloader_drop_last`` applies to training batches only."""
        drop_last, self.args.dataloader_drop_last = self.args.dataloader_drop_last, False
        try:
            return super().get_eval_dataloader(eval_dataset)
        finally:
            self.args.dataloader_drop_last = drop_last

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        """STS pairs (collated as rows ``[sentences1; sentences2]`` with ``labels``): the cosine of each pair, and
        the pair's two embeddings side by side ``(B, 2d)`` for alignment and uniformity."""
        labels = inputs.pop("labels")
        with torch.no_grad():
            first, second = model(**inputs).views("sentence_embedding")
            similarity = torch.nn.functional.cosine_similarity(first.float(), second.float(), dim=-1)
        return None, (similarity, torch.cat([first.float(), second.float()], dim=-1)), labels

    # ------------------------------------------------------------------ saving
    def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
        super().save_model(output_dir, _internal_call)
        if self.args.should_save:
            folder = Path(output_dir or self.args.output_dir)
            for name, text in self.checkpoint_files.items():
                (folder / name).write_text(text)
