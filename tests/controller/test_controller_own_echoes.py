"""The watch events of the operator's own status writes wake nobody, even when
they arrive late (issue 13 goal 1).

On an operator adopting 10,000 gates the echo of one write could arrive after
the next, and cost the gate a pass for nothing; the last few versions written
are recognised, and only those.
"""

from __future__ import annotations

from typing import Any, cast

import pytest

from deploymentgate.controller import reconcile
from deploymentgate.controller.reconcile import ECHOES_KEPT, GateReconciler
from deploymentgate.controller.world import World
from deploymentgate.k8s.api import KubeApi
from deploymentgate.metrics import GateMetrics


class CountingApi:
    """Every status write lands as the next resourceVersion; creations succeed."""

    def __init__(self) -> None:
        self.version = 1

    async def patch_gate_status(
        self, namespace: str, name: str, resource_version: str, patch: dict[str, Any]
    ) -> dict[str, Any]:
        self.version += 1
        return {"metadata": {"resourceVersion": str(self.version)}}

    async def create_deployment(self, body: dict[str, Any]) -> None:
        return None


async def test_late_echoes_of_own_writes_are_recognised(
    monkeypatch: pytest.MonkeyPatch, adopting: tuple[dict[str, Any], World]
) -> None:
    monkeypatch.setattr(reconcile, "_post_event", lambda gate, event: None)
    gate, world = adopting
    api = CountingApi()
    reconciler = GateReconciler("shop", "chat", cast(KubeApi, api), GateMetrics())

    for _ in range(ECHOES_KEPT + 1):  # the stored status stays empty: every pass writes
        await reconciler.reconcile(gate, world)
        assert reconciler.wrote_status

    written = [str(v) for v in range(2, api.version + 1)]
    assert all(reconciler.wrote(v) for v in written[-ECHOES_KEPT:]), "a recent echo would wake"
    assert not reconciler.wrote(written[0]), "only the last few writes are kept"
    assert not reconciler.wrote("1"), "a version someone else wrote must wake the gate"
    assert not reconciler.wrote(None)
    await reconciler.aclose()
