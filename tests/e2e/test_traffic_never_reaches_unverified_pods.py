"""Unverified pods never get user traffic, by construction (issue 10).

The gated Service selects only pods of the operator's own serving Deployments,
made from verified templates. So whatever scales the team's Deployment (a
GitOps sync with `replicas: 4` while the operator is down, `kubectl scale`
during a verification) its pods serve nobody; and a rollback takes the
canary's pods out of the Service at once.

Users are measured where they meet the app: requests through the sandbox's
service proxy, and the Service's EndpointSlices sampled every 100 ms.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

import pytest
import yaml
from rollout_helpers import (
    GateWorld,
    StartOperator,
    chat_deployment,
    chat_service,
    gate,
    gate_spec,
    pod_version,
    wait_rested,
    wait_until,
)
from traffic_helpers import (
    SERVING_LABEL,
    EndpointSampler,
    UserTraffic,
    assert_never_served,
    bad_deployment,
    parse_time,
    ready,
    team_pods,
)

REPLICAS = 2
BAD = "v-bad"
HOLD_SECONDS = 30  # the window with the operator down
SPEC = gate_spec()


def adopted(world: GateWorld, start_operator: StartOperator, spec: dict[str, Any] = SPEC) -> Any:
    """v1 serving through its gate (Idle), the way every scenario starts."""
    world.apply(chat_deployment(version="v1", replicas=REPLICAS), chat_service())
    operator = start_operator(world.namespace)
    world.apply(gate(spec))
    world.wait_phase("Idle", 60)
    world.wait_endpoints(v1=REPLICAS)
    return operator


@pytest.mark.timeout(180)
def test_gitops_sync_with_replicas_while_the_operator_is_down_serves_nobody(
    world: GateWorld, start_operator: StartOperator
) -> None:
    operator = adopted(world, start_operator)
    operator.stop()  # its own upgrade, a crash loop: nobody is scaling anything back

    traffic = UserTraffic(world).start()
    endpoints = EndpointSampler(world).start()
    try:
        applied = time.monotonic()
        world.apply(bad_deployment(BAD, replicas=4))

        # The team's four pods of the broken image come up and are ready ...
        wait_until(
            lambda: sum(1 for p in team_pods(world, BAD) if ready(p)) == 4,
            HOLD_SECONDS,
            describe=world.diagnostics,
            what=f"4 ready pods of {BAD} from the team's Deployment",
        )
        # ... and for the whole window not one user request reaches them.
        time.sleep(max(0.0, HOLD_SECONDS - (time.monotonic() - applied)))
        assert_never_served(traffic, endpoints, BAD)
        assert set(traffic.served()) == {"v1"}, traffic.served()

        # Back up, the operator verifies that revision at 0% and rejects it.
        operator.start()
        status = world.wait_phase("RolledBack", 90, allowed={"Idle", "Verifying"})
    finally:
        traffic.stop()
        endpoints.stop()
    assert "websocket" in (status.get("rollbackReason") or "").lower(), status
    assert status["revision"] != status["stableRevision"]
    reasons = [e["reason"] for e in world.events()]
    assert "VerificationStarted" in reasons, reasons
    assert_never_served(traffic, endpoints, BAD)
    # The manifest's `replicas: 4` is the team's wish for capacity: v1 serves on 4.
    world.wait_endpoints(v1=4)
    assert world.traffic(20) == Counter(v1=20)


@pytest.mark.timeout(180)
def test_kubectl_scale_during_verification_serves_nobody(
    world: GateWorld, start_operator: StartOperator
) -> None:
    operator = adopted(world, start_operator)
    traffic = UserTraffic(world).start()
    endpoints = EndpointSampler(world).start()
    scaled = 0
    most_ready = 0
    created: set[str] = set()
    try:
        world.set_version(BAD, mode="ws-missing-event")
        wait_until(
            lambda: (
                world.status().get("phase") == "Verifying"
                and world.deployment("chat-verify") is not None
            ),
            30,
            describe=world.diagnostics,
            what="verification under way",
        )
        # A person (or an HPA) keeps scaling the team's Deployment up while the
        # operator, for hygiene, scales it back down: its pods may well get ready.
        while world.status().get("phase") == "Verifying":
            world.kubectl("scale", "deployment/chat", "--replicas=4")
            scaled += 1
            for _ in range(4):
                pods = team_pods(world, BAD)
                created |= {p["metadata"]["name"] for p in pods}
                most_ready = max(most_ready, sum(1 for p in pods if ready(p)))
                time.sleep(0.25)
        status = world.wait_phase("RolledBack", 60, allowed={"Verifying"})
        wait_rested(operator)  # what the rollback still does is done, and watched
    finally:
        traffic.stop()
        endpoints.stop()
    print(
        f"scaled {scaled} times: {len(created)} team pods of {BAD} created,"
        f" at most {most_ready} ready at once"
    )
    assert scaled >= 1, "verification ended before the Deployment could be scaled"
    assert created, f"scaling the team's Deployment created no pod of {BAD}: nothing was tried"
    assert "websocket" in (status.get("rollbackReason") or "").lower(), status
    assert_never_served(traffic, endpoints, BAD)
    assert set(traffic.served()) == {"v1"}, traffic.served()


def canary_health_fails_later(version: str) -> dict[str, Any]:
    """A version that passes verification, then fails the gate's /health probe while
    its pods stay Ready (the readiness probe reads /version): only the operator can
    take them out of the Service."""
    manifest = chat_deployment(
        version=version,
        replicas=REPLICAS,
        mode="health-fails-after-start",
        env={"CHAT_HEALTHY_SECONDS": "7"},
    )
    container = manifest["spec"]["template"]["spec"]["containers"][0]
    container["readinessProbe"]["httpGet"]["path"] = "/version"
    return manifest


@pytest.mark.timeout(180)
def test_rollback_leaves_no_ready_canary_endpoint_a_second_after_the_decision(
    world: GateWorld, start_operator: StartOperator
) -> None:
    spec = gate_spec(traffic={"steps": [50, 100], "stepDuration": "60s", "progressDeadline": "90s"})
    adopted(world, start_operator, spec)
    endpoints = EndpointSampler(world, interval=0.1).start()
    try:
        world.apply(canary_health_fails_later(BAD))
        status = world.wait_phase("RolledBack", 90, allowed={"Idle", "Verifying", "Progressing"})
        decided = parse_time(status["phaseSince"])
        wait_until(lambda: time.time() > decided + 4, 10, interval=0.1, what="4 s of samples after")
    finally:
        endpoints.stop()

    assert "health" in (status.get("rollbackReason") or "").lower(), status
    before = endpoints.between(until=decided)
    assert any(s.ready[BAD] for s in before), (
        f"no ready canary endpoint was seen before the rollback: the test proves nothing"
        f" ({len(before)} samples, {Counter(v for s in before for v in s.ready)})"
    )
    after = endpoints.between(since=decided + 1.0)
    assert len(after) >= 20, f"too few samples after the decision: {len(after)}"
    late = [s for s in after if s.ready[BAD]]
    assert not late, f"canary endpoints still ready >1 s after the decision: {late[:3]}"
    assert endpoints.max_gap() < 1.5, f"the sampler stalled for {endpoints.max_gap():.1f}s"
    last_ready = max((s.at for s in endpoints.samples if s.ready[BAD]), default=0.0)
    print(f"last ready canary endpoint {last_ready - decided:+.2f}s after the decision")
    assert min(s.total for s in endpoints.samples) > 0, "the Service went without endpoints"
    world.wait_endpoints(v1=REPLICAS)
    assert {pod_version(p) for p in world.pods() if ready(p)} >= {"v1"}


@pytest.mark.timeout(120)
def test_a_gitops_reapply_that_drops_the_serving_key_is_undone_at_once(
    world: GateWorld, start_operator: StartOperator
) -> None:
    """A GitOps tool applying the Service server-side with force (Flux, Argo CD with
    ServerSideApply) replaces the whole selector (it is atomic): the serving key is
    gone until the operator puts it back. It must do so within a few seconds (the
    docs/gitops.md tells GitOps users to ignore the selector, this bounds the damage if not)."""
    operator = adopted(world, start_operator)
    team_service = yaml.safe_dump(chat_service())
    gated = world.service_selector()
    assert gated == {"app": "chat", SERVING_LABEL: "chat"}, gated
    applied = world.kubectl(
        "apply",
        "--server-side",
        "--force-conflicts",
        "--field-manager=gitops",
        "-o",
        "json",
        "-f",
        "-",
        input=team_service,
    )
    dropped = time.monotonic()
    # What the API server stored for the apply (the operator may be back already).
    assert json.loads(applied.stdout)["spec"]["selector"] == {"app": "chat"}, applied.stdout
    wait_until(
        lambda: world.service_selector() == gated,
        3,
        interval=0.05,
        describe=lambda: f"selector: {world.service_selector()}",
        what="the serving key back in the Service's selector",
    )
    print(f"serving key back after {time.monotonic() - dropped:.2f}s")
    wait_rested(operator)  # and it stays back once the operator is done with the change
    assert world.service_selector() == gated
    assert world.status()["phase"] == "Idle"
