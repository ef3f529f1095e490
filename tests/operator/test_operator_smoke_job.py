"""Seed §4 smoke test on the local cluster: a real Job, run by the Job controller,
against the verification pod at 0% traffic.

One gate, two rollouts: v2 with a smoke test that GETs $SMOKE_URL/health and
passes (the revision is promoted), then v3 after the team made the smoke test
fail (the revision is rolled back, the Job's log tail in the Warning Events
and the status). At the end no Job and no smoke pod is left.
"""

from __future__ import annotations

import json
from typing import Any

from rollout_helpers import (
    GateWorld,
    StartOperator,
    chat_deployment,
    chat_service,
    gate,
    gate_spec,
    wait_until,
)

from deploymentgate.testing.smoke import smoke_template

REPLICAS = 2


def smoke_spec(*args: str) -> dict[str, Any]:
    return gate_spec(
        traffic={"steps": [50, 100], "stepDuration": "3s", "progressDeadline": "90s"},
        probes={
            **gate_spec()["probes"],
            "smoke": {"template": smoke_template("--path", "/health", *args), "timeout": "30s"},
        },
    )


def jobs(world: GateWorld) -> list[str]:
    listing = world.get(f"/apis/batch/v1/namespaces/{world.namespace}/jobs")
    return [j["metadata"]["name"] for j in listing["items"]]


def smoke_pods(world: GateWorld) -> list[str]:
    return [
        p["metadata"]["name"]
        for p in world.pods()
        if p["metadata"]["labels"].get("deploymentgate.dev/role") == "smoke"
    ]


def test_a_passing_smoke_job_lets_the_revision_through_and_a_failing_one_rolls_it_back(
    world: GateWorld, start_operator: StartOperator
) -> None:
    world.apply(
        chat_deployment(version="v1", replicas=REPLICAS), chat_service(), gate(smoke_spec())
    )
    start_operator(world.namespace)
    idle = world.wait_phase("Idle", timeout=60)

    # v2: the smoke test passes; verification waited for it, then traffic moved.
    world.set_version("v2")
    promoted = world.wait_phase("Promoted", timeout=120)
    assert promoted["revision"] != idle["stableRevision"]
    smoke = promoted["probes"]["smoke"]
    assert smoke["ok"] is True and "succeeded: smoke: passed: GET http://" in smoke["message"]
    assert "-> 200" in smoke["message"]
    passed = [e for e in world.events() if e["reason"] == "ProbePassed" and "smoke" in e["message"]]
    assert passed, world.events()
    history = [h["reason"] for h in promoted.get("history") or []]
    assert "Verified" in history

    # The team breaks its smoke test (a spec edit), then ships v3: rolled back.
    broken = smoke_spec("--fail", "checkout flow broken")["probes"]
    world.kubectl(
        "patch", "deploymentgate", "chat", "--type=merge",
        "-p", json.dumps({"spec": {"probes": broken}}),
    )  # fmt: skip
    world.set_version("v3")
    rolled = wait_until(
        lambda: (s := world.status()).get("phase") == "RolledBack" and s,
        timeout=90,
        describe=world.diagnostics,
        what="RolledBack",
    )
    assert rolled["rollbackTrigger"] == "smokeTestFailed"
    assert rolled["revision"] != promoted["revision"]
    assert "checkout flow broken" in rolled["message"]  # the log tail, in the status
    assert "exit code 1" in rolled["rollbackReason"]
    assert rolled["probes"]["smoke"]["ok"] is False
    warnings = [
        e
        for e in world.events()
        if e["type"] == "Warning"
        and (e["reason"] == "RolledBack" or e["message"].startswith("smoke probe failed"))
    ]
    assert sorted(e["reason"] for e in warnings) == ["ProbeFailed", "RolledBack"], warnings
    assert all("checkout flow broken" in e["message"] for e in warnings), warnings
    # All traffic on v2, as before v3.
    world.wait_endpoints(v2=REPLICAS)

    # No Job left behind, nor its pods.
    wait_until(lambda: jobs(world) == [], 20, describe=world.diagnostics, what="no Job")
    wait_until(lambda: smoke_pods(world) == [], 30, describe=world.diagnostics, what="no pod")
