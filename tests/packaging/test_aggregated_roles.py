"""The chart's user-facing roles: editors write a gate's spec, never its status.

Issue 9, item 7: the status is the rollout's only memory (what was verified,
what is stable); whoever may write `deploymentgates/status` could declare an
unverified revision promoted. The chart aggregates DeploymentGates into the
default admin/edit/view roles without the status subresource; only the
operator's ServiceAccount may write it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from chart_render import RenderFn, helm_template, write_values
from test_chart_on_cluster import install_chart_crds

from deploymentgate_devkit.sandbox import Sandbox

GROUP = "rollout.deploymentgate.dev"
AGGREGATE = "rbac.authorization.k8s.io/aggregate-to-"


def aggregated(roles: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Aggregated ClusterRoles by the default role they join (admin, edit, view)."""
    out: dict[str, dict[str, Any]] = {}
    for role in roles:
        for label, value in (role["metadata"].get("labels") or {}).items():
            if label.startswith(AGGREGATE) and value == "true":
                out.setdefault(label.removeprefix(AGGREGATE), role)
    return out


def granted(role: dict[str, Any]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for rule in role["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                out.setdefault(f"{group}/{resource}", set()).update(rule["verbs"])
    return out


def test_default_roles_get_gates_but_no_status(render: RenderFn) -> None:
    roles = aggregated(render({}).of_kind("ClusterRole"))
    assert set(roles) == {"admin", "edit", "view"}
    edit, view = granted(roles["edit"]), granted(roles["view"])
    assert roles["admin"] is roles["edit"]
    writes = {"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}
    reads = {"get", "list", "watch"}
    assert edit == {f"{GROUP}/deploymentgates": writes, f"{GROUP}/metricchecktemplates": writes}
    assert view == {
        f"{GROUP}/deploymentgates": reads,
        f"{GROUP}/metricchecktemplates": reads,
        f"{GROUP}/clustermetricchecktemplates": reads,
    }
    for role in roles.values():
        for resource in granted(role):
            assert "/status" not in resource.removeprefix(f"{GROUP}/") and "*" not in resource


def test_aggregation_can_be_turned_off(render: RenderFn) -> None:
    rendered = render({"rbac": {"aggregateToDefaultRoles": False}})
    assert aggregated(rendered.of_kind("ClusterRole")) == {}


# ------------------------------------------------- on a real API server


def _can_i(cluster: Sandbox, namespace: str, user: str, verb: str, resource: str) -> bool:
    # `kubectl auth can-i patch x/status` would ask about an object named status
    name, _, sub = resource.partition("/")
    extra = [f"--subresource={sub}"] if sub else []
    result = cluster.kubectl(
        "auth", "can-i", verb, f"{name}.{GROUP}", *extra, "-n", namespace, "--as", user, check=False
    )
    return result.stdout.strip() == "yes"


@pytest.mark.timeout(180)
def test_an_editor_writes_the_spec_and_is_refused_the_status(
    cluster: Sandbox, namespace: str, helm: Path, chart_dir: Path, tmp_path: Path
) -> None:
    install_chart_crds(cluster, helm, chart_dir)
    roles = aggregated(
        helm_template(helm, chart_dir, write_values(tmp_path, {})).of_kind("ClusterRole")
    )
    suffix = namespace  # ClusterRoles are cluster-wide: one name per test namespace
    objects: list[dict[str, Any]] = []
    for kind, user in (("edit", "dev"), ("view", "auditor")):
        role = json.loads(json.dumps(roles[kind]))
        role["metadata"]["name"] += f"-{suffix}"
        role["metadata"]["labels"] = {}  # not aggregated into the sandbox's defaults
        objects.append(role)
        objects.append(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": f"gates-{kind}", "namespace": namespace},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": role["metadata"]["name"],
                },
                "subjects": [{"kind": "User", "name": user}],
            }
        )
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objects))
    try:
        assert _can_i(cluster, namespace, "dev", "patch", "deploymentgates")
        assert not _can_i(cluster, namespace, "dev", "patch", "deploymentgates/status")
        assert not _can_i(cluster, namespace, "dev", "update", "deploymentgates/status")
        assert _can_i(cluster, namespace, "auditor", "get", "deploymentgates")
        assert not _can_i(cluster, namespace, "auditor", "patch", "deploymentgates")
        assert not _can_i(cluster, namespace, "auditor", "patch", "deploymentgates/status")
        # A team's reusable checks: editors write them, viewers read them.
        assert _can_i(cluster, namespace, "dev", "create", "metricchecktemplates")
        assert _can_i(cluster, namespace, "auditor", "list", "metricchecktemplates")
        assert not _can_i(cluster, namespace, "auditor", "create", "metricchecktemplates")

        # For real, as the user: the gate is theirs to write, its status is not.
        dev = cluster.kubeconfig_for_user("dev")
        gate = {
            "apiVersion": f"{GROUP}/v1alpha1",
            "kind": "DeploymentGate",
            "metadata": {"name": "chat", "namespace": namespace},
            "spec": {"targetRef": {"name": "chat"}, "service": "chat"},
        }
        cluster.kubectl("create", "-f", "-", input=yaml.safe_dump(gate), kubeconfig=dev)
        forged = cluster.kubectl(
            "patch",
            "deploymentgate",
            "chat",
            "-n",
            namespace,
            "--subresource=status",
            "--type=merge",
            "-p",
            json.dumps({"status": {"phase": "Promoting", "revision": "never-verified"}}),
            kubeconfig=dev,
            check=False,
        )
        assert forged.returncode != 0
        assert "forbidden" in forged.stderr.lower(), forged.stderr
        status = cluster.kubectl(
            "get", "deploymentgate", "chat", "-n", namespace, "-o", "jsonpath={.status}"
        ).stdout
        assert "never-verified" not in status
    finally:
        names = [
            f"clusterrole/{o['metadata']['name']}" for o in objects if o["kind"] == "ClusterRole"
        ]
        cluster.kubectl("delete", "--ignore-not-found", *names, check=False)
