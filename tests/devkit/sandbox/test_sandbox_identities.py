"""Identities on the sandbox: RBAC is real for service accounts and certificate users."""

from __future__ import annotations

import json

import pytest

from deploymentgate_devkit.sandbox import Sandbox, SandboxApiError

pytestmark = pytest.mark.timeout(60)


def _role_binding(name: str, subject: dict[str, str], role: str = "view") -> str:
    return json.dumps(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": name},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": role,
            },
            "subjects": [subject],
        }
    )


def test_service_account_token_authenticates_kubectl_and_rbac_decides(
    cluster: Sandbox, namespace: str
) -> None:
    cluster.kubectl("create", "serviceaccount", "reader", "-n", namespace)
    kubeconfig = cluster.kubeconfig_for_service_account(namespace, "reader")
    whoami = cluster.kubectl("auth", "whoami", "-o", "json", kubeconfig=kubeconfig)
    assert json.loads(whoami.stdout)["status"]["userInfo"]["username"] == (
        f"system:serviceaccount:{namespace}:reader"
    )
    denied = cluster.kubectl("get", "pods", "-n", namespace, kubeconfig=kubeconfig, check=False)
    assert denied.returncode != 0 and "Forbidden" in denied.stderr

    subject = {"kind": "ServiceAccount", "name": "reader", "namespace": namespace}
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=_role_binding("reader", subject))
    cluster.wait_for(
        lambda: (
            cluster.kubectl(
                "get", "pods", "-n", namespace, kubeconfig=kubeconfig, check=False
            ).returncode
            == 0
        ),
        timeout=10,
    )
    token = cluster.token_for_service_account(namespace, "reader", duration_seconds=600)
    result = cluster.kubectl(
        "--token",
        token,
        "--kubeconfig",
        str(kubeconfig),
        "get",
        "pods",
        "-n",
        namespace,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_certificate_user_gets_403_until_a_rolebinding_for_its_group(
    cluster: Sandbox, namespace: str
) -> None:
    kubeconfig = cluster.kubeconfig_for_user("alice", groups=["qa", "devs"])
    whoami = json.loads(
        cluster.kubectl("auth", "whoami", "-o", "json", kubeconfig=kubeconfig).stdout
    )
    user = whoami["status"]["userInfo"]
    assert user["username"] == "alice" and {"qa", "devs"} <= set(user["groups"])
    denied = cluster.kubectl(
        "get", "configmaps", "-n", namespace, kubeconfig=kubeconfig, check=False
    )
    assert denied.returncode != 0 and "Forbidden" in denied.stderr

    subject = {"kind": "Group", "name": "devs", "apiGroup": "rbac.authorization.k8s.io"}
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=_role_binding("devs-view", subject))
    cluster.wait_for(
        lambda: (
            cluster.kubectl(
                "get", "configmaps", "-n", namespace, kubeconfig=kubeconfig, check=False
            ).returncode
            == 0
        ),
        timeout=10,
    )
    other = cluster.kubeconfig_for_user("mallory", groups=["qa"])
    assert (
        cluster.kubectl(
            "get", "configmaps", "-n", namespace, kubeconfig=other, check=False
        ).returncode
        != 0
    )


def test_token_request_for_missing_service_account_fails_clearly(
    cluster: Sandbox, namespace: str
) -> None:
    with pytest.raises(SandboxApiError) as info:
        cluster.token_for_service_account(namespace, "nobody")
    assert info.value.status == 404
