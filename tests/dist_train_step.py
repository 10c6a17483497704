"""SGD steps of CseTrainer on a fixed tiny model, called in-process (``train``) or as a job of a launch of several
processes (tests/launches.py): N processes with batch b equal one process with batch N*b, for SimCSE and for reCSE
(whose reshaped views are gathered too), on one machine (tests/trainers/test_training.py) and on two
(tests/bench/test_machines.py).

``train`` writes the training loss, the initial weights (OUT.initial) and the updated weights (OUT) (rank 0 only).
Fault injection (tests/trainers/cli/test_faults.py): ``nan_at=(RANK, STEP)`` turns the loss of process RANK alone NaN
at global step STEP (train with more than STEP steps); a process that stops with NonFiniteLossError writes its message
to OUT.rank<R>.error and ``train`` returns False.
"""

import json
from pathlib import Path

import torch
from safetensors.torch import save_file
from tiny import tiny_model, tiny_tokenizer

from sentcse.trainers.data import Corpus, TwoViewCollator
from sentcse.trainers.guards import NonFiniteLossError
from sentcse.trainers.methods import get_method
from sentcse.trainers.trainer import CseTrainer, CseTrainingArguments

SENTENCES = [f"the cat {w} on the mat {i}" for i, w in enumerate("sat ran was big red blue fast slow".split())]


class NanAt(torch.nn.Module):
    """The objective, with every term NaN on process ``rank`` at global step ``step`` (the other processes and
    steps unchanged)."""

    def __init__(self, objective, rank: int, step: int):
        super().__init__()
        self.objective, self.rank, self.step, self.trainer = objective, rank, step, None
        self.gathered_outputs = objective.gathered_outputs
        self.contrastive = getattr(objective, "contrastive", objective)

    def forward(self, anchor, positive, output=None, gathered=None):
        terms = self.objective(anchor, positive, output, gathered)
        if self.trainer.args.process_index == self.rank and self.trainer.state.global_step == self.step:
            terms = {name: value * float("nan") for name, value in terms.items()}
        return terms


def train(out: str, per_device_batch: int, method: str, steps: int = 1, nan_at: tuple[int, int] | None = None,
          trainer_dir: str | None = None) -> bool:
    """Train one job and write its files; False when a NonFiniteLossError stopped it (its message written to
    OUT.rank<R>.error)."""
    tokenizer = tiny_tokenizer()
    torch.manual_seed(0)
    spec = get_method(method)
    model = tiny_model(spec.model_class, tokenizer, dropout=0.0, pooler="cls")
    initial = {name: p.detach().clone().contiguous() for name, p in model.named_parameters()}
    args = CseTrainingArguments(
        output_dir=trainer_dir or str(Path(out).parent / "trainer_out"), per_device_train_batch_size=per_device_batch,
        max_steps=steps, optim="sgd", learning_rate=0.5, lr_scheduler_type="constant", max_grad_norm=0.0,
        eval_strategy="no", save_strategy="no", load_best_model_at_end=False, report_to="none",
        logging_steps=100 if nan_at else 1,  # fault runs: no logged step, so the check runs after backward
        use_cpu=True, disable_tqdm=True, ddp_find_unused_parameters=False,
    )
    objective = spec.build_objective(model.config)
    if nan_at:
        objective = NanAt(objective, *nan_at)
    trainer = CseTrainer(
        model=model, args=args, train_dataset=Corpus.from_sentences(SENTENCES).dataset,
        data_collator=TwoViewCollator(tokenizer, 16), loss=objective,
    )
    if nan_at:
        objective.trainer = trainer
    try:
        result = trainer.train()
    except NonFiniteLossError as error:
        Path(f"{out}.rank{args.process_index}.error").write_text(str(error))
        return False
    if trainer.is_world_process_zero():
        weights = {name: p.detach().contiguous() for name, p in trainer.model.named_parameters()}
        save_file(weights, out)
        save_file(initial, out + ".initial")
        Path(out + ".json").write_text(json.dumps({"loss": result.training_loss, "world": args.world_size}))
    return True

