"""One way to assemble a training run: model + two-view collator + the method's corpus resources + objective +
``CseTrainer``. ``sentcse-train``, the tests and the benchmarks all build their trainer here."""

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from transformers import TrainerCallback

from .collation import TwoViewCollator
from .methods import MethodResources, get_method
from .trainer import CseTrainer, CseTrainingArguments


def build_trainer(
    model,
    args: CseTrainingArguments,
    train_dataset,
    sentences: Sequence[str] | None = None,
    tokenizer=None,
    eval_dataset=None,
    pad_to_max_length: bool = False,
    resources: MethodResources | None = None,
    loss=None,
    checkpoint_files: Mapping[str, str] | None = None,
    callbacks: Iterable[TrainerCallback] = (),
    diagnostics: bool = True,
) -> CseTrainer:
    """A ``CseTrainer`` for ``model`` (a sentcse model; its method is ``model.config.model_type``).

    Args:
        train_dataset: rows ``{"sentence": str}`` (a ``datasets`` or torch dataset).
        sentences: the corpus the method's ``prepare`` reads (SARCSE counts its tokens); needed unless
            ``resources`` is given.
        tokenizer: defaults to the model's own (``model.get_tokenizer()``).
        eval_dataset: scored pairs for model selection (``sts_pairs_dataset``), or None.
        pad_to_max_length: training batches padded to ``model.config.max_length`` (a streamed corpus read by one
            of several processes); the collator cuts dev pairs as ``encode`` cuts them.
        resources: what ``Method.prepare`` made, when the caller prepared it (``sentcse-train`` does, on the
            main process first); their checkpoint files are saved beside every checkpoint, with ``checkpoint_files``.
        loss: the training objective; defaults to the method's (``Method.build_objective``).
    """
    spec = get_method(model.config.model_type)
    tokenizer = tokenizer if tokenizer is not None else model.get_tokenizer()
    if resources is None:
        if sentences is None:
            raise ValueError("build_trainer needs the corpus sentences (for the method's prepare) or its resources")
        resources = spec.prepare(model.config, list(sentences), tokenizer, Path(args.output_dir))
    collator = TwoViewCollator(tokenizer, model.config.max_length, pair_max_length=model.max_input_length(tokenizer),
                               pad_to_max_length=pad_to_max_length)
    return CseTrainer(
        model=model,
        args=args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        data_collator=collator,
        processing_class=tokenizer,
        loss=loss if loss is not None else spec.build_objective(model.config, resources),
        checkpoint_files={**resources.checkpoint_files, **(checkpoint_files or {})},
        callbacks=list(callbacks),
        diagnostics=diagnostics,
    )


__all__ = ["build_trainer"]
