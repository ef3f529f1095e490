"""A team's HPA keeps governing what serves, through adoption, a rollout,
promotion and hand-back (issue 20), on the local cluster's real
HorizontalPodAutoscaler controller.

The local cluster has no metrics source, so an HPA acts on its bounds only:
`minReplicas` is the rule these tests can observe (the HPA controller applies
it before it reads any metric).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from rollout_helpers import (
    GateWorld,
    StartOperator,
    chat_deployment,
    chat_service,
    gate,
    gate_spec,
    wait_until,
)

from deploymentgate_devkit.testing.manifests import chat_autoscaler

COPY = "chat-serving"  # the gate's copy of the team's HPA (k8s/builders.autoscaler_name)


def hpa(world: GateWorld, name: str) -> dict[str, Any] | None:
    result = world.kubectl("get", "hpa", name, "-o", "json", check=False)
    return json.loads(result.stdout) if result.returncode == 0 else None


def at_least(world: GateWorld, n: int, version: str, timeout: float) -> None:
    wait_until(
        lambda: world.endpoint_versions().get(version, 0) >= n,
        timeout,
        describe=lambda: f"endpoints {dict(world.endpoint_versions())}; {world.diagnostics()}",
        what=f"at least {n} ready endpoints of {version} behind the Service",
    )


def set_minimum(world: GateWorld, n: int) -> None:
    patch = json.dumps({"spec": {"minReplicas": n}})
    world.kubectl("patch", "hpa", "chat", "--type=merge", "-p", patch)


@pytest.mark.timeout(300)
def test_a_team_hpa_governs_the_serving_pods_from_adoption_to_hand_back(
    world: GateWorld, start_operator: StartOperator
) -> None:
    team = chat_autoscaler("chat", min_replicas=3, max_replicas=6)
    world.apply(chat_deployment(version="v1", replicas=2), chat_service(), team)
    start_operator(world.namespace)
    world.apply(gate(gate_spec(traffic={"steps": [50, 100], "stepDuration": "3s"})))
    world.wait_phase("Idle", 60)

    # Adoption: the minimum of 3 reaches the Service, the team's HPA as they wrote it.
    at_least(world, 3, "v1", 60)
    written = hpa(world, "chat")
    assert written is not None and written["spec"]["minReplicas"] == 3
    assert written["spec"]["scaleTargetRef"]["name"] == "chat"
    assert world.replicas("chat") == 0
    stable = world.status()["stableRevision"]
    copy = hpa(world, COPY)
    assert copy is not None and copy["spec"]["scaleTargetRef"]["name"] == f"chat-{stable}"

    # The team raises the minimum: 5 serve within 60 s.
    set_minimum(world, 5)
    at_least(world, 5, "v1", 60)

    # A promoted rollout: still at least 5, and the HPA acts on the new stable revision.
    world.set_version("v2")
    status = world.wait_phase(
        "Promoted", 150, allowed={"Idle", "Verifying", "Progressing", "Promoting"}
    )
    new = status["stableRevision"]
    assert new != stable
    at_least(world, 5, "v2", 60)

    def acting_on_new() -> bool:
        copy = hpa(world, COPY)
        return bool(
            copy
            and copy["spec"]["scaleTargetRef"]["name"] == f"chat-{new}"
            and (copy.get("status") or {}).get("currentReplicas", 0) >= 5
        )

    wait_until(acting_on_new, 60, describe=lambda: str(hpa(world, COPY)), what="the copy on v2")
    assert world.status()["replicas"] >= 5

    # Hand-back: the copy goes, the team's Deployment runs the size it had, and
    # the team's own HPA governs it again.
    world.kubectl("delete", "deploymentgate", "chat", "--timeout=90s")
    assert hpa(world, COPY) is None
    assert (world.replicas("chat") or 0) >= 5

    def team_governs() -> bool:
        status = (hpa(world, "chat") or {}).get("status") or {}
        return int(status.get("currentReplicas") or 0) >= 5

    wait_until(team_governs, 60, describe=lambda: str(hpa(world, "chat")), what="team HPA acting")
