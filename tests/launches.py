"""Several jobs in one ``accelerate launch`` of two gloo processes on the CPU: each process's interpreter starts once
(an import of sentcse costs several seconds of a slow core) for several tests.

``launch(folder, jobs)`` runs the launch from a test and returns it finished; ``machines=2`` launches it as two
one-process "machines" on localhost (``--num_machines 2``). In the launched processes this file, run as a script,
does the jobs in turn (``python launches.py FOLDER JOBS``, JOBS a JSON list). A job is a dict with a ``name`` and
one of

- ``"step": [METHOD, PER_DEVICE_BATCH, STEPS]``, optionally with ``"nan_at": [RANK, STEP]``: SGD steps of
  tests/dist_train_step.py's tiny model, written to FOLDER/NAME.safetensors and its companions;
- ``"train": ARGV``: a ``sentcse-train`` run, as the command's ``main`` runs it (its lines, its exit status), with
  ``"interrupt_after": STEP`` interrupted (KeyboardInterrupt, as Ctrl-C) on every process at the end of step STEP;
  the last job of a launch ends the processes as the command does.

A job that stops the way the code under test should stop it (a NonFiniteLossError, an exit status of
``sentcse-train``) ends that job only, so a fault's job need not come last. Each process writes FOLDER/NAME.start
(the time its job began, ``time.time()``) and FOLDER/NAME.rank<R>.json (``{"ended": time, "exit": status}``; status
0 for a job that ran to its end, 1 for a step job stopped by a NonFiniteLossError)."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent


@dataclass
class Launch:
    """A finished (or killed) launch: its folder of outputs, one finished process per machine (rank 0 first; stdout
    and stderr apart), and whether it was killed for running past ``bound`` seconds (a hang)."""

    folder: Path
    machines: list[subprocess.CompletedProcess]
    hung: bool
    bound: int

    @property
    def output(self) -> str:
        """Every machine's stderr then stdout (for a failure's message)."""
        return "\n".join(machine.stderr + machine.stdout for machine in self.machines)

    def ok(self) -> bool:
        return not self.hung and all(machine.returncode == 0 for machine in self.machines)

    def outcome(self, name: str, rank: int) -> dict:
        """Job ``name``'s outcome on process ``rank``: ``{"ended": time.time(), "exit": status}``."""
        path = self.folder / f"{name}.rank{rank}.json"
        assert path.is_file(), f"job {name} did not end on process {rank}:\n{self.output[-3000:]}"
        return json.loads(path.read_text())


def free_port() -> int:
    """A TCP port free on localhost now (for a launch's --main_process_port)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch(folder: Path, jobs: list[dict], machines: int = 1, bound: int = 240) -> Launch:
    """Run ``jobs`` in one launch of two processes (``machines`` 1: both on one machine; 2: one a machine), with
    the outputs in ``folder``. Past ``bound`` seconds the launch is a hang: every process is killed."""
    folder.mkdir(parents=True, exist_ok=True)
    port = str(free_port())
    script = [str(Path(__file__).resolve()), str(folder), json.dumps(jobs)]
    # accelerate's --cpu multi-process path needs mpirun; --multi_gpu runs torch.distributed, gloo on the CPU here
    # (the suite's ACCELERATE_USE_CPU, or the jobs' use_cpu).
    common = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
              "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", port]
    if machines == 1:
        commands = [[*common, "--num_machines", "1", *script]]
    else:
        commands = [[*common, "--num_machines", "2", "--machine_rank", str(rank), "--main_process_ip", "127.0.0.1",
                     *script] for rank in range(machines)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    processes = [subprocess.Popen(command, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, start_new_session=True)  # its own group: a hang is killed whole
                 for command in commands]
    deadline, hung, finished = time.monotonic() + bound, False, []
    for process in processes:
        try:
            out, err = process.communicate(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            hung = True
            for each in processes:
                if each.poll() is None:
                    os.killpg(each.pid, signal.SIGKILL)
            out, err = process.communicate()
        finished.append(subprocess.CompletedProcess(process.args, process.returncode, out, err))
    return Launch(folder, finished, hung, bound)


# ------------------------------------------------------------------ in the launched processes
def run_job(folder: Path, job: dict, last: bool) -> int:
    """One job; its exit status (0: ran to its end)."""
    if "step" in job:
        from dist_train_step import train

        method, batch, steps = job["step"]
        nan_at = tuple(job["nan_at"]) if "nan_at" in job else None
        return 0 if train(str(folder / f"{job['name']}.safetensors"), batch, method, steps, nan_at,
                          trainer_dir=str(folder / f"{job['name']}_trainer_out")) else 1
    from contextlib import ExitStack
    from unittest import mock

    from sentcse.trainers.cli import train as command

    with ExitStack() as patches:
        if not last:  # the processes live on for the next job
            patches.enter_context(mock.patch.object(command, "end_processes", lambda trainer: None))
        if "interrupt_after" in job:
            from cli_runs import acting_at

            patches.enter_context(mock.patch.object(command, "build_trainer", acting_at(
                command.build_trainer, job["interrupt_after"], interrupt)))
        try:
            command.main(job["train"])
        except SystemExit as stopped:
            return stopped.code if isinstance(stopped.code, int) else 1
    return 0


def interrupt():
    raise KeyboardInterrupt


def run_jobs(folder: Path, jobs: list[dict]) -> None:
    import torch

    rank = int(os.environ.get("RANK", "0"))
    for index, job in enumerate(jobs):
        last = index == len(jobs) - 1
        (folder / f"{job['name']}.start").write_text(repr(time.time()))
        status = run_job(folder, job, last)
        (folder / f"{job['name']}.rank{rank}.json").write_text(json.dumps({"ended": time.time(), "exit": status}))
    if torch.distributed.is_initialized():  # not ended by a last sentcse-train run
        leave()


def leave() -> None:
    """Leave at once, once every process is here: gloo's teardown at interpreter exit can deadlock (the DDP
    reducer's process-group destructor joins gloo's worker thread while holding the GIL, and that thread may need
    the GIL to free a finished collective's tensors), which would hang the test, not fail it."""
    import torch

    torch.distributed.barrier()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    run_jobs(Path(sys.argv[1]), json.loads(sys.argv[2]))
