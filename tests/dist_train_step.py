"""SGD steps of CseTrainer on a fixed tiny model; run alone, under `accelerate launch --num_processes N`, or called
in-process (``train``).

    python dist_train_step.py OUT PER_DEVICE_BATCH METHOD [STEPS]
    python dist_train_step.py --jobs FOLDER NAME:METHOD:PER_DEVICE_BATCH:STEPS[:NAN_RANK:NAN_STEP] ...

Writes the training loss, the initial weights (OUT.initial) and the updated weights (OUT) (rank 0 only). Used by
tests/trainers/test_training.py to check that N processes with batch b equal one process with batch N*b, for SimCSE
and for reCSE (whose reshaped views are gathered too), and by tests/bench/test_machines.py.

``--jobs`` trains several runs one after the other in the same processes (one launch, one interpreter start per
process, for several tests): job NAME writes FOLDER/NAME.safetensors and its companions.

Fault injection (tests/trainers/cli/test_faults.py): a job with NAN_RANK:NAN_STEP (or, in the first form,
SENTCSE_TEST_NAN_AT="RANK:STEP") turns the loss of process RANK alone NaN at global step STEP (run with STEPS > STEP).
A process that stops with NonFiniteLossError writes its message to OUT.rank<R>.error and exits with status 1 (such a
job comes last).
"""

import json
import os
import sys
import time
from pathlib import Path

import torch
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tiny import tiny_model, tiny_tokenizer  # noqa: E402

from sentcse.trainers.data import Corpus, TwoViewCollator  # noqa: E402
from sentcse.trainers.guards import NonFiniteLossError  # noqa: E402
from sentcse.trainers.methods import get_method  # noqa: E402
from sentcse.trainers.trainer import CseTrainer, CseTrainingArguments  # noqa: E402

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


def run_jobs(folder: str, jobs: list[str]) -> None:
    """Each job ``NAME:METHOD:PER_DEVICE_BATCH:STEPS[:NAN_RANK:NAN_STEP]`` in turn; FOLDER/NAME.start holds the
    time (time.time()) its training began."""
    for job in jobs:
        name, method, batch, steps, *nan = job.split(":")
        out = str(Path(folder) / f"{name}.safetensors")
        Path(folder, f"{name}.start").write_text(repr(time.time()))
        if not train(out, int(batch), method, int(steps), tuple(int(part) for part in nan) or None,
                     trainer_dir=str(Path(folder) / f"{name}_trainer_out")):
            _exit(1)
    _exit(0)


def main(out: str, per_device_batch: int, method: str, steps: int = 1) -> None:
    nan_at = os.environ.get("SENTCSE_TEST_NAN_AT")
    _exit(0 if train(out, per_device_batch, method, steps, nan_at and tuple(int(p) for p in nan_at.split(":"))) else 1)


def _exit(status: int) -> None:
    """Leave at once, once every process is here: gloo's teardown at interpreter exit can deadlock (the DDP
    reducer's process-group destructor joins gloo's worker thread while holding the GIL, and that thread may need
    the GIL to free a finished collective's tensors), which would hang the test, not fail it."""
    if torch.distributed.is_initialized():
        torch.distributed.barrier()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":
    if sys.argv[1] == "--jobs":
        run_jobs(sys.argv[2], sys.argv[3:])
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3], *(int(arg) for arg in sys.argv[4:5]))
