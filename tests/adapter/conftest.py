"""Fixtures of the adapter tests: a gate about to adopt its team's Deployment."""

from __future__ import annotations

from typing import Any

import pytest

from deploymentgate.controller.workloads import summarize_deployment, summarize_service
from deploymentgate.controller.world import World
from deploymentgate.testing import manifests

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
