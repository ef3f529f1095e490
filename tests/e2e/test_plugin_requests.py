"""`kubectl gate abort | retry | promote [--full]` against a live rollout.

The chart's request objects (the admission policy and one ClusterRole per
verb, rendered by helm) are applied for real; people run the plugin with
their own client certificates. Each request is one annotation, acted on once
by the operator (under the chart's RBAC), with the outcome in the gate's
status and Events.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rollout_helpers import (
    GateWorld,
    StartOperator,
    chart_template_applied,
    chat_deployment,
    chat_service,
    gate,
    gate_spec,
    wait_until,
)
from test_operator_sign_offs import kubectl_gate

from deploymentgate_devkit.sandbox import Sandbox

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "deploymentgate"
RELEASE = "request-tests"
# Long steps: the rollout sits in a step until someone acts.
SPEC = gate_spec(traffic={"steps": [25, 50, 100], "stepDuration": "10m", "progressDeadline": "90s"})


@pytest.fixture(scope="module")
def chart_request_objects(cluster: Sandbox, gate_crd: str) -> Iterator[list[dict[str, Any]]]:
    """templates/commands.yaml as helm renders it (policy, binding, a role per verb)."""
    with chart_template_applied(cluster, RELEASE, "templates/commands.yaml") as objects:
        yield objects


def bind(world: GateWorld, user: str, role: str, kind: str = "ClusterRole") -> None:
    world.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": f"{user}-{role}"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role},
            "subjects": [{"kind": "User", "name": user, "apiGroup": "rbac.authorization.k8s.io"}],
        }
    )


def events(world: GateWorld) -> list[tuple[str, str]]:
    listed = world.kubectl(
        "get", "events", "--field-selector", "involvedObject.kind=DeploymentGate", "-o", "json"
    )
    items = json.loads(listed.stdout)["items"]
    items.sort(key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")
    return [(e["reason"], e["message"]) for e in items]


def test_abort_retry_and_promote_on_a_live_rollout_each_by_who_may(
    world: GateWorld,
    cluster: Sandbox,
    start_operator: StartOperator,
    chart_request_objects: list[dict[str, Any]],
) -> None:
    for verb in ("abort", "retry", "promote"):
        bind(world, "dana", f"{RELEASE}-deploymentgate-{verb}")
    # mallory may edit gates (get, patch) but holds no request role.
    world.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "gate-editor"},
            "rules": [
                {
                    "apiGroups": ["rollout.deploymentgate.dev"],
                    "resources": ["deploymentgates"],
                    "verbs": ["get", "patch"],
                }
            ],
        }
    )
    bind(world, "mallory", "gate-editor", kind="Role")
    dana = cluster.kubeconfig_for_user("dana", groups=["sre"])
    mallory = cluster.kubeconfig_for_user("mallory", groups=["devs"])

    world.apply(chat_deployment(version="v1", replicas=2), chat_service())
    start_operator(world.namespace)
    world.apply(gate(SPEC))
    world.wait_phase("Idle", 60)
    world.set_version("v2")
    progressing = world.wait_phase("Progressing", 90, allowed=["Idle", "Verifying"])
    revision = progressing["revision"]

    # Not allowed the verb: refused at admission, naming what it takes.
    def refused() -> str | None:
        result = kubectl_gate(world, mallory, "abort", "chat", "--timeout", "5")
        return result.stderr if "may not run kubectl gate abort" in result.stderr else None

    message = wait_until(refused, 30, what="mallory refused by the request policy")
    assert "user mallory may not run kubectl gate abort on gate chat" in message, message
    assert "update on deploymentgates/abort" in message, message
    assert world.status()["phase"] == "Progressing"

    # abort: rolled back now, trigger aborted, the canary gone.
    done = kubectl_gate(world, dana, "abort", "chat")
    assert done.returncode == 0, done.stderr
    assert f"abort of gate chat revision {revision} done: RolledBack" in done.stdout, done.stdout
    status = world.status()
    assert status["rollbackTrigger"] == "aborted"
    assert "aborted on request" in status["rollbackReason"]
    wait_until(
        lambda: world.replicas(f"chat-{revision}") in (None, 0),
        30,
        describe=world.diagnostics,
        what="canary removed",
    )
    # Nothing to abort now; the plugin says so without writing.
    again = kubectl_gate(world, dana, "abort", "chat")
    assert again.returncode == 1 and "is RolledBack, not in progress" in again.stderr

    # A hand-written request for another revision is refused at admission, even by an admin.
    stale = world.kubectl(
        "annotate", "deploymentgate", "chat",
        "rollout.deploymentgate.dev/retry=0123456789abcdef/by-hand", check=False,
    )  # fmt: skip
    assert stale.returncode != 0
    assert f"has revision {revision} under test" in stale.stderr, stale.stderr

    # retry: the same revision verified again at 0%, then stepping; no spec edit.
    generation = world.gate()["metadata"]["generation"]
    done = kubectl_gate(world, dana, "retry", "chat")
    assert done.returncode == 0, done.stderr
    assert f"retry of gate chat revision {revision} done: Verifying" in done.stdout, done.stdout
    assert world.gate()["metadata"]["generation"] == generation
    progressing = world.wait_phase("Progressing", 90, allowed=["Verifying"])
    assert progressing["revision"] == revision and progressing["step"] == 0

    # promote: the rest of this step skipped; --full: every remaining step.
    done = kubectl_gate(world, dana, "promote", "chat")
    assert done.returncode == 0, done.stderr
    wait_until(lambda: world.status().get("step") == 1, 30, what="step 2")
    done = kubectl_gate(world, dana, "promote", "chat", "--full")
    assert done.returncode == 0, done.stderr
    promoted = world.wait_phase("Promoted", 90, allowed=["Progressing", "Promoting"])
    assert promoted["stableRevision"] == revision

    reasons = [r for r, _ in events(world)]
    for expected in ("RolledBack", "Retried", "PromoteRequested", "Promoted"):
        assert expected in reasons, reasons
    aborted = [m for r, m in events(world) if r == "RolledBack"]
    assert any("aborted on request (kubectl gate abort)" in m for m in aborted), aborted
