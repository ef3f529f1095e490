"""Where the cluster tools live: the project builds its own, so PATH is not trusted."""

from __future__ import annotations

import os
from pathlib import Path

BIN_ENV = "DEPLOYMENTGATE_BIN"
CONTROL_PLANE_TOOLS = ("etcd", "kube-apiserver", "kube-controller-manager", "kubectl")


class MissingBinariesError(RuntimeError):
    """The locally built Kubernetes tools are not there yet."""


def repo_root() -> Path:
    # devkit/deploymentgate_devkit/sandbox/binaries.py -> the repo root is 3 levels up.
    return Path(__file__).resolve().parents[3]


def bin_dir() -> Path:
    override = os.environ.get(BIN_ENV)
    return Path(override).expanduser().resolve() if override else repo_root() / ".cache" / "bin"


def require_tools(
    tools: tuple[str, ...] = CONTROL_PLANE_TOOLS, directory: Path | None = None
) -> Path:
    """Return the bin dir, or explain how to build what is missing."""
    directory = directory or bin_dir()
    missing = [t for t in tools if not os.access(directory / t, os.X_OK)]
    if missing:
        raise MissingBinariesError(
            f"missing {', '.join(missing)} in {directory}: run `make tools` or "
            f"`cluster/build.sh` (or point {BIN_ENV} at a directory that has them)"
        )
    return directory
