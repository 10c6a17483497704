"""Several machines: two ``accelerate launch`` commands on localhost (``--num_machines 2``, one process each, gloo)
train exactly like one process at twice the batch; the CLI writes checkpoints and the final folder once (the main
process) and a two-machine run resumes from its own last checkpoint."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from cli_runs import SENTENCES, STSB, flags
from safetensors.torch import load_file

TESTS = Path(__file__).resolve().parents[1]


def launch_two_machines(command, cwd: Path, port: int, timeout: int = 300):
    """Run ``command`` (a script and its arguments) as two one-process "machines" (ranks 0 and 1) on localhost;
    returns both completed processes (rank 0 first)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    machines = []
    for rank in (0, 1):
        launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_machines", "2",
                  "--machine_rank", str(rank), "--num_processes", "2", "--main_process_ip", "127.0.0.1",
                  "--main_process_port", str(port), "--mixed_precision", "no", "--dynamo_backend", "no", *command]
        machines.append(subprocess.Popen(launch, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                         text=True))
    done = []
    try:
        for machine in machines:
            out, err = machine.communicate(timeout=timeout)
            done.append(subprocess.CompletedProcess(machine.args, machine.returncode, out, err))
    finally:
        for machine in machines:
            if machine.poll() is None:
                machine.kill()
    return done


def small_dev(tmp_path) -> Path:
    """The first 16 STS-B dev pairs as a --dev_dir: the runs' final evaluation in a fraction of the time of all
    1,500 (what is checked here is who writes and what resumes, not the score)."""
    dev = tmp_path / "dev"
    dev.mkdir()
    pairs = (STSB / "sts-dev.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    (dev / "sts-dev.csv").write_text("".join(pairs[:16]), encoding="utf-8")
    return dev


def run_flags(backbone, corpus, out, *extra):
    """cli_runs' flags of a short run, with ``small_dev``."""
    dev = small_dev(out.parent)
    return [str(dev) if value == str(STSB) else value for value in flags(backbone, corpus, out, *extra)]


@pytest.mark.usefixtures("single_thread")
def test_two_machines_equal_one_process_at_twice_the_batch(tmp_path, monkeypatch):
    # The one process at batch 8 runs here (dist_train_step.main without its os._exit, which would end pytest): a
    # subprocess would only add an import of sentcse; the two machines are two real launches.
    import dist_train_step

    monkeypatch.setattr(dist_train_step, "_exit", lambda status: None)
    dist_train_step.main(str(tmp_path / "one.safetensors"), 8, "simcse")
    script = str(TESTS / "dist_train_step.py")
    for machine in launch_two_machines([script, str(tmp_path / "two.safetensors"), "4", "simcse"], tmp_path, 29571):
        assert machine.returncode == 0, machine.stderr[-3000:]
    one, two = (json.loads((tmp_path / f"{n}.safetensors.json").read_text()) for n in ("one", "two"))
    assert two["world"] == 2 and one["world"] == 1
    assert two["loss"] == pytest.approx(one["loss"], rel=1e-5)
    w1, w2 = load_file(tmp_path / "one.safetensors"), load_file(tmp_path / "two.safetensors")
    initial = load_file(tmp_path / "one.safetensors.initial")
    assert not torch.allclose(w1["mlp.dense.weight"], initial["mlp.dense.weight"]), "the step changed nothing"
    for name in w1:
        torch.testing.assert_close(w2[name], w1[name], atol=1e-5, rtol=1e-5, msg=name)


def test_a_refusal_on_the_main_process_stops_every_machine(tmp_path, backbone):  # noqa: F811
    """The main process alone decides on the output folder (and the Hub); its refusal reaches the other machine,
    which stops with the same line instead of waiting for a collective that never comes."""
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(SENTENCES * 2) + "\n")
    out = tmp_path / "out"
    (out / "checkpoint-2").mkdir(parents=True)  # a checkpoint no run record claims: the user's, refused
    argv = ["-m", "sentcse.trainers.cli.train", *run_flags(backbone, corpus, out, "--use_cpu", "true")]
    for machine in launch_two_machines(argv, tmp_path, 29577, timeout=180):
        assert machine.returncode != 0
        assert "holds files that are not a run's (checkpoint-2)" in machine.stderr, machine.stderr[-2000:]


def test_a_two_machine_run_writes_once_and_resumes_its_own_checkpoint(tmp_path, backbone):  # noqa: F811
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(SENTENCES * 2) + "\n")
    out = tmp_path / "out"
    argv = ["-m", "sentcse.trainers.cli.train",
            *run_flags(backbone, corpus, out, "--use_cpu", "true", "--save_total_limit", "2", "--logging_steps", "1")]
    first = launch_two_machines(argv, tmp_path, 29573)
    for machine in first:
        assert machine.returncode == 0, machine.stderr[-3000:]
    assert "Saved to" in first[0].stdout and "Saved to" not in first[1].stdout  # the final folder: main process
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-4"]
    assert not list(out.rglob("*.tmp")) and (out / "README.md").is_file()
    state = json.loads((out / "trainer_state.json").read_text())
    assert [e["step"] for e in state["log_history"] if "loss" in e] == [1, 2, 3, 4]  # one log, not one per machine

    # An interruption after step 2: its later checkpoint and final model never got written.
    import shutil

    shutil.rmtree(out / "checkpoint-4")
    for name in ("model.safetensors", "config.json", "README.md", "trainer_state.json"):
        (out / name).unlink()
    again = launch_two_machines([*argv, "--resume_from_checkpoint", "last"], tmp_path, 29575)
    for machine in again:
        assert machine.returncode == 0, machine.stderr[-3000:]
    assert "resuming from" in again[0].stderr and "checkpoint-2 (step 2)" in again[0].stderr
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["global_step"] == 4 and [e["step"] for e in state["log_history"] if "loss" in e] == [1, 2, 3, 4]
    assert (out / "model.safetensors").is_file()
