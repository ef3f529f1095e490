"""A real local Kubernetes control plane with simulated nodes and a service proxy, on loopback.

Start it with ``Sandbox.start()`` (tests, demo) or ``deploymentgate sandbox up``.
"""

from deploymentgate_devkit.sandbox.binaries import MissingBinariesError
from deploymentgate_devkit.sandbox.client import (
    KubectlError,
    Sandbox,
    SandboxApiError,
    SandboxError,
    TeardownReport,
)

__all__ = [
    "KubectlError",
    "MissingBinariesError",
    "Sandbox",
    "SandboxApiError",
    "SandboxError",
    "TeardownReport",
]
