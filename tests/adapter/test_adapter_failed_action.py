"""A pass whose action fails still records its Events and metrics (the status
already says what happened), then reports the failure (issue 9 item 8)."""

from __future__ import annotations

from typing import Any, cast

import pytest

from deploymentgate.controller import reconcile
from deploymentgate.controller.reconcile import GateReconciler
from deploymentgate.controller.workloads import summarize_deployment, summarize_service
from deploymentgate.controller.world import World
from deploymentgate.core import RecordEvent
from deploymentgate.k8s.api import ApiError, KubeApi
from deploymentgate.metrics import GateMetrics
from deploymentgate.testing import manifests

NS = "shop"


class FailingCreates:
    """Status writes land; creating a Deployment is refused."""

    def __init__(self) -> None:
        self.status_patches: list[dict[str, Any]] = []

    async def patch_gate_status(
        self, namespace: str, name: str, resource_version: str, patch: dict[str, Any]
    ) -> dict[str, Any]:
        self.status_patches.append(patch)
        return {}

    async def create_deployment(self, body: dict[str, Any]) -> None:
        raise ApiError(500, "etcd is having a bad day")


async def test_events_and_metrics_of_a_pass_survive_a_failed_action(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    posted: list[RecordEvent] = []
    monkeypatch.setattr(reconcile, "_post_event", lambda gate, event: posted.append(event))
    team = manifests.chat_deployment("chat", replicas=2)
    team["metadata"].update(namespace=NS, uid="uid-team", generation=1)
    team["status"] = {"observedGeneration": 1, "readyReplicas": 2}
    service = manifests.chat_service("chat")
    service["metadata"]["namespace"] = NS
    deployment, svc = summarize_deployment(team), summarize_service(service)
    world = World(deployments={(NS, "chat"): [deployment]}, services={(NS, "chat"): [svc]})
    gate = {
        "apiVersion": "rollout.deploymentgate.dev/v1alpha1",
        "kind": "DeploymentGate",
        "metadata": {"name": "chat", "namespace": NS, "uid": "uid-gate", "resourceVersion": "1"},
        "spec": manifests.fast_gate_spec("chat"),
        "status": {},
    }
    api, metrics = FailingCreates(), GateMetrics()
    reconciler = GateReconciler(NS, "chat", cast(KubeApi, api), metrics)

    with pytest.raises(ApiError, match="bad day"):
        await reconciler.reconcile(gate, world)

    assert api.status_patches and api.status_patches[0]["phase"] == "Initializing"
    assert [e.reason.value for e in posted] == ["Adopted"], posted
    phase = metrics.registry.get_sample_value(
        "deploymentgate_gate_phase", {"namespace": NS, "gate": "chat", "phase": "Initializing"}
    )
    assert phase == 1.0
    await reconciler.aclose()
