"""The environment of a run (library versions, hardware, sentcse's git commit), as its ``RunRecord`` keeps it.

``package_version`` and ``git_commit`` are the package's only version and commit helpers.
"""

import os
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

PACKAGE_DIR = Path(__file__).resolve().parent
RECORDED_PACKAGES = ("sentcse", "torch", "transformers", "accelerate", "datasets", "huggingface_hub",
                     "sentence-transformers")


def package_version(name: str) -> str | None:
    """The installed version of the distribution ``name``, or None when it is not installed."""
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _git(directory: Path, *args: str) -> subprocess.CompletedProcess | None:
    try:
        return subprocess.run(["git", "-C", str(directory), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):  # no git, or it hangs
        return None


def git_commit(directory: str | Path = PACKAGE_DIR) -> str | None:
    """The short commit of the git work tree holding ``directory`` (default: this package's source), with
    " (with local changes)" when tracked files differ from it; None when ``directory`` is not in a work tree.

    An installed copy (site-packages) that happens to sit inside someone else's repository, e.g. a virtual
    environment in a project folder, is git-ignored there: it reports no commit either."""
    inside = _git(Path(directory), "rev-parse", "--is-inside-work-tree")
    if inside is None or inside.returncode != 0 or inside.stdout.strip() != "true":
        return None
    ignored = _git(Path(directory), "check-ignore", "-q", ".")
    if ignored is None or ignored.returncode == 0:
        return None
    head = _git(Path(directory), "rev-parse", "--short", "HEAD")
    if head is None or head.returncode != 0:
        return None
    dirty = _git(Path(directory), "status", "--porcelain", "--untracked-files=no")
    return head.stdout.strip() + (" (with local changes)" if dirty is not None and dirty.stdout.strip() else "")


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def collect_environment(world_size: int = 1) -> dict[str, Any]:
    """Library versions and hardware of this process (for the card's Environment section)."""
    import torch

    env: dict[str, Any] = {"python": platform.python_version(), "platform": platform.platform()}
    for package in RECORDED_PACKAGES:
        installed = package_version(package)
        if installed:
            env[package] = installed
    commit = git_commit()
    if commit:
        env["sentcse commit"] = commit
    if torch.cuda.is_available():
        names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        env["accelerator"] = ", ".join(sorted(set(names))) + f" ({len(names)} visible per process)"
        env["cuda"] = torch.version.cuda
    else:
        env["accelerator"] = "none (CPU)"
    env["cpu"] = f"{_cpu_name()} ({os.cpu_count()} logical cores)"
    env["processes"] = world_size
    return env


__all__ = ["collect_environment", "git_commit", "package_version"]
