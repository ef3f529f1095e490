"""A revision that breaks after its promotion is reverted at once (issue 20 item 1).

v2 passes verification and both steps, is promoted, and 45 s after its pods
started it breaks (the reference backend's breaks-after-start: /health 503,
every /api/chat 500). The gate, with the default watch after promotion
(rollback.watchAfterPromotion 10m), still runs its triggers on v2; v1's pods
ran on out of the Service. Health failing for healthFailingFor (5 s here), or
the error rate first, reverts to them within 2 s more: the same pods (same UIDs), no restart, and
users meet failures only between v2 breaking and the revert.
"""

from __future__ import annotations

import copy
import time
from collections import Counter

import pytest
from rollout_helpers import (
    GateWorld,
    StartOperator,
    chat_deployment,
    chat_service,
    gate,
    gate_spec,
    metric_samples,
    metric_value,
    pod_version,
    wait_until,
)
from test_operator_sign_offs import kubectl_gate
from traffic_helpers import SERVING_LABEL, UserTraffic, parse_time

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(300)]

REPLICAS = 3
HEALTHY_SECONDS = 45  # each v2 pod breaks this long after its startup completed
FAILING_FOR = 5.0  # the fast spec's rollback.healthFailingFor
REVERTS = "deploymentgate_reverts_after_promotion_total"
ROLE = "deploymentgate.dev/role"


def default_watch_spec() -> dict[str, object]:
    """The fast spec with steps 50 -> 100 and the default watch after promotion."""
    spec = copy.deepcopy(
        gate_spec(traffic={"steps": [50, 100], "stepDuration": "4s", "progressDeadline": "90s"})
    )
    del spec["rollback"]["watchAfterPromotion"]  # the default, 10m
    return spec


def v1_pods(world: GateWorld) -> dict[str, dict[str, str]]:
    """v1's live serving pods (the gate's, not the team's own) by UID: their labels."""
    return {
        p["metadata"]["uid"]: p["metadata"].get("labels") or {}
        for p in world.pods()
        if pod_version(p) == "v1" and (p["metadata"].get("labels") or {}).get(ROLE) == "serving"
    }


def test_a_revision_breaking_after_promotion_is_reverted_to_the_same_pods_at_once(
    world: GateWorld, start_operator: StartOperator
) -> None:
    world.apply(chat_deployment(version="v1", replicas=REPLICAS), chat_service())
    operator = start_operator(world.namespace)
    world.apply(gate(default_watch_spec()))
    world.wait_phase("Idle", 60)
    before = v1_pods(world)
    assert len(before) == REPLICAS and all(SERVING_LABEL in labels for labels in before.values())

    users = UserTraffic(world).start()
    try:
        world.set_version(
            "v2", mode="breaks-after-start", CHAT_HEALTHY_SECONDS=str(HEALTHY_SECONDS)
        )
        promoted = world.wait_phase("Promoted", 120)
        assert promoted["previousRevision"] and promoted["watchUntil"], promoted
        assert "watched until" in promoted["message"], promoted["message"]
        # v1's pods run on, out of the Service: no serving key, no endpoint.
        wait_until(
            lambda: world.endpoint_versions() == Counter(v2=REPLICAS),
            20,
            describe=world.diagnostics,
            what="only v2 behind the Service after promotion",
        )
        parked = v1_pods(world)
        assert parked.keys() == before.keys()
        assert not any(SERVING_LABEL in labels for labels in parked.values()), parked

        reverted = world.wait_phase("RolledBack", HEALTHY_SECONDS + 60, allowed=("Promoted",))
        wait_until(
            lambda: world.endpoint_versions() == Counter(v1=REPLICAS),
            10,
            describe=world.diagnostics,
            what="v1 back behind the Service",
        )
        time.sleep(3)
    finally:
        users.stop()

    entry = next(h for h in reverted["history"] if h["reason"] == "RevertedAfterPromotion")
    reverted_at = parse_time(entry["time"])
    # Whichever trigger fires first: health failing for 5 s, or the error rate of
    # the gate's own requests (its 5xx count from the first broken answer).
    failing_since = min(
        parse_time(p["failingSince"])
        for p in reverted["probes"].values()
        if isinstance(p, dict) and p.get("failingSince")
    )
    assert reverted["stableRevision"] == promoted["previousRevision"]
    assert reverted["rollbackTrigger"] in ("healthFailing", "errorRate"), reverted
    assert "reverted after promotion" in reverted["message"]
    assert reverted_at - failing_since <= FAILING_FOR + 2, (failing_since, reverted_at)

    # The same pods as before the promotion, serving again; none restarted.
    after = v1_pods(world)
    assert after.keys() == before.keys()
    assert all(SERVING_LABEL in labels for labels in after.values())
    restarts = [
        c.get("restartCount", 0)
        for p in world.pods()
        if pod_version(p) == "v1"
        for c in (p.get("status") or {}).get("containerStatuses") or []
    ]
    assert not any(restarts), restarts

    # Users: failures only from v2 breaking to the revert (plus the Service's
    # endpoint update), and v1 alone once it is back.
    failures = [a for a in users.answers if a.version not in ("v1", "v2")]
    assert failures, "v2 never broke under the users"
    first_break = failing_since - 2.0  # the probe runs every second
    assert all(first_break <= a.at <= reverted_at + 3.0 for a in failures), [
        (round(a.at - reverted_at, 2), a.version) for a in failures
    ]
    assert set(users.served(since=reverted_at + 3.0)) == {"v1"}
    reasons = Counter(e["reason"] for e in world.events_once("RevertedAfterPromotion"))
    assert reasons["RevertedAfterPromotion"] == 1 and reasons["Promoted"] == 1, reasons
    # Counted apart from rollbacks during a rollout (the shipped alert pages on it).
    metrics = operator.metrics()
    labels = {"namespace": world.namespace, "gate": "chat"}
    trigger = reverted["rollbackTrigger"]
    assert metric_value(metrics, REVERTS, **labels, reason=trigger) == 1
    assert not metric_samples(metrics, "deploymentgate_rollbacks_total", **labels)


def test_kubectl_gate_shows_the_watch_and_abort_reverts_to_the_same_pods(
    world: GateWorld, start_operator: StartOperator
) -> None:
    world.apply(chat_deployment(version="v1", replicas=2), chat_service())
    start_operator(world.namespace)
    world.apply(gate(default_watch_spec()))
    world.wait_phase("Idle", 60)
    before = v1_pods(world)
    world.set_version("v2")
    promoted = world.wait_phase("Promoted", 120)

    shown = kubectl_gate(world, world.cluster.kubeconfig, "status", "chat")
    assert shown.returncode == 0, shown.stderr
    assert f"Watch:     after promotion, until {promoted['watchUntil']} (" in shown.stdout
    assert f"previous revision {promoted['previousRevision']}  kept out of traffic" in shown.stdout
    assert "out of traffic" in shown.stdout

    done = kubectl_gate(world, world.cluster.kubeconfig, "abort", "chat")
    assert done.returncode == 0, done.stderr
    assert "RolledBack: revision" in done.stdout and "reverted after promotion" in done.stdout
    status = world.status()
    assert status["rollbackTrigger"] == "aborted"
    assert status["stableRevision"] == promoted["previousRevision"]
    wait_until(
        lambda: world.endpoint_versions() == Counter(v1=2),
        20,
        describe=world.diagnostics,
        what="v1 back behind the Service",
    )
    assert v1_pods(world).keys() == before.keys()
    assert world.traffic(20) == Counter(v1=20)
