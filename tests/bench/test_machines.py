"""Several machines: two ``accelerate launch`` commands on localhost (``--num_machines 2``, one process each, gloo)
train exactly like one process at twice the batch; the CLI refuses on every machine what the main process refuses,
an interrupted two-machine run resumes from its own last checkpoint, and checkpoints and the final folder are written
once (the main process)."""

import json

import pytest
import torch
from cli_runs import SENTENCES, flags
from launches import launch
from safetensors.torch import load_file


@pytest.fixture(scope="module")
def two_machines(tmp_path_factory, backbone):
    """One launch as two one-process machines (tests/launches.py), its jobs in turn: "two", one step at batch 4 a
    machine; "refused", a ``sentcse-train`` run into a folder holding a checkpoint no run record claims; "first",
    a run of 4 steps that saves every 2, interrupted after step 3 (its checkpoint-2 written); "resumed", that run
    resumed from its last checkpoint, which ends the processes."""
    folder = tmp_path_factory.mktemp("two_machines")
    corpus = folder / "corpus.txt"
    corpus.write_text("\n".join(SENTENCES * 2) + "\n")
    (folder / "refused" / "checkpoint-2").mkdir(parents=True)  # the user's: no run record claims it
    refused = flags(backbone, corpus, folder / "refused", "--use_cpu", "true")
    run = flags(backbone, corpus, folder / "out", "--use_cpu", "true", "--save_total_limit", "2",
                "--logging_steps", "1")
    jobs = [{"name": "two", "step": ["simcse", 4, 1]}, {"name": "refused", "train": refused},
            {"name": "first", "train": run, "interrupt_after": 3},
            {"name": "resumed", "train": [*run, "--resume_from_checkpoint", "last"]}]
    return launch(folder, jobs, machines=2)


@pytest.mark.usefixtures("single_thread")
def test_two_machines_equal_one_process_at_twice_the_batch(tmp_path, two_machines):
    from dist_train_step import train

    machines = two_machines
    assert train(str(tmp_path / "one.safetensors"), 8, "simcse")  # the one process at batch 8: here
    assert [machines.outcome("two", rank)["exit"] for rank in (0, 1)] == [0, 0]
    one = json.loads((tmp_path / "one.safetensors.json").read_text())
    two = json.loads((machines.folder / "two.safetensors.json").read_text())
    assert two["world"] == 2 and one["world"] == 1
    assert two["loss"] == pytest.approx(one["loss"], rel=1e-5)
    w1, w2 = load_file(tmp_path / "one.safetensors"), load_file(machines.folder / "two.safetensors")
    initial = load_file(tmp_path / "one.safetensors.initial")
    assert not torch.allclose(w1["mlp.dense.weight"], initial["mlp.dense.weight"]), "the step changed nothing"
    for name in w1:
        torch.testing.assert_close(w2[name], w1[name], atol=1e-5, rtol=1e-5, msg=name)


def test_a_refusal_on_the_main_process_stops_every_machine(two_machines):
    """The main process alone decides on the output folder (and the Hub); its refusal reaches the other machine,
    which stops with the same line instead of waiting for a collective that never comes (the launch goes on to its
    next job)."""
    machines = two_machines
    assert not machines.hung, machines.output[-3000:]
    for rank, machine in enumerate(machines.machines):
        assert machines.outcome("refused", rank)["exit"] == 2
        assert "holds files that are not a run's (checkpoint-2)" in machine.stderr, machine.stderr[-2000:]


def test_a_two_machine_run_resumes_its_own_checkpoint_and_writes_once(two_machines):
    machines = two_machines
    out = machines.folder / "out"
    assert machines.ok(), machines.output[-3000:]
    assert [machines.outcome("first", rank)["exit"] for rank in (0, 1)] == [130, 130]  # as Ctrl-C stops it
    assert [machines.outcome("resumed", rank)["exit"] for rank in (0, 1)] == [0, 0]
    main, other = machines.machines
    assert "interrupted at step 3: kept checkpoint-2 (step 2)" in main.stderr
    assert f"resuming from {out / 'checkpoint-2'} (step 2)" in main.stderr
    assert "Saved to" in main.stdout and "Saved to" not in other.stdout  # the final folder: main process
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-4"]
    assert not list(out.rglob("*.tmp")) and (out / "README.md").is_file() and (out / "model.safetensors").is_file()
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["global_step"] == 4
    assert [e["step"] for e in state["log_history"] if "loss" in e] == [1, 2, 3, 4]  # one log, not one per machine
