"""Shared fixtures. Tests that need ../shared (data, models) skip where it is absent, but fail under CI=true.

``pytest --device cuda`` (or ``cuda:1``, ``mps``; default ``cpu``) runs the suite's models on that device: the tests
that build one take it from the ``device`` fixture, and the Trainer and CLI runs follow it too (under ``cpu`` the
suite sets ``ACCELERATE_USE_CPU``, which subprocesses inherit, so they stay on the CPU of a GPU machine; otherwise
they take the Trainer's own device, the first visible GPU). The multi-process tests are CPU (gloo) by design."""

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

# Tests must never touch the network: switch the Hugging Face Hub and datasets off before anything imports them.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
# Corpora converted by the tests go to a cache of this session (subprocesses inherit it), not the user's.
DATASETS_CACHE = tempfile.mkdtemp(prefix="sentcse-test-datasets-")
os.environ["HF_DATASETS_CACHE"] = DATASETS_CACHE

REPO = Path(__file__).resolve().parents[1]


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(DATASETS_CACHE, ignore_errors=True)


@pytest.fixture(scope="module")
def single_thread():
    """One intra-op torch thread for a module of tiny models (``pytestmark = pytest.mark.usefixtures(...)``):
    faster, and immune to BLAS spinning on a shared, oversubscribed CPU."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def pytest_addoption(parser):
    parser.addoption("--device", default="cpu",
                     help="torch device the model tests run on (the `device` fixture): cpu (default), cuda, "
                          "cuda:1, mps")


def skip_or_fail(message: str) -> None:
    """Skip the calling test because an offline resource is missing; under CI=true fail instead."""
    if os.environ.get("CI") == "true":
        pytest.fail(message + "; under CI=true it is required")
    pytest.skip(message)


def locate_shared() -> Path:
    return Path(os.environ.get("SENTCSE_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    shared = locate_shared()
    if not (shared / "data").is_dir() or not (shared / "models").is_dir():
        skip_or_fail(f"offline resources not found at {shared} (set SENTCSE_SHARED to the shared/ folder)")
    return shared


@pytest.fixture(scope="session")
def require():
    """``require(condition, what)``: skip (fail under CI=true) the test unless ``condition`` holds."""

    def check(condition: bool, what: str) -> None:
        if not condition:
            skip_or_fail(what)

    return check


def _resolve_device(name: str):
    """``--device`` as a torch device, or a pytest.UsageError (one line) when it is malformed or absent here."""
    import torch

    try:
        resolved = torch.device(name)
    except (RuntimeError, TypeError) as error:
        raise pytest.UsageError(f"--device {name!r} is not a torch device ({error}); pass e.g. --device cuda") from None
    visible = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if resolved.type == "cuda" and (resolved.index or 0) >= visible:
        raise pytest.UsageError(f"--device {name}: no such CUDA device here ({visible} visible)")
    if resolved.type == "mps" and not torch.backends.mps.is_available():
        raise pytest.UsageError(f"--device {name}: MPS is not available here")
    return resolved


def pytest_configure(config):
    if config.getoption("--device") == "cpu":
        os.environ["ACCELERATE_USE_CPU"] = "true"  # read by TrainingArguments and accelerate, here and in subprocesses
    else:  # checked once, before collection (cpu needs no torch import here)
        _resolve_device(config.getoption("--device"))


@pytest.fixture(scope="session")
def device(request):
    """The torch device of ``--device`` (default cpu). On CUDA, TF32 is switched off so that fp32 comparisons keep
    their tolerances."""
    import torch

    resolved = _resolve_device(request.config.getoption("--device"))
    if resolved.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    return resolved


@pytest.fixture(scope="module")
def backbone(tmp_path_factory):
    """A tiny BERT saved as a backbone folder (tokenizer included), one per test module."""
    from tiny import save_tiny_backbone

    return save_tiny_backbone(tmp_path_factory.mktemp("backbone") / "bert")


@pytest.fixture
def corpus(tmp_path):
    """A corpus file of the command-line tests' eight sentences."""
    from cli_runs import SENTENCES

    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(SENTENCES) + "\n")
    return path


@pytest.fixture(scope="session")
def two_process_launch(tmp_path_factory):
    """One launch of two gloo processes on the CPU (tests/launches.py) for the tests that need two processes on one
    machine, its jobs in turn:

    - "simcse", "recse": one step at batch 4 a process (tests/trainers/test_training.py: equal to one process at 8);
    - "nan": process 1's loss turns NaN at step 2 of 4 (tests/trainers/cli/test_faults.py);
    - "streamed", "evaluated": two ``sentcse-train`` runs (tests/trainers/cli/test_runs.py): a streamed corpus of
      short sentences, then a reCSE run that evaluates every 2 steps and ends the processes as the command does.

    The launch's outputs are in its folder, the runs' output folders under it (``streamed/``, ``evaluated/``)."""
    from cli_runs import SENTENCES, flags
    from launches import launch
    from tiny import save_tiny_backbone

    folder = tmp_path_factory.mktemp("two_processes")
    backbone = save_tiny_backbone(folder / "backbone")
    corpus = folder / "corpus.txt"
    corpus.write_text("\n".join(SENTENCES) + "\n")
    short = folder / "short.txt"
    short.write_text("".join(f"{'the big ' * (i % 5)}cat {i}\n" for i in range(64)))
    streamed = flags(backbone, short, folder / "streamed", "--streaming", "true", "--max_length", "64",
                     "--use_cpu", "true", "--max_steps", "3", "--save_steps", "3")
    evaluated = flags(backbone, corpus, folder / "evaluated", "--method", "recse", "--eval_strategy", "steps",
                      "--eval_steps", "2", "--load_best_model_at_end", "true", "--use_cpu", "true",
                      "--logging_steps", "2")
    jobs = [{"name": "simcse", "step": ["simcse", 4, 1]}, {"name": "recse", "step": ["recse", 4, 1]},
            {"name": "nan", "step": ["simcse", 4, 4], "nan_at": [1, 2]},
            {"name": "streamed", "train": streamed}, {"name": "evaluated", "train": evaluated}]
    return launch(folder, jobs, bound=300)  # 28-41 s on one core, loaded or not; past the bound, a hang


@pytest.fixture(scope="session")
def launcher_on_a_nul_corpus(tmp_path_factory):
    """``bash scripts/launch.sh`` (what scripts/train.sh runs: ``accelerate launch examples/train.py``, the
    README's command) on a real NUL-filled corpus of 32 MiB, bad input met before any model; one run for the tests
    of the launcher's exit status and of that input. The folder (corpus.txt; out/ is the run's output folder),
    the finished process and its seconds."""
    folder = tmp_path_factory.mktemp("nul_corpus")
    with open(folder / "corpus.txt", "wb") as handle:
        handle.truncate(32 << 20)  # every byte NUL
    env = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    start = time.perf_counter()
    done = subprocess.run(["bash", str(REPO / "scripts" / "launch.sh"), "--train_file", str(folder / "corpus.txt"),
                           "--output_dir", str(folder / "out")], capture_output=True, text=True, cwd=folder,
                          timeout=300, env=env)
    return folder, done, time.perf_counter() - start
