"""Fixtures of the controller tests: a gate about to adopt its team's Deployment."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from deploymentgate.controller.workloads import summarize_deployment, summarize_service
from deploymentgate.controller.world import World
from deploymentgate_devkit.testing import manifests

# The transition log's tests share gatesim.py (tests/core) and
# operating_helpers.py (tests/notify) with the tests of what it feeds.
sys.path.insert(0, str(Path(__file__).parents[1] / "notify"))
sys.path.insert(0, str(Path(__file__).parents[1] / "core"))

NS = "shop"


@pytest.fixture
def adopting() -> tuple[dict[str, Any], World]:
    """A new gate (no status yet) in namespace shop, and the world it sees: the
    team's Deployment chat (2 ready replicas) and Service chat."""
    team = manifests.chat_deployment("chat", replicas=2)
    team["metadata"].update(namespace=NS, uid="uid-team", generation=1)
    team["status"] = {"observedGeneration": 1, "readyReplicas": 2}
    service = manifests.chat_service("chat")
    service["metadata"]["namespace"] = NS
    world = World(
        deployments={(NS, "chat"): [summarize_deployment(team)]},
        services={(NS, "chat"): [summarize_service(service)]},
    )
    gate = {
        "apiVersion": "rollout.deploymentgate.dev/v1alpha1",
        "kind": "DeploymentGate",
        "metadata": {"name": "chat", "namespace": NS, "uid": "uid-gate", "resourceVersion": "1"},
        "spec": manifests.fast_gate_spec("chat"),
        "status": {},
    }
    return gate, world
