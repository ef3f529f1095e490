"""Fast at 0%, startup seen from its first phase (issue 13 items 3 and 4), on the cluster.

A gate that names the three probes and keeps every default. The bad revision
never sends tool_completed: at 0% traffic it is rejected after three failed
WebSocket runs, seconds after its verification pod is ready (it waited 226 s
and replaced its pod fifteen times before), with the trigger typed in status.
Its startup was watched from the first phase: the status says so.
"""

from __future__ import annotations

import re
import time

from rollout_helpers import (
    GateWorld,
    StartOperator,
    chat_deployment,
    chat_service,
    gate,
    wait_until,
)

from deploymentgate.k8s.builders import ROLE_LABEL, ROLE_VERIFY

DEFAULTS = {
    "targetRef": {"kind": "Deployment", "name": "chat"},
    "service": "chat",
    "probes": {"startup": {}, "health": {"maxLatency": "1s"}, "websocket": {}},
}


def verify_pod_ready(world: GateWorld) -> bool:
    for pod in world.pods():
        if pod["metadata"].get("labels", {}).get(ROLE_LABEL) != ROLE_VERIFY:
            continue
        conditions = (pod.get("status") or {}).get("conditions") or []
        if any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
            return True
    return False


def test_a_deterministic_failure_at_zero_traffic_is_rejected_within_seconds(
    world: GateWorld, start_operator: StartOperator
) -> None:
    world.apply(chat_deployment(version="v1", replicas=2), chat_service(), gate(DEFAULTS))
    start_operator(world.namespace, tick=1.0)
    world.wait_phase("Idle", 90)

    world.set_version("v2", mode="ws-missing-event", CHAT_PHASE_SECONDS="0.3")
    wait_until(lambda: verify_pod_ready(world), 60, describe=world.diagnostics, what="pod ready")
    ready = time.monotonic()
    status = world.wait_phase("RolledBack", 30, allowed={"Verifying"})
    took = time.monotonic() - ready

    assert took < 15.0, (took, status)
    assert status["rollbackTrigger"] == "websocketFailing", status
    runs = re.search(r"failed (\d+) consecutive runs at 0% traffic", status["rollbackReason"])
    assert runs is not None and int(runs.group(1)) >= 3, status["rollbackReason"]
    startup = status["probes"]["startup"]
    assert startup["ok"] is True and startup["message"].startswith("INIT "), startup
    assert "phases observed)" in startup["message"], startup
    assert (
        startup["values"][
            "phasesDeclared" if "phasesDeclared" in startup["values"] else "phases_declared"
        ]
        == 7
    )
    reasons = [e["reason"] for e in world.events()]
    assert "VerificationRestarted" not in reasons, reasons
