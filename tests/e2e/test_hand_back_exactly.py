"""Deleting a gate gives the team back exactly what it wrote (issue 10).

The Service's selector loses only the operator's serving key, the team's
Deployment gets its replica count back with its template untouched, and the
operator's own Deployments go only once the Service selects the team's pods
again: the Service never has zero ready endpoints (sampled every 100 ms), mid
rollout or after a promotion.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest
from rollout_helpers import (
    GateWorld,
    StartOperator,
    chat_deployment,
    chat_service,
    gate,
    gate_spec,
    pod_version,
    wait_until,
)
from traffic_helpers import (
    GATE_LABEL,
    SERVING_LABEL,
    EndpointSampler,
    UserTraffic,
    ready,
    serving_deployments,
)

from deploymentgate_devkit.sandbox import SandboxApiError

REPLICAS = 4


def service(world: GateWorld) -> dict[str, Any]:
    return dict(world.get(f"/api/v1/namespaces/{world.namespace}/services/chat"))


def written(body: dict[str, Any]) -> dict[str, Any]:
    """The parts of a Deployment the team writes (the API server's defaults included)."""
    spec = body["spec"]
    return {"selector": spec["selector"], "template": spec["template"]}


def gate_gone(world: GateWorld) -> bool:
    try:
        world.gate()
    except SandboxApiError as exc:
        return exc.status == 404
    return False


def hand_back(world: GateWorld, *, version: str, as_written: dict[str, Any]) -> None:
    """Delete the gate with users on the Service; check what the team gets back
    (`as_written`: the team's Deployment read right after the team's last write)."""
    team_before = world.deployment("chat")
    assert team_before is not None
    assert written(team_before) == written(as_written), "the gate changed the team's template"
    gated = service(world)
    assert gated["spec"]["selector"] == {"app": "chat", SERVING_LABEL: "chat"}, gated["spec"]
    assert serving_deployments(world), "no serving Deployment to hand back from"

    endpoints = EndpointSampler(world, interval=0.1).start()
    traffic = UserTraffic(world, interval=0.05).start()
    try:
        deleted = time.monotonic()
        world.kubectl("delete", "deploymentgate", "chat", "--wait=false")
        wait_until(lambda: gate_gone(world), 60, describe=world.diagnostics, what="gate gone")
        gone = time.monotonic() - deleted

        def settled() -> bool:
            team = world.deployment("chat") or {}
            pods = [p for p in world.pods() if ready(p)]
            return (
                int((team.get("status") or {}).get("readyReplicas") or 0) == REPLICAS
                and not serving_deployments(world)
                and world.deployment("chat-verify") is None
                and {pod_version(p) for p in pods} == {version}
                and all(GATE_LABEL not in (p["metadata"].get("labels") or {}) for p in pods)
            )

        wait_until(settled, 60, describe=world.diagnostics, what="only the team's pods left")
        world.wait_endpoints(**{version: REPLICAS})
        # Users keep coming after the hand-back, which may take only 2 s: at
        # least 50 of their requests are judged, before, during and after it.
        wait_until(lambda: sum(traffic.served().values()) >= 50, 20, what="50 requests sent")
        print(f"hand-back: gate gone {gone:.1f}s, only team pods {time.monotonic() - deleted:.1f}s")
    finally:
        endpoints.stop()
        traffic.stop()

    samples = endpoints.samples
    assert len(samples) >= 20, f"too few endpoint samples: {len(samples)} {endpoints.errors[-3:]}"
    assert endpoints.max_gap() < 1.5, f"the sampler stalled for {endpoints.max_gap():.1f}s"
    empty = [s for s in samples if s.total == 0]
    assert not empty, f"{len(empty)} of {len(samples)} samples saw no ready endpoint"
    served = traffic.served()
    assert sum(served.values()) >= 50, served
    assert set(served) <= {"v1", "v2"}, f"requests failed during the hand-back: {served}"

    team = world.deployment("chat")
    assert team is not None
    assert written(team) == written(team_before), "the team's template or selector changed"
    assert team["spec"]["replicas"] == REPLICAS
    assert team["metadata"]["uid"] == team_before["metadata"]["uid"]
    back = service(world)
    assert back["spec"]["selector"] == {"app": "chat"}, back["spec"]
    assert back["spec"] == {**gated["spec"], "selector": {"app": "chat"}}
    assert world.traffic(30) == Counter({version: 30})


@pytest.mark.timeout(180)
def test_deleting_the_gate_mid_rollout_gives_back_exactly_what_the_team_wrote(
    world: GateWorld, start_operator: StartOperator
) -> None:
    world.apply(chat_deployment(version="v1", replicas=REPLICAS), chat_service())
    original = service(world)["spec"]
    start_operator(world.namespace)
    traffic = {"steps": [50, 100], "stepDuration": "10m", "progressDeadline": "90s"}
    world.apply(gate(gate_spec(traffic=traffic)))
    world.wait_phase("Idle", 60)
    world.set_version("v2")
    as_written = world.deployment("chat")
    assert as_written is not None
    wait_until(
        lambda: world.status().get("stepReadySince") and world.status().get("canaryWeight") == 50,
        60,
        describe=world.diagnostics,
        what="step 1 (50%) in effect",
    )
    # Half of the ready endpoints on each revision, however the router makes it.
    wait_until(
        lambda: (e := world.endpoint_versions())["v1"] == e["v2"] > 0 and len(e) == 2,
        10,
        describe=lambda: f"endpoints: {dict(world.endpoint_versions())}",
        what="v1 and v2 serving half each",
    )
    # The team's Deployment holds what the team wrote last: v2, the revision under way.
    hand_back(world, version="v2", as_written=as_written)
    assert service(world)["spec"] == original


@pytest.mark.timeout(180)
def test_deleting_the_gate_after_promotion_gives_back_exactly_what_the_team_wrote(
    world: GateWorld, start_operator: StartOperator
) -> None:
    world.apply(chat_deployment(version="v1", replicas=REPLICAS), chat_service())
    original = service(world)["spec"]
    start_operator(world.namespace)
    traffic = {"steps": [50, 100], "stepDuration": "3s", "progressDeadline": "90s"}
    world.apply(gate(gate_spec(traffic=traffic)))
    world.wait_phase("Idle", 60)
    world.set_version("v2")
    as_written = world.deployment("chat")
    assert as_written is not None
    world.wait_phase("Promoted", 90, allowed={"Idle", "Verifying", "Progressing", "Promoting"})
    world.wait_endpoints(15, v2=REPLICAS)
    hand_back(world, version="v2", as_written=as_written)
    assert service(world)["spec"] == original
