"""Seed §4 smoke test on the local cluster: a real Job, run by the Job controller,
against the verification pod at 0% traffic.

One gate, two rollouts: v2 with a smoke test that GETs $SMOKE_URL/health and
passes (the revision is promoted), the operator killed while that Job runs
and replaced (the new one takes the same Job's verdict: the status and the Job
are the only memory); then v3 after the team made the smoke test fail (the
revision is rolled back, the Job's log tail in the Warning Events and the
status). At the end no Job and no smoke pod is left.
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

from deploymentgate.k8s.builders import smoke_name
from deploymentgate.k8s.revision import template_revision
from deploymentgate_devkit.testing.smoke import smoke_template

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


def job_pods_created(world: GateWorld) -> list[str]:
    """The Job controller's "Created pod" Events, one per pod it ever started."""
    result = world.kubectl(
        "get", "events", "--field-selector", "involvedObject.kind=Job,reason=SuccessfulCreate",
        "-o", "json",
    )  # fmt: skip
    return [e["message"] for e in json.loads(result.stdout)["items"]]


def test_a_passing_smoke_job_lets_the_revision_through_and_a_failing_one_rolls_it_back(
    world: GateWorld, start_operator: StartOperator
) -> None:
    world.apply(
        chat_deployment(version="v1", replicas=REPLICAS),
        chat_service(),
        gate(smoke_spec("--sleep", "5")),
    )
    first = start_operator(world.namespace)
    idle = world.wait_phase("Idle", timeout=60)

    # v2: the smoke Job starts once startup passed; the operator dies while it runs.
    world.set_version("v2")
    running = wait_until(
        lambda: jobs(world) and (world.status().get("probes") or {}).get("smoke"),
        60,
        describe=world.diagnostics,
        what="a smoke Job running",
    )
    assert running.get("ok") is None and "running against http://" in running["message"]
    first.kill()
    start_operator(world.namespace)
    # The verification waited for it, then traffic moved.
    promoted = world.wait_phase("Promoted", timeout=120)
    assert promoted["revision"] != idle["stableRevision"]
    smoke = promoted["probes"]["smoke"]
    assert smoke["ok"] is True and "succeeded: smoke: passed: GET http://" in smoke["message"]
    assert "-> 200" in smoke["message"]
    assert smoke["lastRun"] == running["lastRun"]  # started once, resumed after the restart
    assert len(job_pods_created(world)) == 1, job_pods_created(world)

    def smoke_passes() -> list[dict[str, str]]:
        return [e for e in world.events() if e["message"].startswith("smoke probe passed")]

    wait_until(lambda: smoke_passes(), 10, describe=world.diagnostics, what="ProbePassed")
    assert len(smoke_passes()) == 1, world.events()
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

    def warnings() -> list[dict[str, str]]:
        return [
            e
            for e in world.events()
            if e["type"] == "Warning"
            and (e["reason"] == "RolledBack" or e["message"].startswith("smoke probe failed"))
        ]

    # Events are posted after the status write lands: wait for them.
    wait_until(lambda: len(warnings()) == 2, 10, describe=world.diagnostics, what="2 Warnings")
    assert sorted(e["reason"] for e in warnings()) == ["ProbeFailed", "RolledBack"]
    assert all("checkout flow broken" in e["message"] for e in warnings()), warnings()
    # All traffic on v2, as before v3.
    world.wait_endpoints(v2=REPLICAS)

    # No Job left behind, nor its pods.
    wait_until(lambda: jobs(world) == [], 20, describe=world.diagnostics, what="no Job")
    wait_until(lambda: smoke_pods(world) == [], 30, describe=world.diagnostics, what="no pod")


def test_a_job_of_someone_else_at_the_smoke_tests_name_is_named_and_never_touched(
    world: GateWorld, start_operator: StartOperator
) -> None:
    world.apply(
        chat_deployment(version="v1", replicas=REPLICAS), chat_service(), gate(smoke_spec())
    )
    first = start_operator(world.namespace)
    world.wait_phase("Idle", timeout=60)
    first.stop()

    # While the operator is down, v2 is shipped and someone else's Job (no labels,
    # no owner) takes the name the operator would give v2's smoke test.
    world.set_version("v2")
    target = world.deployment("chat")
    assert target is not None
    taken = smoke_name("chat", template_revision(target["spec"]["template"]))
    world.apply(foreign_job(taken))
    start_operator(world.namespace)

    def conflicts() -> list[dict[str, str]]:
        return [
            e
            for e in world.events()
            if e["type"] == "Warning" and e["reason"] == "NameConflict" and taken in e["message"]
        ]

    wait_until(conflicts, 60, describe=world.diagnostics, what="a NameConflict Warning")
    assert f"Job {taken} exists and is not owned by gate chat" in conflicts()[0]["message"]
    status = world.status()
    assert status["phase"] == "Verifying" and status.get("canaryWeight", 0) == 0
    assert world.serving_versions() == {"v1": REPLICAS}  # no traffic moved
    job = world.get(f"/apis/batch/v1/namespaces/{world.namespace}/jobs/{taken}")
    assert not job["metadata"].get("ownerReferences") and job["spec"]["suspend"] is True
    assert not any(k.startswith("deploymentgate.dev/") for k in job["metadata"]["labels"])

    # Once its owner deletes it, the smoke test runs and v2 goes through.
    world.kubectl("delete", "job", taken, "--wait=true")
    world.wait_phase("Promoted", timeout=120)


def foreign_job(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "suspend": True,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "x", "image": "busybox", "command": ["true"]}],
                }
            },
        },
    }
