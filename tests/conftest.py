"""Shared fixtures. Tests that need ../shared (data, models) skip where it is absent, but fail under CI=true.

``pytest --device cuda`` (or ``cuda:1``, ``mps``; default ``cpu``) runs the suite's models on that device: the tests
that build one take it from the ``device`` fixture, and the Trainer and CLI runs follow it too (under ``cpu`` the
suite sets ``ACCELERATE_USE_CPU``, which subprocesses inherit, so they stay on the CPU of a GPU machine; otherwise
they take the Trainer's own device, the first visible GPU). The multi-process tests are CPU (gloo) by design."""

import os
import shutil
import tempfile
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
