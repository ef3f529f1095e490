"""The serving label is the operator's alone (issue 10), on the local cluster.

A gated Service sends user traffic to every pod labelled
`deploymentgate.dev/serving: <gate>`. The chart's admission policy
(templates/serving-label-policy.yaml, rendered by helm for the operator's
release and applied for real) makes the API server refuse that label from
anyone else, with no operator running: a team member with `edit` rights (a
GitOps tool, an admin) cannot create a workload or pod carrying it, label a
pod with it, or swap the image of a serving Deployment. The operator's
ServiceAccount can, and the controllers that make its ReplicaSets and pods are
let through.
"""

from __future__ import annotations

import copy
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from rollout_helpers import ChartRbac, GateWorld, chat_deployment, wait_until

from deploymentgate.manifests import serving_policy
from deploymentgate.manifests.serving_policy import POLICY_NAME, SERVING_LABEL
from deploymentgate_devkit.sandbox import Sandbox
from deploymentgate_devkit.sandbox.binaries import require_tools

pytestmark = [pytest.mark.timeout(180)]

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "deploymentgate"
TEMPLATE = "templates/serving-label-policy.yaml"
RELEASE = "operator-tests"  # conftest's release: the operator's ServiceAccount
RESERVED = f"label {SERVING_LABEL} is reserved for DeploymentGate's own serving pods"
ONLY_OPERATOR = "only the DeploymentGate operator may add it, or change a pod"


def render(helm: Path, namespace: str, *values: str, whole: bool = False) -> str:
    """The chart's serving-label policy (or, `whole`, everything) as helm renders
    it for RELEASE in `namespace`."""
    argv = [str(helm), "template", RELEASE, str(CHART), "--namespace", namespace]
    for value in values:
        argv += ["--set", value]
    if not whole:
        argv += ["--show-only", TEMPLATE]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True).stdout


@pytest.fixture
def policy_installed(cluster: Sandbox, chart_rbac: ChartRbac) -> Iterator[None]:
    """The policy as installed with the operator's release (its ServiceAccount allowed)."""
    rendered = render(chart_rbac.helm, chart_rbac.namespace)
    cluster.kubectl("apply", "-f", "-", input=rendered)
    try:
        yield
    finally:
        cluster.kubectl("delete", "-f", "-", "--ignore-not-found", input=rendered, check=False)


def editor(world: GateWorld, cluster: Sandbox, user: str = "dana") -> Path:
    """`user` with the built-in `edit` role in the world's namespace; their kubeconfig."""
    world.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": f"{user}-edits"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "edit",
            },
            "subjects": [{"kind": "User", "name": user, "apiGroup": "rbac.authorization.k8s.io"}],
        }
    )
    return cluster.kubeconfig_for_user(user, groups=["devs"])


def serving(name: str, gate: str = "chat", replicas: int = 2) -> dict[str, Any]:
    """A Deployment whose pods carry the serving label (what `kubectl get deploy
    chat-<rev> -o yaml` of a serving Deployment shows)."""
    deployment = copy.deepcopy(chat_deployment(version="v2", replicas=replicas, name=name))
    deployment["spec"]["template"]["metadata"]["labels"][SERVING_LABEL] = gate
    return deployment


def pod_template_of(deployment: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(deployment["spec"]["template"])


def workloads_carrying_the_label(name: str) -> list[dict[str, Any]]:
    """One of every kind with a pod template, each carrying the serving label."""
    deployment = serving(name)
    template = pod_template_of(deployment)
    selector = deployment["spec"]["selector"]
    job_template = copy.deepcopy(template)
    job_template["spec"]["restartPolicy"] = "Never"
    replicaset = copy.deepcopy(deployment) | {"kind": "ReplicaSet"}
    statefulset = copy.deepcopy(deployment) | {"kind": "StatefulSet"}
    statefulset["spec"] = statefulset["spec"] | {"serviceName": name}
    daemonset = copy.deepcopy(deployment) | {"kind": "DaemonSet"}
    daemonset["spec"].pop("replicas")
    controller = {
        "apiVersion": "v1",
        "kind": "ReplicationController",
        "metadata": {"name": name},
        "spec": {"replicas": 1, "selector": selector["matchLabels"], "template": template},
    }
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {"template": job_template},
    }
    cronjob = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": name},
        "spec": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": job_template}}},
    }
    return [deployment, replicaset, statefulset, daemonset, controller, job, cronjob]


def create(
    cluster: Sandbox,
    namespace: str,
    obj: dict[str, Any],
    kubeconfig: Path | None,
    *options: str,
) -> subprocess.CompletedProcess[str]:
    return cluster.kubectl(
        "create", "-n", namespace, "-f", "-", *options,
        input=json.dumps(obj), kubeconfig=kubeconfig, check=False,
    )  # fmt: skip


def wait_enforced(cluster: Sandbox, namespace: str, kubeconfig: Path) -> str:
    """The API server enforces a new policy a moment after it is created; a
    server-side dry run asks without creating anything. The refusal."""

    def refused() -> str | None:
        result = create(cluster, namespace, serving("probe"), kubeconfig, "--dry-run=server")
        return result.stderr if result.returncode != 0 and RESERVED in result.stderr else None

    return wait_until(refused, 20, what="the policy enforced")


def labelled_pods(world: GateWorld, app: str) -> list[dict[str, Any]]:
    return [
        p
        for p in world.pods()
        if p["metadata"].get("labels", {}).get("app") == app
        and SERVING_LABEL in p["metadata"]["labels"]
        and not p["metadata"].get("deletionTimestamp")
    ]


# ------------------------------------------------------------ the rendered policy


@pytest.mark.cluster  # renders with the built helm
def test_the_chart_renders_the_policy_for_its_release_service_account() -> None:
    """Pure: what helm renders is this module's policy, with the release's
    ServiceAccount and the controllers allowed; the value turns it off."""
    helm = require_tools(("helm",)) / "helm"
    objects = [o for o in yaml.safe_load_all(render(helm, "ops")) if o]
    operator = f"system:serviceaccount:ops:{RELEASE}-deploymentgate"
    assert objects == [serving_policy.policy(operator), serving_policy.binding()]
    (allowed, carries) = objects[0]["spec"]["matchConditions"]
    for user in (
        operator,
        "system:serviceaccount:kube-system:deployment-controller",
        "system:serviceaccount:kube-system:replicaset-controller",
        "system:kube-controller-manager",
    ):
        assert f"'{user}'" in allowed["expression"]
    assert "OPERATOR-" not in allowed["expression"]
    assert f"'{SERVING_LABEL}' in object.metadata.labels" in carries["expression"]
    resources = {
        r
        for rule in objects[0]["spec"]["matchConstraints"]["resourceRules"]
        for r in rule["resources"]
    }
    assert resources == {
        "pods", "deployments", "replicasets", "statefulsets", "daemonsets",
        "replicationcontrollers", "jobs", "cronjobs",
    }  # fmt: skip
    assert objects[1]["spec"] == {"policyName": POLICY_NAME, "validationActions": ["Deny"]}
    # Another ServiceAccount name is the one allowed.
    named = render(helm, "ops", "serviceAccount.name=gatekeeper")
    assert "'system:serviceaccount:ops:gatekeeper'" in named
    whole = [o for o in yaml.safe_load_all(render(helm, "ops", whole=True)) if o]
    assert [o["kind"] for o in whole if o["metadata"]["name"] == POLICY_NAME] == [
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
    ]
    off = render(helm, "ops", "servingLabelPolicy.enabled=false", whole=True)
    assert POLICY_NAME not in off


# ------------------------------------------------------------ on the API server


def test_nobody_but_the_operator_puts_the_serving_label_on_pods(
    world: GateWorld, cluster: Sandbox, policy_installed: None
) -> None:
    dana = editor(world, cluster)
    ns = world.namespace
    copied = serving("chat-copy", replicas=4)
    wait_enforced(cluster, ns, dana)
    message = create(cluster, ns, copied, dana).stderr
    print(message)
    assert (
        "a Service gated by a DeploymentGate would send user traffic to these pods,"
        " which no gate verified; remove it from the pod template of this Deployment (user dana)"
    ) in message

    # Every kind with a pod template, and a bare pod, for the user with edit
    # rights and for the cluster admin alike.
    for obj in workloads_carrying_the_label("chat-copy"):
        for who, kubeconfig in (("dana", dana), ("admin", None)):
            result = create(cluster, ns, obj, kubeconfig)
            assert result.returncode != 0, (obj["kind"], who, result.stdout)
            assert RESERVED in result.stderr, (obj["kind"], who, result.stderr)
            assert f"pod template of this {obj['kind']}" in result.stderr, result.stderr
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "chat-copy", "labels": {"app": "chat", SERVING_LABEL: "chat"}},
        "spec": pod_template_of(copied)["spec"],
    }
    result = create(cluster, ns, pod, dana)
    assert RESERVED in result.stderr and "remove it from the pod (user dana)" in result.stderr
    assert world.deployment("chat-copy") is None
    assert world.pods() == []

    # Without the label the same user creates the same Deployment, and its pods run.
    plain = chat_deployment(version="v2", replicas=2, name="chat-own")
    assert create(cluster, ns, plain, dana).returncode == 0
    pods = wait_until(
        lambda: [p for p in world.pods() if p["status"].get("phase") == "Running"] or None,
        60,
        describe=world.diagnostics,
        what="chat-own's pods running",
    )
    # ... but may not label one of them into a gated Service.
    target = pods[0]["metadata"]["name"]
    labelled = cluster.kubectl(
        "label", "-n", ns, f"pod/{target}", f"{SERVING_LABEL}=chat",
        kubeconfig=dana, check=False,
    )  # fmt: skip
    assert labelled.returncode != 0
    assert RESERVED in labelled.stderr and ONLY_OPERATOR in labelled.stderr, labelled.stderr
    assert (
        SERVING_LABEL
        not in world.kubectl("get", "pod", target, "-o", "jsonpath={.metadata.labels}").stdout
    )
    # ... nor add it to her Deployment's pod template.
    patch = {"spec": {"template": {"metadata": {"labels": {SERVING_LABEL: "chat"}}}}}
    patched = cluster.kubectl(
        "patch", "-n", ns, "deployment/chat-own", "--type=merge", "-p", json.dumps(patch),
        kubeconfig=dana, check=False,
    )  # fmt: skip
    assert patched.returncode != 0
    assert f"{ONLY_OPERATOR} template that carries it (user dana)" in patched.stderr
    # Other labels are still hers to set.
    cluster.kubectl("label", "-n", ns, f"pod/{target}", "team=chat", kubeconfig=dana)
    assert labelled_pods(world, "chat-own") == []


def test_the_operator_and_the_controllers_make_serving_pods(
    world: GateWorld, cluster: Sandbox, chart_rbac: ChartRbac, policy_installed: None
) -> None:
    """The chart's ServiceAccount creates a serving Deployment; the deployment and
    replicaset controllers (their own identities here, --use-service-account-credentials)
    make its ReplicaSet and pods. Others may scale or annotate it, not change its pods."""
    dana = editor(world, cluster)
    ns = world.namespace
    wait_enforced(cluster, ns, dana)
    operator = chart_rbac.grant(ns)
    made = create(cluster, ns, serving("chat-0123456789abcdef"), operator)
    assert made.returncode == 0, made.stderr
    pods = wait_until(
        lambda: (lambda ps: ps if len(ps) == 2 else None)(
            labelled_pods(world, "chat-0123456789abcdef")
        ),
        60,
        describe=world.diagnostics,
        what="two serving pods made by the controllers",
    )
    assert {p["metadata"]["labels"][SERVING_LABEL] for p in pods} == {"chat"}

    # Swapping the image of a serving Deployment, or of a serving pod, is refused.
    swapped = cluster.kubectl(
        "set", "image", "-n", ns, "deployment/chat-0123456789abcdef", "chat=chat-backend:crash",
        kubeconfig=dana, check=False,
    )  # fmt: skip
    assert swapped.returncode != 0
    assert f"{ONLY_OPERATOR} template that carries it (user dana)" in swapped.stderr
    target = pods[0]["metadata"]["name"]
    swapped = cluster.kubectl(
        "set", "image", "-n", ns, f"pod/{target}", "chat=chat-backend:crash",
        kubeconfig=dana, check=False,
    )  # fmt: skip
    assert swapped.returncode != 0
    assert f"{ONLY_OPERATOR} that carries it (user dana)" in swapped.stderr
    # Metadata and scale are not the pods' contents: allowed.
    cluster.kubectl(
        "annotate", "-n", ns, "deployment/chat-0123456789abcdef", "note=x", kubeconfig=dana
    )
    cluster.kubectl(
        "scale", "-n", ns, "deployment/chat-0123456789abcdef", "--replicas=3", kubeconfig=dana
    )
    # A deleted serving pod is replaced by the replicaset controller, label and all.
    cluster.kubectl("delete", "-n", ns, f"pod/{target}", "--wait=false", kubeconfig=dana)
    wait_until(
        lambda: (
            (
                len(
                    names := {
                        p["metadata"]["name"] for p in labelled_pods(world, "chat-0123456789abcdef")
                    }
                )
                == 3
                and target not in names
            )
            or None
        ),
        60,
        describe=world.diagnostics,
        what="three serving pods, the deleted one replaced",
    )
