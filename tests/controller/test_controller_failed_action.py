"""A pass whose action fails still records its Events and metrics (the status
already says what happened), then reports the failure (issue 9 item 8)."""

from __future__ import annotations

from typing import Any, cast

import pytest

from deploymentgate.controller import reconcile
from deploymentgate.controller.reconcile import GateReconciler
from deploymentgate.controller.world import World
from deploymentgate.core import RecordEvent
from deploymentgate.k8s.api import ApiError, KubeApi
from deploymentgate.metrics import GateMetrics

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
    monkeypatch: pytest.MonkeyPatch, adopting: tuple[dict[str, Any], World]
) -> None:
    posted: list[RecordEvent] = []
    monkeypatch.setattr(reconcile, "_post_event", lambda gate, event: posted.append(event))
    gate, world = adopting
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
