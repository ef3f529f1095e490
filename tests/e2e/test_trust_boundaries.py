"""The operator trusts nothing it did not write (issue 9, items 1-3).

- A revision's identity is a hash the operator computes from the team's
  template; a `deploymentgate.dev/revision` label in that template (copied
  from a serving Deployment) does not freeze it.
- A second gate for an already-gated Deployment is Invalid, naming the gate
  that holds it, and the first gate's serving pods are never disturbed.
- A gate never touches an object it does not own, even one at a name it
  would use (`<target>-verify`): it is Blocked with a name-conflict message.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from itertools import pairwise
from typing import Any

import pytest
from rollout_helpers import (
    GateWorld,
    StartOperator,
    chat_deployment,
    chat_service,
    gate,
    gate_spec,
    passes,
    wait_rested,
    wait_until,
)
from traffic_helpers import (
    GATE_LABEL,
    REVISION_LABEL,
    ROLE_LABEL,
    SERVING_LABEL,
    EndpointSampler,
    ReplicaSampler,
    UserTraffic,
    bad_deployment,
    serving_deployments,
    with_template_labels,
)

from deploymentgate_devkit.sandbox import SandboxApiError
from deploymentgate_devkit.testing import OperatorProcess

REPLICAS = 2
BAD = "v-bad"
MAX_GAP = 2.0  # seconds: a sampler that stalled longer proves nothing of that time


def adopted(
    world: GateWorld, start_operator: StartOperator
) -> tuple[dict[str, Any], OperatorProcess]:
    world.apply(chat_deployment(version="v1", replicas=REPLICAS), chat_service())
    operator = start_operator(world.namespace)
    world.apply(gate(gate_spec()))
    status = world.wait_phase("Idle", 60)
    world.wait_endpoints(v1=REPLICAS)
    return status, operator


def assert_covered(times: Sequence[float], since: float, until: float, what: str) -> None:
    """A sampler really watched from `since` to `until` (time.time()), never
    pausing longer than MAX_GAP: what it did not see, it cannot vouch for."""
    assert times, f"no {what} sample"
    assert times[0] <= since and times[-1] >= until, (
        f"{what} samples cover {times[0] - since:+.1f}s..{times[-1] - until:+.1f}s of the window"
    )
    gap = max((b - a for a, b in pairwise(times)), default=0.0)
    assert gap <= MAX_GAP, f"{what} sampling paused for {gap:.1f}s"


def untouched_view(body: dict[str, Any]) -> dict[str, Any]:
    """What anyone writing a Deployment could change (status aside)."""
    meta = body["metadata"]
    return {
        "uid": meta["uid"],
        "generation": meta.get("generation"),
        "labels": meta.get("labels"),
        "ownerReferences": meta.get("ownerReferences"),
        "spec": body["spec"],
    }


@pytest.mark.timeout(180)
def test_a_copied_revision_label_does_not_freeze_the_revision(
    world: GateWorld, start_operator: StartOperator
) -> None:
    status, operator = adopted(world, start_operator)
    stable = status["stableRevision"]
    (serving,) = serving_deployments(world)
    copied = serving["spec"]["template"]["metadata"]["labels"]
    assert copied[REVISION_LABEL] == stable, copied
    # What a team copying that template into its own manifest would write, minus
    # the Service's key: with that key the team's own pods would match the gated
    # Service, which only admission control (not the operator) can forbid.
    labels = {k: v for k, v in copied.items() if k != SERVING_LABEL}
    assert {GATE_LABEL, ROLE_LABEL, REVISION_LABEL} <= set(labels)

    traffic = UserTraffic(world).start()
    endpoints = EndpointSampler(world).start()
    try:
        # The same v1, now labelled: the computed revision is the same, nothing to roll out.
        # The operator looks at the changed Deployment, and rests.
        seen = passes(operator, "deployment")
        world.apply(with_template_labels(chat_deployment(version="v1", replicas=REPLICAS), labels))
        wait_rested(operator, after=seen, cause="deployment")
        same = world.status()
        assert same["phase"] == "Idle" and same["stableRevision"] == stable, same
        assert same.get("revision") in (None, stable), same
        assert "RevisionDetected" not in [e["reason"] for e in world.events()]

        # The image changes under the label: a new revision, verified and rejected.
        world.apply(with_template_labels(bad_deployment(BAD, replicas=REPLICAS), labels))
        wait_until(
            lambda: world.status().get("revision") not in (None, stable),
            30,
            describe=world.diagnostics,
            what="a new computed revision",
        )
        status = world.wait_phase("RolledBack", 90, allowed={"Idle", "Verifying"})
        wait_rested(operator)  # what the rollback still does is done, and watched
    finally:
        traffic.stop()
        endpoints.stop()
    assert status["revision"] != stable and len(status["revision"]) >= 16, status
    assert status["stableRevision"] == stable
    served = traffic.served()
    assert sum(served.values()) >= 100, f"too little user traffic recorded: {served}"
    assert traffic.reached(BAD) == 0, f"users reached the unverified image: {served}"
    assert len(endpoints.samples) >= 20, endpoints.errors[-3:]
    assert not [s for s in endpoints.samples if s.ready[BAD]], "the unverified image was selected"
    world.wait_endpoints(v1=REPLICAS)


@pytest.mark.timeout(180)
def test_a_second_gate_for_a_gated_deployment_is_invalid_and_disturbs_nothing(
    world: GateWorld, start_operator: StartOperator
) -> None:
    status, operator = adopted(world, start_operator)
    serving_name = f"chat-{status['stableRevision']}"
    assert world.deployment(serving_name) is not None, [
        d["metadata"]["name"] for d in serving_deployments(world)
    ]
    replicas = ReplicaSampler(world, lambda: world.deployment(serving_name)).start()
    endpoints = EndpointSampler(world, interval=0.2).start()
    second = GateWorld(world.cluster, world.namespace, gate_name="chat-b")
    try:
        wait_until(lambda: replicas.samples and endpoints.samples, 10, what="samplers running")
        began = time.time()
        # The duplicate's claim wakes the first gate: it looks at it, and so does
        # the duplicate itself; nothing of the first gate may move while they do.
        claims = passes(operator, "claim")
        second.apply(gate(gate_spec(), name="chat-b"))
        invalid = second.wait_phase("Invalid", 30)
        assert "gate chat" in (invalid.get("message") or ""), invalid
        wait_rested(operator, after=claims, cause="claim")
        first = world.status()
        assert first["phase"] == "Idle" and first["stableRevision"] == status["stableRevision"]
        # Deleting the duplicate hands nothing back: it never held anything.
        # (kubectl returns once the operator has released its finalizer.)
        second.kubectl("delete", "deploymentgate", "chat-b", "--timeout=30s")
        wait_rested(operator)
        ended = time.time()
        wait_until(
            lambda: replicas.samples[-1][0] >= ended and endpoints.samples[-1].at >= ended,
            10,
            what="samples after the window",
        )
    finally:
        replicas.stop()
        endpoints.stop()
    assert_covered([t for t, _ in replicas.samples], began, ended, "replica")
    assert replicas.minimum() == REPLICAS, f"serving Deployment dipped: {replicas.samples}"
    assert_covered([s.at for s in endpoints.samples], began, ended, "endpoint")
    assert min(s.ready["v1"] for s in endpoints.samples) == REPLICAS
    selector = world.get(f"/api/v1/namespaces/{world.namespace}/services/chat")["spec"]["selector"]
    assert selector.get(SERVING_LABEL) == "chat", selector
    assert world.status()["phase"] == "Idle"
    assert world.replicas(serving_name) == REPLICAS


@pytest.mark.timeout(180)
def test_a_gate_never_touches_a_deployment_it_does_not_own(
    world: GateWorld, start_operator: StartOperator
) -> None:
    email = GateWorld(world.cluster, world.namespace, gate_name="email")
    email.apply(chat_deployment(version="v1", replicas=1, name="email-verify"))
    email.kubectl("rollout", "status", "deployment/email-verify", "--timeout=60s")
    before = email.deployment("email-verify")
    assert before is not None
    operator = start_operator(world.namespace)

    def unrelated_untouched() -> None:
        now = email.deployment("email-verify")
        assert now is not None, "Deployment email-verify was deleted"
        assert untouched_view(now) == untouched_view(before)
        assert int((now.get("status") or {}).get("readyReplicas") or 0) == 1, now.get("status")

    email.apply(
        gate(
            gate_spec(targetRef={"kind": "Deployment", "name": "email"}, service="email"),
            name="email",
        )
    )
    wait_until(lambda: email.status().get("phase"), 30, what="the gate email read")
    wait_rested(operator)  # whatever it would do with its Deployment's name, it did
    unrelated_untouched()

    # Once `email` exists, the gate would need the name `email-verify`: Blocked.
    app = chat_deployment(version="v1", replicas=REPLICAS, name="email")
    svc = chat_service("email")
    email.apply(app, svc)
    app_before = email.deployment("email")
    svc_before = email.get(f"/api/v1/namespaces/{world.namespace}/services/email")
    blocked = email.wait_phase("Blocked", 60)
    message = blocked.get("message") or ""
    assert "name conflict" in message and "email-verify" in message, blocked
    assert "not owned by gate email" in message, blocked
    wait_rested(operator)
    unrelated_untouched()
    app_now = email.deployment("email")
    assert app_before is not None and app_now is not None
    assert untouched_view(app_now) == untouched_view(app_before)
    assert app_now["spec"]["replicas"] == REPLICAS
    svc_now = email.get(f"/api/v1/namespaces/{world.namespace}/services/email")
    assert svc_now["spec"] == svc_before["spec"] and svc_now["spec"]["selector"] == {"app": "email"}
    assert not serving_deployments(email)

    email.kubectl("delete", "deploymentgate", "email", "--timeout=30s")
    with pytest.raises(SandboxApiError):
        email.gate()
    unrelated_untouched()
