"""Shared fixtures. Tests that need ../shared (data, models) skip where it is absent, but fail under CI=true."""

import os
from pathlib import Path

import pytest

# Tests must never touch the network: switch the Hugging Face Hub and datasets off before anything imports them.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]


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
