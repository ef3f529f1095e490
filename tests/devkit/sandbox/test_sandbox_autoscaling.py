"""A team's HorizontalPodAutoscaler and PodDisruptionBudget: the real controllers act on them.

The sandbox has no metrics API (no metrics-server), so an HPA's CPU metric stays
unknown; what the HPA controller does anyway, before it reads any metric, is
hold its target between minReplicas and maxReplicas. That is what a gate sees
of a team's HPA here.
"""

from __future__ import annotations

from typing import Any

import pytest
from sandbox_helpers import apply, chat_deployment, wait_ready_pods

from deploymentgate_devkit.sandbox import Sandbox
from deploymentgate_devkit.testing.manifests import chat_autoscaler

pytestmark = pytest.mark.timeout(180)


def _pdb(name: str, selector: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": name},
        # maxUnavailable (not an integer minAvailable) makes the disruption
        # controller find the pods' Deployment for the number it expects.
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector}},
    }


def _hpa_status(
    cluster: Sandbox, namespace: str, name: str, replicas: int
) -> dict[str, Any] | None:
    """The HPA's status once it has seen its target at `replicas`, the number it wants.

    It reports the target's replicas as it read them before scaling, so the
    pass after the one that scaled says `replicas` (at most 5 s later here)."""
    hpa = cluster.request(
        "GET", f"/apis/autoscaling/v2/namespaces/{namespace}/horizontalpodautoscalers/{name}"
    )
    status = hpa.get("status") or {}
    settled = status.get("currentReplicas") == status.get("desiredReplicas") == replicas
    return status if settled else None


def _pdb_status(cluster: Sandbox, namespace: str, name: str, pods: int) -> dict[str, Any] | None:
    pdb = cluster.request(
        "GET", f"/apis/policy/v1/namespaces/{namespace}/poddisruptionbudgets/{name}"
    )
    status = pdb.get("status") or {}
    counted = status.get("expectedPods") == pods and status.get("currentHealthy") == pods
    fresh = status.get("observedGeneration") == pdb["metadata"]["generation"]
    return status if counted and fresh else None


def test_team_hpa_lifts_a_two_replica_deployment_to_its_min_replicas_and_pdb_counts_the_pods(
    cluster: Sandbox, namespace: str
) -> None:
    deployment = chat_deployment("chat", version="v1")
    assert deployment["spec"]["replicas"] == 2
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    container["resources"] = {"requests": {"cpu": "50m"}}  # what CPU utilization is measured by
    apply(
        cluster,
        namespace,
        deployment,
        chat_autoscaler("chat", min_replicas=3, max_replicas=6),
        _pdb("chat", {"app": "chat"}),
    )

    wait_ready_pods(cluster, namespace, "app=chat", 3, timeout=60)
    cluster.wait_for(lambda: _hpa_status(cluster, namespace, "chat", 3), timeout=30)
    scale = cluster.request("GET", f"/apis/apps/v1/namespaces/{namespace}/deployments/chat/scale")
    assert scale["spec"]["replicas"] == 3
    pdb = cluster.wait_for(lambda: _pdb_status(cluster, namespace, "chat", 3), timeout=60)
    assert (pdb["desiredHealthy"], pdb["disruptionsAllowed"]) == (2, 1)

    cluster.request(
        "PATCH",
        f"/apis/autoscaling/v2/namespaces/{namespace}/horizontalpodautoscalers/chat",
        json={"spec": {"minReplicas": 5}},
        content_type="application/merge-patch+json",
    )
    wait_ready_pods(cluster, namespace, "app=chat", 5, timeout=60)
    status = cluster.wait_for(lambda: _hpa_status(cluster, namespace, "chat", 5), timeout=30)
    conditions = {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}
    assert conditions["AbleToScale"][0] == "True"
    # No metrics API: the CPU metric is unknown, and min/max alone moved the replicas.
    assert conditions["ScalingActive"] == ("False", "FailedGetResourceMetric")
    pdb = cluster.wait_for(lambda: _pdb_status(cluster, namespace, "chat", 5), timeout=60)
    assert (pdb["desiredHealthy"], pdb["disruptionsAllowed"]) == (4, 1)
