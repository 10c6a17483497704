"""Failure modes that show on GPU machines, reproduced and checked without one (issue 15, item 4):

- a plain ``python examples/train.py`` on a machine with several GPUs (the Trainer's nn.DataParallel path) is
  refused when the trainer is built, with the command to use instead;
- one process's non-finite loss stops every process of a multi-process run with the same error (two gloo
  processes on the CPU), instead of leaving the others waiting in the next collective;
- the check itself: after backward has been queued (no device stall between forward and backward), before the
  optimizer step;
- sentcse's own host reads of tensors per training step (each one a device sync on a GPU) are counted, so that
  a new ``.item()`` / ``.tolist()`` / ``bool(tensor)`` on the hot path fails here.
"""

import collections
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from tiny import TRAIN_SENTENCES, NanAfter, tiny_model, tiny_tokenizer, tiny_trainer

from sentcse.modeling import ReCseModel, SarcseModel, SimCseModel
from sentcse.trainers.data import Corpus, TwoViewCollator
from sentcse.trainers.guards import NonFiniteLossError
from sentcse.trainers.methods import get_method
from sentcse.trainers.trainer import CseTrainer, CseTrainingArguments

REPO = Path(__file__).resolve().parents[3]
TESTS = REPO / "tests"
SENTENCES = TRAIN_SENTENCES


def _trainer(tmp_path, model_class=SimCseModel, loss=None, device=None, max_steps=4, **overrides):
    return tiny_trainer(tmp_path, model_class, max_steps, loss=loss, device=device, **overrides)


# ---------------------------------------------------------------- nn.DataParallel
def test_data_parallel_is_refused_when_the_trainer_is_built(tmp_path, monkeypatch):
    """transformers wraps the model in nn.DataParallel when one non-distributed process sees several GPUs
    (``args.n_gpu > 1``: torch.cuda.device_count() there); faked here by the property."""
    tokenizer = tiny_tokenizer()
    model = tiny_model(SarcseModel, tokenizer)
    args = CseTrainingArguments(output_dir=str(tmp_path), report_to="none", eval_strategy="no",
                                load_best_model_at_end=False, use_cpu=True)  # real GPUs: not counted
    spec = get_method("sarcse")
    resources = spec.prepare(model.config, SENTENCES, tokenizer, tmp_path)
    objective = spec.build_objective(model.config, resources)
    dataset = Corpus.from_sentences(SENTENCES).dataset

    trainer = CseTrainer(model=model, args=args, train_dataset=dataset, loss=objective)  # 0 or 1 GPU: fine
    monkeypatch.setattr(CseTrainingArguments, "n_gpu", property(lambda self: 3))
    # the premise: with 3 GPUs in one process this transformers version would train under nn.DataParallel
    assert isinstance(trainer._wrap_model(trainer.model), torch.nn.DataParallel)
    for positional in (False, True):
        with pytest.raises(ValueError) as refused:
            if positional:
                CseTrainer(model, args, train_dataset=dataset, loss=objective)
            else:
                CseTrainer(model=model, args=args, train_dataset=dataset, loss=objective)
        message = str(refused.value)
        assert "\n" not in message
        assert message.startswith("this single process sees 3 GPUs, so the Trainer would split each batch with "
                                  "nn.DataParallel")
        assert "`accelerate launch --multi_gpu --num_processes 3 examples/train.py ...`" in message
        assert message.endswith("or one GPU with CUDA_VISIBLE_DEVICES=0")


# ---------------------------------------------------------------- non-finite loss


@pytest.mark.parametrize("logging_steps", [1, 10], ids=["logged-step", "unlogged-step"])
def test_non_finite_loss_stops_before_the_optimizer_step(tmp_path, logging_steps, device):
    """Logged steps check in compute_loss (the gradient diagnostics read the step's values); the others after
    backward. Either way the weights are those of the last good step, which checkpoint-2 holds."""
    probe = _trainer(tmp_path / "probe")
    trainer = _trainer(tmp_path / "run", loss=NanAfter(probe.loss, 2), device=device,
                       logging_steps=logging_steps)
    backward = []
    trainer.accelerator.backward = (lambda real: lambda loss, **kw: backward.append(loss.detach()) or real(loss, **kw))(
        trainer.accelerator.backward)
    with pytest.raises(NonFiniteLossError) as stopped:
        trainer.train()
    assert str(stopped.value).startswith("non-finite loss at step 2: {'infonce': nan}. Training stopped; the last "
                                         "checkpoint on disk is ")
    assert "on every process" not in str(stopped.value)
    assert len(backward) == (2 if logging_steps == 1 else 3)  # the NaN step's backward ran only when unlogged
    saved = load_file(tmp_path / "run" / "checkpoint-2" / "model.safetensors")
    for name, value in trainer.model.state_dict().items():
        if name in saved:
            torch.testing.assert_close(value.cpu(), saved[name], atol=0, rtol=0, msg=name)
    assert not (tmp_path / "run" / "checkpoint-4").exists()


def test_compute_loss_outside_a_training_step_checks_at_once(tmp_path, device):
    probe = _trainer(tmp_path / "probe")
    trainer = _trainer(tmp_path / "run", loss=NanAfter(probe.loss, 0), device=device, logging_steps=10)
    batch = TwoViewCollator(tiny_tokenizer(), 12)([{"sentence": s} for s in SENTENCES[:4]])
    batch = {name: value.to(device) for name, value in batch.items()}
    with pytest.raises(NonFiniteLossError, match=r"non-finite loss at step 0: \{'infonce': nan\}"):
        trainer.compute_loss(trainer.model, batch)


def test_one_process_non_finite_loss_stops_every_process(two_process_launch):
    """Two gloo processes (job "nan" of the session's shared launch, tests/conftest.py); only process 1's loss turns
    NaN, at step 2 (its backward runs: the step is not a logged one). Both raise the same NonFiniteLossError within
    the bound, and the next job of the launch runs on both; before the fix, process 0 waited in the next collective
    (on NCCL until the watchdog, 10+ minutes)."""
    launch = two_process_launch
    assert not launch.hung, f"the two processes did not stop within {launch.bound} s (a hang):\n" \
                            f"{launch.output[-3000:]}"
    outcomes = [launch.outcome("nan", rank) for rank in (0, 1)]
    assert [outcome["exit"] for outcome in outcomes] == [1, 1], launch.output[-3000:]  # the job stopped on both
    elapsed = max(outcome["ended"] for outcome in outcomes) - float((launch.folder / "nan.start").read_text())
    messages = [(launch.folder / f"nan.safetensors.rank{rank}.error") for rank in (0, 1)]
    assert all(path.is_file() for path in messages), launch.output[-3000:]  # each process raised it itself
    first, second = (path.read_text() for path in messages)
    assert first == second
    assert first.startswith("non-finite loss at step 2 on process 1 of 2: {'infonce': nan}. Training stopped on "
                            "every process; no checkpoint was written to ")
    assert elapsed < 120
    assert launch.outcome("streamed", 0)["exit"] == launch.outcome("streamed", 1)["exit"] == 0  # the next job


# ---------------------------------------------------------------- host reads on the hot path
HOST_READS = ("tolist", "item", "__bool__", "__int__", "__float__", "__index__", "cpu", "numpy")
SOURCES = (REPO / "modeling", REPO / "trainers")

# sentcse's host reads of a tensor per training step (not a logged one), by file:function. Each is a device sync on
# a GPU. batching: the length groups' sizes and the padding check, in one transfer; trainer: the loss's
# finiteness, agreed across processes, read after backward where the Trainer reads the loss anyway;
# modeling_sarcse: its padding check again and its longest content row (the length groups could give both);
# trainer's callback: the gradients' finiteness, once per optimizer step, before the step can write them.
EXPECTED_READS = {
    SimCseModel: {"batching.py:__init__": 1, "guards.py:raise_if_not_finite": 1, "guards.py:on_pre_optimizer_step": 1},
    ReCseModel: {"batching.py:__init__": 1, "guards.py:raise_if_not_finite": 1, "guards.py:on_pre_optimizer_step": 1},
    SarcseModel: {"batching.py:__init__": 1, "guards.py:raise_if_not_finite": 1, "guards.py:on_pre_optimizer_step": 1,
                  "batching.py:is_right_padded": 1, "modeling_sarcse.py:content_tokens": 1},
}


@pytest.mark.parametrize("model_class", list(EXPECTED_READS), ids=lambda cls: cls.__name__)
def test_host_reads_per_training_step(tmp_path, monkeypatch, model_class, device):
    trainer = _trainer(tmp_path, model_class=model_class, max_steps=2, device=device, logging_steps=100,
                       save_strategy="no")
    assert trainer.model.config.length_buckets > 1  # the bucketed path (the default) is the one measured
    reads = collections.Counter()
    for name in HOST_READS:
        def counted(self, *args, _original=getattr(torch.Tensor, name), **kwargs):
            caller = sys._getframe(1)
            path = Path(caller.f_code.co_filename).resolve()
            if any(folder in path.parents for folder in SOURCES):
                reads[f"{path.name}:{caller.f_code.co_name}"] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counted)
    trainer.train()
    monkeypatch.undo()
    assert dict(reads) == {where: 2 * count for where, count in EXPECTED_READS[model_class].items()}
    # and the Trainer's own per-micro-batch read of the loss (isnan / isinf) is off by default
    assert trainer.args.logging_nan_inf_filter is False
