"""Shared fixtures. Tests that need ../shared (data, models) skip where it is absent, but fail under CI=true."""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def locate_shared() -> Path:
    return Path(os.environ.get("SENTCSE_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    shared = locate_shared()
    if not (shared / "data").is_dir() or not (shared / "models").is_dir():
        message = f"offline resources not found at {shared} (set SENTCSE_SHARED to the shared/ folder)"
        if os.environ.get("CI") == "true":
            pytest.fail(message + "; under CI=true they are required")
        pytest.skip(message)
    return shared
