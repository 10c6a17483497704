"""Real trainers for the benchmarks, and ONE training step run through them by hand, as the Trainer's loop runs it.

Two ways to time a step:

- ``trainer.train()`` with ``bench.timing.StepTimer``: the Trainer's own loop, one trainer at a time. Build the
  trainer with ``train_steps=N`` (``sentcse_trainer`` / ``st_trainer``) and add the timer as a callback.
- ``trainer_step`` (this module), for what ``train()`` cannot give: variants interleaved step by step on the same
  batch in one process (the speed protocol of ``bench.common``), several configurations alternating on one
  model, or the phases inside a step. It is the per-step body of ``transformers.Trainer._inner_training_loop``
  without the callbacks and logging: ``trainer.training_step`` (the collated batch -> ``compute_loss`` ->
  backward), gradient clipping at ``max_grad_norm``, ``optimizer.step()``, ``lr_scheduler.step()``,
  ``model.zero_grad()``. Given a ``phase`` (a context-manager factory: ``bench.timing.PhaseClock`` or a
  torch.profiler ``record_function``), it marks the parts in ``PHASES``.

Both work for sentcse's ``CseTrainer`` and for sentence-transformers' ``SentenceTransformerTrainer`` alike, so both
frameworks are timed through their own trainer code with the same optimizer (the Trainer's default AdamW) and the
same arguments. Collation is outside the step either way.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Sequence

import torch

COMMON_ARGS = dict(
    per_device_train_batch_size=64,
    learning_rate=3e-5,
    max_steps=10_000,
    eval_strategy="no",
    save_strategy="no",
    load_best_model_at_end=False,
    logging_strategy="no",
    report_to="none",
    use_cpu=not torch.cuda.is_available(),
    dataloader_drop_last=True,
    seed=42,
    disable_tqdm=True,
)

# The parts of a step ``trainer_step`` marks: "training_step" holds "forward+objective" (``compute_loss``) and the
# backward pass; ``split_backward`` turns the two into "backward".
PHASES = ("forward+objective", "backward", "clip", "optimizer", "scheduler+zero_grad")
Phase = Callable[[str], contextlib.AbstractContextManager]


def _prepare(trainer) -> None:
    """What ``train()`` sets up before its first step: optimizer, scheduler, accumulation count."""
    if trainer.args.bf16 or trainer.args.fp16 or trainer.args.torch_compile:
        # Mixed precision or --torch_compile: train() lets accelerate wrap the model's forward in autocast and
        # compile the model; do the same.
        trainer.model_wrapped = trainer.accelerator.prepare_model(trainer.model)
    trainer.create_optimizer_and_scheduler(num_training_steps=trainer.args.max_steps)
    trainer.current_gradient_accumulation_steps = 1
    trainer.model.train()


@contextlib.contextmanager
def _forward_marked(trainer, phase: Phase):
    """``trainer.compute_loss`` inside ``phase("forward+objective")`` for the duration of one step (this trainer
    object only; its class is untouched)."""
    own = vars(trainer).get("compute_loss")  # an instance attribute already there, kept
    compute_loss = trainer.compute_loss

    def marked(*args, **kwargs):
        with phase("forward+objective"):
            return compute_loss(*args, **kwargs)

    trainer.compute_loss = marked
    try:
        yield
    finally:
        if own is None:
            del trainer.compute_loss  # the class's method again
        else:
            trainer.compute_loss = own


def trainer_step(trainer, inputs: dict[str, torch.Tensor], phase: Phase | None = None) -> torch.Tensor:
    """One optimizer step of ``trainer`` on an already collated batch (see the module docstring); ``phase(name)``
    is entered around each part: "training_step" (with "forward+objective" inside it), "clip", "optimizer",
    "scheduler+zero_grad"."""
    model = trainer.model_wrapped
    marks = phase or (lambda name: contextlib.nullcontext())
    forward = _forward_marked(trainer, phase) if phase else contextlib.nullcontext()
    with marks("training_step"), forward:
        loss = trainer.training_step(model, inputs)
    with marks("clip"):
        if trainer.args.max_grad_norm and trainer.args.max_grad_norm > 0:
            trainer._clip_grad_norm(model)
    with marks("optimizer"):
        trainer.optimizer.step()
    with marks("scheduler+zero_grad"):
        trainer.lr_scheduler.step()
        model.zero_grad()
    trainer.state.global_step += 1
    return loss


def split_backward(seconds: dict[str, float]) -> dict[str, float]:
    """The ``PHASES`` of one step from the marked times (``training_step`` minus ``forward+objective`` is the
    backward pass)."""
    out = dict(seconds)
    out["backward"] = out.pop("training_step") - out["forward+objective"]
    return {name: out[name] for name in PHASES}


def profiled_phases(averages, steps: int) -> dict[str, float]:
    """ms per step of each of ``PHASES`` from torch.profiler's ``key_averages()`` of ``steps`` steps run with
    ``phase=lambda name: record_function(f"phase:{name}")``."""
    marked = {e.key.split(":", 1)[1]: e.cpu_time_total / steps / 1e3 for e in averages if e.key.startswith("phase:")}
    return split_backward(marked)


class TokenCounts:
    """A collator that records, for every batch it builds, the real-token count of each row (every attention mask:
    sentcse's two stacked views, or sentence-transformers' anchor and positive). Set it as a trainer's
    ``data_collator`` before ``train()``; with the DataLoader in the main process (no workers) its ``lengths`` are
    in step order."""

    def __init__(self, collator):
        self.collator, self.lengths = collator, []

    def __getattr__(self, name):  # the wrapped collator's attributes (sentence-transformers reads some)
        if name == "collator":
            raise AttributeError(name)
        return getattr(self.collator, name)

    def __call__(self, features):
        batch = self.collator(features)
        self.lengths.append([int(n) for key, value in batch.items() if key.endswith("attention_mask")
                             for n in value.sum(1)])
        return batch


# ------------------------------------------------------------------------------------------------------ sentcse
def _arguments(batch_size: int, train_steps: int | None, **more) -> dict:
    """The Trainer arguments every benchmark trainer shares; ``train_steps``: the ``max_steps`` of a
    ``trainer.train()`` (None: the trainer is stepped by hand)."""
    return {**COMMON_ARGS, "per_device_train_batch_size": batch_size, **more,
            **({"max_steps": train_steps} if train_steps else {})}


def sentcse_trainer(
    backbone: str,
    method: str = "simcse",
    sentences: Sequence[str] | None = None,
    max_length: int = 32,
    batch_size: int = 64,
    diagnostics: bool = False,
    output_dir: str | None = None,
    bf16: bool = False,
    torch_compile: bool = False,
    train_steps: int | None = None,
    **config,
):
    """A ``CseTrainer`` built as ``sentcse-train`` builds it (model from the backbone, TwoViewCollator, the method's
    ``Method.prepare`` on ``sentences`` and ``build_objective``), ready for ``trainer_step``; with ``train_steps``
    it is left for ``trainer.train()`` of that many steps over ``sentences`` instead.

    ``config``: model config fields (``pooler``, ``objective``, ``objective_variant``, ``objective_kwargs``,
    ``time_for_space``, ...). ``bf16``: the Trainer's ``--bf16`` (autocast; on CPU too); ``torch_compile``: its
    ``--torch_compile`` (inductor). Returns ``(trainer, collate)``: ``collate(sentences)`` is a training batch.
    """
    from datasets import Dataset

    from sentcse import CseTrainingArguments, build_trainer, get_method

    torch.manual_seed(42)
    spec = get_method(method)
    model = spec.model_class.from_backbone(backbone, max_length=max_length, **config)
    tokenizer = model.get_tokenizer()
    sentences = list(sentences or ["a sentence .", "another sentence ."])
    args = CseTrainingArguments(output_dir=output_dir or tempfile.mkdtemp(prefix="sentcse-bench-"),
                                **_arguments(batch_size, train_steps, bf16=bf16, torch_compile=torch_compile))
    trainer = build_trainer(model, args, Dataset.from_dict({"sentence": sentences}), sentences=sentences,
                            tokenizer=tokenizer, diagnostics=diagnostics)
    collator = trainer.data_collator
    if not train_steps:
        _prepare(trainer)
    return trainer, lambda batch: collator([{"sentence": s} for s in batch])


# ----------------------------------------------------------------------------------------- sentence-transformers
def st_model(backbone: str, max_length: int = 32, pooling: str = "mean"):
    """``SentenceTransformer`` = Transformer(backbone, max_seq_length) + Pooling; ``pooling="cls"`` adds a Dense(d, d,
    tanh) head, the counterpart of SimCSE's training MLP."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Dense, Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling

    torch.manual_seed(42)
    transformer = Transformer(backbone, max_seq_length=max_length)
    dim = (transformer.get_embedding_dimension() if hasattr(transformer, "get_embedding_dimension")
           else transformer.auto_model.config.hidden_size)
    modules: list[torch.nn.Module] = [transformer, Pooling(dim, pooling_mode=pooling)]
    if pooling == "cls":
        modules.append(Dense(dim, dim, activation_function=torch.nn.Tanh()))
    return SentenceTransformer(modules=modules, device="cuda" if torch.cuda.is_available() else "cpu")


def st_trainer(backbone: str, sentences: Sequence[str] | None = None, max_length: int = 32, batch_size: int = 64,
               pooling: str = "mean", output_dir: str | None = None, bf16: bool = False,
               train_steps: int | None = None):
    """``SentenceTransformerTrainer`` + ``MultipleNegativesRankingLoss`` (scale 20 = 1/0.05) on (sentence, sentence)
    pairs: unsupervised SimCSE as sentence-transformers documents it; ``bf16`` is its own ``bf16`` training
    argument (autocast); ``train_steps`` as in ``sentcse_trainer``. Returns ``(trainer, collate)``."""
    from datasets import Dataset
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    model = st_model(backbone, max_length, pooling)
    sentences = list(sentences or ["a sentence .", "another sentence ."])
    args = SentenceTransformerTrainingArguments(output_dir=output_dir or tempfile.mkdtemp(prefix="st-bench-"),
                                                **_arguments(batch_size, train_steps, bf16=bf16))
    trainer = SentenceTransformerTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_dict({"anchor": sentences, "positive": sentences}),
        loss=MultipleNegativesRankingLoss(model, scale=20.0),
    )
    if not train_steps:
        _prepare(trainer)
    collator = trainer.data_collator
    return trainer, lambda batch: collator([{"anchor": s, "positive": s} for s in batch])


def n_parameters(module: torch.nn.Module, trainable: bool = True) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable)
