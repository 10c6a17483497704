"""Build real trainers and run ONE training step through them, exactly as the Trainer's loop does.

``trainer_step`` is the per-step body of ``transformers.Trainer._inner_training_loop`` without the callbacks and
logging: ``trainer.training_step`` (the collated batch -> ``compute_loss`` -> backward), gradient clipping at
``max_grad_norm``, ``optimizer.step()``, ``lr_scheduler.step()``, ``model.zero_grad()``. It works for sentcse's
``CseTrainer`` and for sentence-transformers' ``SentenceTransformerTrainer`` alike, so both frameworks are timed
through their own trainer code with the same optimizer (the Trainer's default AdamW) and the same arguments.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence

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


def _prepare(trainer) -> None:
    """What ``train()`` sets up before its first step: optimizer, scheduler, accumulation count."""
    if trainer.args.bf16 or trainer.args.fp16 or trainer.args.torch_compile:
        # Mixed precision or --torch_compile: train() lets accelerate wrap the model's forward in autocast and
        # compile the model; do the same.
        trainer.model_wrapped = trainer.accelerator.prepare_model(trainer.model)
    trainer.create_optimizer_and_scheduler(num_training_steps=trainer.args.max_steps)
    trainer.current_gradient_accumulation_steps = 1
    trainer.model.train()


def trainer_step(trainer, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """One optimizer step of ``trainer`` on an already collated batch (see the module docstring)."""
    model = trainer.model_wrapped
    loss = trainer.training_step(model, inputs)
    if trainer.args.max_grad_norm and trainer.args.max_grad_norm > 0:
        clip = getattr(trainer, "_clip_grad_norm", None)
        if clip is not None:
            clip(model)
        else:  # older transformers
            torch.nn.utils.clip_grad_norm_(model.parameters(), trainer.args.max_grad_norm)
    trainer.optimizer.step()
    trainer.lr_scheduler.step()
    model.zero_grad()
    trainer.state.global_step += 1
    return loss


# ------------------------------------------------------------------------------------------------------ sentcse
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
    **config,
):
    """A ``CseTrainer`` built as ``sentcse-train`` builds it (model from the backbone, TwoViewCollator, the method's
    ``Method.prepare`` on ``sentences`` and ``build_objective``), ready for ``trainer_step``.

    ``config``: model config fields (``pooler``, ``objective``, ``objective_variant``, ``objective_kwargs``,
    ``time_for_space``, ...). ``bf16``: the Trainer's ``--bf16`` (autocast; on CPU too); ``torch_compile``: its
    ``--torch_compile`` (inductor). Returns ``(trainer, collator)``.
    """
    from datasets import Dataset

    from sentcse.trainers.methods import get_method
    from sentcse.trainers.run import build_trainer
    from sentcse.trainers.trainer import CseTrainingArguments

    torch.manual_seed(42)
    spec = get_method(method)
    model = spec.model_class.from_backbone(backbone, max_length=max_length, **config)
    tokenizer = model.get_tokenizer()
    sentences = list(sentences or ["a sentence .", "another sentence ."])
    args = CseTrainingArguments(output_dir=output_dir or tempfile.mkdtemp(prefix="sentcse-bench-"),
                                **{**COMMON_ARGS, "per_device_train_batch_size": batch_size, "bf16": bf16,
                                   "torch_compile": torch_compile})
    trainer = build_trainer(model, args, Dataset.from_dict({"sentence": sentences}), sentences=sentences,
                            tokenizer=tokenizer, diagnostics=diagnostics)
    collator = trainer.data_collator
    _prepare(trainer)
    return trainer, lambda batch: collator([{"sentence": s} for s in batch])


# ------------------------------------------------------------------------------------------------------ sentence-transformers
def st_model(backbone: str, max_length: int = 32, pooling: str = "mean"):
    """``SentenceTransformer`` = Transformer(backbone, max_seq_length) + Pooling; ``pooling="cls"`` adds a Dense(d, d,
    tanh) head, the counterpart of SimCSE's training MLP."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Dense, Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling

    torch.manual_seed(42)
    transformer = Transformer(backbone, max_seq_length=max_length)
    dim = transformer.get_embedding_dimension() if hasattr(transformer, "get_embedding_dimension") else transformer.auto_model.config.hidden_size
    modules: list[torch.nn.Module] = [transformer, Pooling(dim, pooling_mode=pooling)]
    if pooling == "cls":
        modules.append(Dense(dim, dim, activation_function=torch.nn.Tanh()))
    return SentenceTransformer(modules=modules, device="cuda" if torch.cuda.is_available() else "cpu")


def st_trainer(backbone: str, sentences: Sequence[str] | None = None, max_length: int = 32, batch_size: int = 64,
               pooling: str = "mean", output_dir: str | None = None, bf16: bool = False):
    """``SentenceTransformerTrainer`` + ``MultipleNegativesRankingLoss`` (scale 20 = 1/0.05) on (sentence, sentence)
    pairs: unsupervised SimCSE as sentence-transformers documents it; ``bf16`` is its own ``bf16`` training
    argument (autocast). Returns ``(trainer, collate)``."""
    from datasets import Dataset
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    model = st_model(backbone, max_length, pooling)
    sentences = list(sentences or ["a sentence .", "another sentence ."])
    args = SentenceTransformerTrainingArguments(output_dir=output_dir or tempfile.mkdtemp(prefix="st-bench-"),
                                                **{**COMMON_ARGS, "per_device_train_batch_size": batch_size,
                                                   "bf16": bf16})
    trainer = SentenceTransformerTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_dict({"anchor": sentences, "positive": sentences}),
        loss=MultipleNegativesRankingLoss(model, scale=20.0),
    )
    _prepare(trainer)
    collator = trainer.data_collator
    return trainer, lambda batch: collator([{"anchor": s, "positive": s} for s in batch])


def n_parameters(module: torch.nn.Module, trainable: bool = True) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable)
