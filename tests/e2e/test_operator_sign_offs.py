"""Sign-offs bound to identity (seed §10), on the local cluster with its test users.

The chart's sign-off objects (admission policies and the approver ClusterRole,
rendered by helm) are applied for real; people act through `kubectl gate
approve` (the plugin found by kubectl on PATH) or plain `kubectl create`, each
with their own client certificate (user name and groups). The operator runs
under the chart's RBAC.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from rollout_helpers import (
    GateWorld,
    StartOperator,
    chart_template_applied,
    chat_deployment,
    chat_service,
    gate,
    gate_spec,
    passes,
    wait_passes,
    wait_until,
)

from deploymentgate.core.policy_state import POLICY_SETTLE
from deploymentgate.manifests.approval_policy import POLICY_NAME
from deploymentgate.models import API_GROUP, API_VERSION, APPROVAL_PLURAL
from deploymentgate_devkit.sandbox import Sandbox

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(240)]

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "deploymentgate"
RELEASE = "sign-off-tests"
APPROVER_ROLE = f"{RELEASE}-deploymentgate-approver"
APPROVALS = {
    "required": ["qa", "engineering-lead"],
    "roles": {"qa": {"groups": ["qa"]}, "engineering-lead": {"users": ["erin"]}},
}
SPEC = gate_spec(approvals=APPROVALS)
PEOPLE: dict[str, list[str]] = {
    "mallory": ["devs"],  # may create sign-offs (RBAC) but holds no role
    "alice": ["qa", "devs"],  # qa through her group
    "erin": [],  # engineering-lead by name
}


@pytest.fixture(scope="module")
def chart_sign_off_objects(cluster: Sandbox, gate_crd: str) -> Iterator[list[dict[str, Any]]]:
    """templates/signoffs.yaml as helm renders it (policies, bindings, approver role)."""
    with chart_template_applied(cluster, RELEASE, "templates/signoffs.yaml") as objects:
        yield objects


def bind_people(world: GateWorld, cluster: Sandbox) -> dict[str, Path]:
    """Everyone may create sign-offs here (the chart's approver role); kubeconfigs by name."""
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "approvers"},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": APPROVER_ROLE,
        },
        "subjects": [
            {"kind": "User", "name": user, "apiGroup": "rbac.authorization.k8s.io"}
            for user in PEOPLE
        ],
    }
    world.apply(binding)
    return {user: cluster.kubeconfig_for_user(user, groups=g) for user, g in PEOPLE.items()}


def kubectl_gate(
    world: GateWorld, kubeconfig: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    """`kubectl gate ...` as a user runs it: kubectl finds kubectl-gate on PATH."""
    cluster = world.cluster
    env = dict(cluster.env)
    env["KUBECONFIG"] = str(kubeconfig)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return subprocess.run(
        [str(cluster.bin_dir / "kubectl"), "gate", *args, "-n", world.namespace],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def sign_off_manifest(
    gate_name: str, revision: str, role: str, approver: str, groups: list[str] | None = None
) -> str:
    spec: dict[str, Any] = {
        "gate": gate_name,
        "revision": revision,
        "role": role,
        "approver": approver,
    }
    if groups is not None:
        spec["groups"] = groups
    return json.dumps(
        {
            "apiVersion": f"{API_GROUP}/{API_VERSION}",
            "kind": "GateApproval",
            "metadata": {"name": f"{role}-by-{approver}-{revision[:8]}"},
            "spec": spec,
        }
    )


def sign_offs_in(world: GateWorld) -> list[dict[str, Any]]:
    base = f"/apis/{API_GROUP}/{API_VERSION}/namespaces/{world.namespace}/{APPROVAL_PLURAL}"
    return list(world.get(base)["items"])


def awaiting(world: GateWorld, revision_not: str | None = None) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        status = world.status()
        if status.get("phase") == "AwaitingApproval" and status.get("revision") != revision_not:
            return status
        return None

    return wait_until(reached, 90, describe=world.diagnostics, what="AwaitingApproval")


def test_only_holders_of_a_role_sign_off_and_the_rollout_proceeds(
    world: GateWorld,
    cluster: Sandbox,
    start_operator: StartOperator,
    chart_sign_off_objects: list[dict[str, Any]],
) -> None:
    people = bind_people(world, cluster)
    world.apply(chat_deployment(version="v1", replicas=2), chat_service())
    start_operator(world.namespace)
    world.apply(gate(SPEC))
    world.wait_phase("Idle", 60)

    world.set_version("v2")
    status = awaiting(world)
    revision = status["revision"]
    assert "sign-off by qa, engineering-lead" in status["message"], status["message"]
    assert world.replicas("chat") == 0  # nothing reaches users while it waits

    # mallory may create sign-offs, but holds no role: refused at admission, role named.
    refused = kubectl_gate(world, people["mallory"], "approve", "chat", "--role", "qa")
    print("mallory:", refused.stderr)
    assert refused.returncode == 1, refused
    assert (
        "user mallory may not sign off as qa for gate chat: role qa is held by groups [qa]"
        in refused.stderr
    ), refused.stderr
    refused = kubectl_gate(
        world, people["mallory"], "approve", "chat", "--role", "engineering-lead"
    )
    assert "role engineering-lead is held by users [erin]" in refused.stderr, refused.stderr
    # ... nor can she write someone else's name, or a group she is not in.
    forged = cluster.kubectl(
        "create", "-n", world.namespace, "-f", "-",
        input=sign_off_manifest("chat", revision, "qa", "alice", ["qa"]),
        kubeconfig=people["mallory"], check=False,
    )  # fmt: skip
    assert forged.returncode != 0
    assert "spec.approver must be your own user name (mallory), not alice" in forged.stderr
    forged = cluster.kubectl(
        "create", "-n", world.namespace, "-f", "-",
        input=sign_off_manifest("chat", revision, "qa", "mallory", ["qa"]),
        kubeconfig=people["mallory"], check=False,
    )  # fmt: skip
    assert "spec.groups may only list groups user mallory is in" in forged.stderr
    assert sign_offs_in(world) == []

    # alice holds qa through her group: the plugin signs off as her.
    done = kubectl_gate(world, people["alice"], "approve", "chat", "--role", "qa")
    assert done.returncode == 0, done.stderr
    assert f"alice signed off gate chat revision {revision} as qa through group qa" in done.stdout
    wait_until(
        lambda: [s["role"] for s in world.status().get("signOffs", [])] == ["qa"],
        20,
        describe=world.diagnostics,
        what="qa in status.signOffs",
    )
    assert world.status()["phase"] == "AwaitingApproval"
    assert "sign-off by engineering-lead" in world.status()["message"]

    # erin by name, with plain kubectl create (no groups needed).
    cluster.kubectl(
        "create", "-n", world.namespace, "-f", "-",
        input=sign_off_manifest("chat", revision, "engineering-lead", "erin"),
        kubeconfig=people["erin"],
    )  # fmt: skip
    promoted = world.wait_phase(
        "Promoted", 90, allowed=["AwaitingApproval", "Progressing", "Promoting"]
    )
    assert promoted["revision"] == revision
    shown = {s["role"]: s for s in promoted["signOffs"]}
    assert {r: s["approver"] for r, s in shown.items()} == {
        "qa": "alice",
        "engineering-lead": "erin",
    }
    assert all(s["revision"] == revision and s["time"] for s in shown.values())
    listed = kubectl_gate(world, people["erin"], "get")
    assert listed.returncode == 0, listed.stderr
    (line,) = [x for x in listed.stdout.splitlines() if x.startswith("chat ")]
    assert "Promoted" in line and revision in line and "100%" in line, line
    assert "qa=alice engineering-lead=erin" in line and "health ✅" in line, line
    described = world.kubectl("describe", "deploymentgate", "chat").stdout
    assert "Sign Offs:" in described and "Approver:  alice" in described, described

    # A sign-off is never edited: its author has no right to, and even an admin
    # (whom RBAC lets) is refused at admission, for metadata and spec alike.
    (alices,) = [s for s in sign_offs_in(world) if s["spec"]["approver"] == "alice"]
    name = alices["metadata"]["name"]
    edit = cluster.kubectl(
        "label", "-n", world.namespace, f"gateapproval/{name}", "note=x",
        kubeconfig=people["alice"], check=False,
    )  # fmt: skip
    assert edit.returncode != 0 and "cannot patch" in edit.stderr, edit.stderr
    for change in (
        ["label", f"gateapproval/{name}", "note=x"],
        ["patch", f"gateapproval/{name}", "--type=merge", "-p", '{"spec":{"approver":"bob"}}'],
    ):
        edit = world.kubectl(*change, check=False)
        assert edit.returncode != 0
        assert "a sign-off cannot be edited: delete it and create a new one" in edit.stderr

    # The next revision starts with no sign-off: the earlier ones never carry over.
    world.set_version("v3")
    status = awaiting(world, revision_not=revision)
    assert status.get("signOffs", []) == []
    assert "sign-off by qa, engineering-lead" in status["message"]
    # Signing off a revision that is not under test is refused at admission.
    stale = cluster.kubectl(
        "create", "-n", world.namespace, "-f", "-",
        input=sign_off_manifest("chat", revision, "qa", "alice", ["qa"]),
        kubeconfig=people["alice"], check=False,
    )  # fmt: skip
    assert f"not {revision}" in stale.stderr and status["revision"] in stale.stderr, stale.stderr
    assert world.status()["phase"] == "AwaitingApproval"


def test_only_admins_change_who_signs_off(
    world: GateWorld, cluster: Sandbox, gate_crd: str, chart_sign_off_objects: list[dict[str, Any]]
) -> None:
    """Whoever may edit a gate may not rewrite its roles (the chart's approvals guard)."""
    world.apply(gate(SPEC))
    rules = [
        {"apiGroups": [API_GROUP], "resources": ["deploymentgates"], "verbs": ["get", "patch"]}
    ]
    world.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "gate-editor"},
            "rules": rules,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "mallory-edits"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "gate-editor",
            },
            "subjects": [
                {"kind": "User", "name": "mallory", "apiGroup": "rbac.authorization.k8s.io"}
            ],
        },
    )
    mallory = cluster.kubeconfig_for_user("mallory", groups=["devs"])
    patch = {"spec": {"approvals": {"roles": {"qa": {"users": ["mallory"]}}}}}
    mine = ["patch", "deploymentgate", "chat", "--type=merge", "-p", json.dumps(patch)]

    def refused_for_the_right_reason() -> str | None:
        result = cluster.kubectl("-n", world.namespace, *mine, kubeconfig=mallory, check=False)
        return result.stderr if "may not change spec.approvals" in result.stderr else None

    message = wait_until(refused_for_the_right_reason, 20, what="mallory refused by the guard")
    assert (
        "user mallory may not change spec.approvals of gate chat:"
        " only members of groups [system:masters] may"
    ) in message
    # Other edits still go through, and an admin may change the roles.
    world.kubectl(
        "patch", "deploymentgate", "chat", "--type=merge", "-p",
        '{"spec":{"traffic":{"stepDuration":"6s"}}}',
    )  # fmt: skip
    world.kubectl(*mine)
    assert world.gate()["spec"]["approvals"]["roles"]["qa"]["users"] == ["mallory"]


def test_without_the_admission_policy_no_sign_off_counts_and_the_gate_says_why(
    world: GateWorld,
    cluster: Sandbox,
    start_operator: StartOperator,
    chart_sign_off_objects: list[dict[str, Any]],
) -> None:
    """Without the binding nothing checks a sign-off, so mallory can write anyone's
    name: the operator counts none, says why, and still counts none of those once
    the binding is back; only sign-offs made under the policy count."""
    people = bind_people(world, cluster)
    world.apply(chat_deployment(version="v1", replicas=2), chat_service())
    operator = start_operator(world.namespace)
    world.apply(gate(SPEC))
    world.wait_phase("Idle", 60)
    world.set_version("v2")
    revision = awaiting(world)["revision"]

    cluster.kubectl("delete", "validatingadmissionpolicybinding", POLICY_NAME)
    try:
        expected = (
            f"no sign-off counts: the admission policy binding {POLICY_NAME} is not installed"
        )
        wait_until(
            lambda: expected in world.status()["message"],
            20,
            describe=world.diagnostics,
            what="the reason in the gate's message",
        )
        for role, name, groups in (("qa", "alice", ["qa"]), ("engineering-lead", "erin", None)):
            forged = sign_off_manifest("chat", revision, role, name, groups)
            # The API server drops a deleted binding from its admission cache a
            # moment later: until then mallory is still refused.

            def admitted(forged: str = forged) -> bool:
                return (
                    cluster.kubectl(
                        "create",
                        "-n",
                        world.namespace,
                        "-f",
                        "-",
                        input=forged,
                        kubeconfig=people["mallory"],
                        check=False,
                    ).returncode
                    == 0
                )

            seen = passes(operator, "approval")
            wait_until(
                admitted,
                20,
                describe=world.diagnostics,
                what=f"a forged {role} sign-off admitted without the binding",
            )
            # The sign-off wakes the gate, which looks at it.
            wait_passes(operator, after=seen, cause="approval")
        # It awaits approval, so it ticks too: its next tick has both in the index
        # for sure (a wake may come a moment before the index entry is stored).
        wait_passes(operator, after=passes(operator, "tick"), cause="tick")
        status = world.status()
        assert status["phase"] == "AwaitingApproval" and status.get("signOffs", []) == []
        assert expected in status["message"]
    finally:
        cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(chart_sign_off_objects))
        rebound = time.monotonic()

    # The binding is back: the forged sign-offs, older than it, still count for nothing.
    wait_until(
        lambda: "kubectl gate approve" in world.status()["message"],
        20,
        describe=world.diagnostics,
        what="sign-offs counted again",
    )
    wait_passes(operator, after=passes(operator, "tick"), cause="tick", more=2)
    status = world.status()
    assert status["phase"] == "AwaitingApproval" and status.get("signOffs", []) == []
    assert "sign-off by qa, engineering-lead" in status["message"]
    assert world.replicas("chat") == 0

    # A sign-off made under the policy counts once the policy has settled: the
    # window is the design's, so this sleep is the scenario (1 s for the API
    # server's whole-second creationTimestamps).
    time.sleep(max(0.0, POLICY_SETTLE.total_seconds() + 1.0 - (time.monotonic() - rebound)))
    done = kubectl_gate(world, people["alice"], "approve", "chat", "--role", "qa")
    assert done.returncode == 0, done.stderr
    wait_until(
        lambda: (
            [(s["role"], s["approver"]) for s in world.status().get("signOffs", [])]
            == [("qa", "alice")]
        ),
        20,
        describe=world.diagnostics,
        what="alice's sign-off counted",
    )
    assert "sign-off by engineering-lead" in world.status()["message"]
