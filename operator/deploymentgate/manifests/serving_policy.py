"""The admission policy that keeps the serving label to the operator's own pods.

A gated Service selects `deploymentgate.dev/serving: <gate>`, and only the
gate's serving Deployments (verified revisions) put that label on their pods.
Anyone else who puts it on a pod, or in a workload's pod template (a copy of
`kubectl get deploy chat-<rev> -o yaml` synced by GitOps, say), would have
users served by a revision nobody verified, and the operator being down
must not open that door. So the API server refuses it: the
ValidatingAdmissionPolicy below (shipped by the chart, on by default, and
in deploy/policy/, generated from this module by `make generate`) denies,
for everyone but the operator's ServiceAccount and the controllers that turn
its Deployments into ReplicaSets and pods,

- CREATE of a Pod, or of a Deployment, ReplicaSet, StatefulSet, DaemonSet,
  ReplicationController, Job or CronJob whose pod template carries the label;
- UPDATE that adds the label (or changes its value), or that changes the pod
  template (a Pod's spec) of an object carrying it: `kubectl set image` on a
  serving Deployment or pod would swap the verified image for another.

Updates that leave the labelled template alone (scale, metadata, owner
references, finalizers: the garbage collector's) pass. matchConditions skip
every object without the label, so other requests cost one map lookup.
Pure data, no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from deploymentgate.manifests import admission
from deploymentgate.models import API_GROUP, SERVING_LABEL

POLICY_NAME = f"serving-label.{API_GROUP}"

# kube-controller-manager turns the operator's Deployments into ReplicaSets
# and pods: with --use-service-account-credentials each controller has its
# own ServiceAccount, otherwise they all act as system:kube-controller-manager.
CONTROLLER_USERS: tuple[str, ...] = (
    "system:serviceaccount:kube-system:deployment-controller",
    "system:serviceaccount:kube-system:replicaset-controller",
    "system:kube-controller-manager",
)
# The chart replaces this with system:serviceaccount:<release namespace>:<its ServiceAccount>.
CHART_OPERATOR_PLACEHOLDER = "system:serviceaccount:OPERATOR-NAMESPACE:OPERATOR-SERVICEACCOUNT"
# deploy/policy/ (non-Helm installs): the chart's defaults, `helm install
# deploymentgate ... -n deploymentgate`; edit it when the operator runs as another.
DEFAULT_OPERATOR_USER = "system:serviceaccount:deploymentgate:deploymentgate"

# Where each kind keeps the pod (template) whose labels the Service sees.
_POD_PATHS: dict[str, tuple[str, ...]] = {
    "pods": (),
    "cronjobs": ("spec", "jobTemplate", "spec", "template"),
}
_TEMPLATE_PATH = ("spec", "template")
WORKLOAD_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("apps", ("deployments", "replicasets", "statefulsets", "daemonsets")),
    ("batch", ("jobs", "cronjobs")),
    ("", ("replicationcontrollers",)),
)


def _by_resource(render: Callable[[tuple[str, ...]], str]) -> str:
    """One CEL expression choosing, by the request's resource, how `render(path)` reads."""
    pods, cronjobs = _POD_PATHS["pods"], _POD_PATHS["cronjobs"]
    return (
        f"request.resource.resource == 'pods' ? ({render(pods)})"
        f" : request.resource.resource == 'cronjobs' ? ({render(cronjobs)})"
        f" : ({render(_TEMPLATE_PATH)})"
    )


def _carries(root: str) -> str:
    """`root`'s pod (template) has the serving label; every step guarded by has()."""

    def render(path: tuple[str, ...]) -> str:
        steps = [root]
        guards = []
        for field in (*path, "metadata", "labels"):
            guards.append(f"has({'.'.join(steps)}.{field})")
            steps.append(field)
        return " && ".join([*guards, f"'{SERVING_LABEL}' in {'.'.join(steps)}"])

    return _by_resource(render)


def _unchanged() -> str:
    """The update keeps the pod (template) as it was, serving label value included."""

    def render(path: tuple[str, ...]) -> str:
        if not path:  # a Pod: its spec and the label's value
            return (
                f"oldObject.metadata.labels['{SERVING_LABEL}']"
                f" == object.metadata.labels['{SERVING_LABEL}']"
                " && oldObject.spec == object.spec"
            )
        dotted = ".".join(path)
        return f"oldObject.{dotted} == object.{dotted}"

    return _by_resource(render)


def _cel_strings(values: Sequence[str]) -> str:
    return (
        "["
        + ", ".join("'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'" for v in values)
        + "]"
    )


def allowed_users(operator_user: str) -> list[str]:
    return [operator_user, *CONTROLLER_USERS]


def match_conditions(operator_user: str) -> list[dict[str, str]]:
    return [
        {
            "name": "not-the-operator-or-its-controllers",
            "expression": "!(request.userInfo.username in "
            f"{_cel_strings(allowed_users(operator_user))})",
        },
        {"name": "carries-the-serving-label", "expression": _carries("object")},
    ]


VALIDATIONS: list[dict[str, str]] = [
    {
        # An update that leaves a labelled pod (template) as it was is fine.
        "expression": f"request.operation == 'UPDATE' && ({_carries('oldObject')})"
        f" && ({_unchanged()})",
        "messageExpression": (
            f"'label {SERVING_LABEL} is reserved for DeploymentGate\\'s own serving pods:"
            " a Service gated by a DeploymentGate would send user traffic to these pods,"
            " which no gate verified; ' + (request.operation == 'CREATE'"
            " ? (request.resource.resource == 'pods' ? 'remove it from the pod'"
            " : 'remove it from the pod template of this ' + request.kind.kind)"
            " : 'only the DeploymentGate operator may add it, or change a pod'"
            " + (request.resource.resource == 'pods' ? '' : ' template') + ' that carries it')"
            " + ' (user ' + request.userInfo.username + ')'"
        ),
        "reason": "Forbidden",
    }
]


def policy(operator_user: str = DEFAULT_OPERATOR_USER) -> dict[str, Any]:
    """The ValidatingAdmissionPolicy; `operator_user` is the operator's ServiceAccount user."""
    rules: list[dict[str, Any]] = [
        admission.rule(group, list(resources), ["CREATE", "UPDATE"])
        for group, resources in WORKLOAD_RULES
    ]
    rules[-1]["resources"].insert(0, "pods")  # core group: pods and replicationcontrollers
    return admission.policy(
        POLICY_NAME,
        {
            "matchConstraints": {"resourceRules": rules},
            "matchConditions": match_conditions(operator_user),
            "validations": VALIDATIONS,
        },
    )


def binding() -> dict[str, Any]:
    """Binds the policy in every namespace, denying."""
    return admission.binding(POLICY_NAME)
