"""The admission policy that keeps a gated Service's serving key, operator or not.

A gated Service selects `deploymentgate.dev/serving: <gate>` besides the
team's own labels, so it reaches only pods the gate verified. A Service's
selector is one atomic value for server-side apply: a GitOps sync (Flux's
`kubectl apply --server-side --force-conflicts`, `kubectl replace`, an edit)
writes the team's selector whole and drops the key, and until the operator
puts it back the Service selects the team's own, unverified pods. While the
operator is down, nothing would put it back.

So the API server keeps it. On Kubernetes 1.36+ a MutatingAdmissionPolicy
puts the key back into any Service write by anyone but the operator: the sync
succeeds, and the Service never stops selecting only verified pods. Where
MutatingAdmissionPolicy is not served, a ValidatingAdmissionPolicy refuses
such a write instead, naming the GitOps ignore rule that avoids it. The chart
installs the one the cluster serves.

Which Services are gated is decided from what only the operator writes or a
gate declares, never from a label a team could put on an object:

- UPDATE: the Service as stored (`oldObject`, what the API server holds,
  which only the operator writes the key into, see `serving_policy`) selects
  `deploymentgate.dev/serving: <g>`, and the DeploymentGate `<g>` of the
  same namespace names this Service in `spec.service`. A key somebody else
  put there only narrows their own Service to pods no one but the operator
  can label, and is kept only while a gate of that name claims the Service.
- CREATE (`kubectl replace --force`, a Service deleted and synced again): a
  DeploymentGate of the namespace names this Service and has adopted its
  Deployment (`status.stableRevision`, a status only the operator writes).

The mutation only ever adds the key with the gate's own name: it narrows a
selector, never widens one. Pure data, no I/O.
"""

from __future__ import annotations

from typing import Any

from deploymentgate.manifests import admission
from deploymentgate.manifests.serving_policy import DEFAULT_OPERATOR_USER, SERVING_LABEL
from deploymentgate.models import API_GROUP, API_VERSION, KIND

POLICY_NAME = f"serving-selector.{API_GROUP}"
MUTATING_API = "admissionregistration.k8s.io/v1/MutatingAdmissionPolicy"
# What a team tells its GitOps tool so that it never writes the key (the
# fallback policy's refusal names it).
IGNORE_RULE = (
    "Argo CD: ignoreDifferences jsonPointers /spec/selector/deploymentgate.dev~1serving"
    " with syncOptions RespectIgnoreDifferences=true; Flux: a Kustomization ignore of"
    " /spec/selector for this Service"
)

_KEY = f"'{SERVING_LABEL}'"
VARIABLES: list[dict[str, str]] = [
    {
        "name": "claimed",
        "expression": "has(params.spec.service) && params.spec.service == object.metadata.name",
    },
    {
        "name": "gated",
        "expression": (
            "variables.claimed && (request.operation == 'UPDATE'"
            f" ? (has(oldObject.spec.selector) && {_KEY} in oldObject.spec.selector"
            f" && oldObject.spec.selector[{_KEY}] == params.metadata.name)"
            " : (has(params.status) && has(params.status.stableRevision)"
            " && params.status.stableRevision != ''))"
        ),
    },
    {
        "name": "kept",
        "expression": (
            f"has(object.spec.selector) && {_KEY} in object.spec.selector"
            f" && object.spec.selector[{_KEY}] == params.metadata.name"
        ),
    },
]


def _match_conditions(operator_user: str) -> list[dict[str, str]]:
    return [
        {
            "name": "not-the-operator",
            "expression": f"request.userInfo.username != '{operator_user}'",
        },
    ]


def _constraints() -> dict[str, Any]:
    return {
        "resourceRules": [
            {
                "apiGroups": [""],
                "apiVersions": ["v1"],
                "operations": ["CREATE", "UPDATE"],
                "resources": ["services"],
            }
        ]
    }


def _params() -> dict[str, str]:
    return {"apiVersion": f"{API_GROUP}/{API_VERSION}", "kind": KIND}


# Gates are read in the Service's own namespace; a Service with no gate there
# is not gated (Allow), every gate there is checked in turn.
PARAM_REF: dict[str, Any] = {"selector": {}, "parameterNotFoundAction": "Allow"}

MUTATION: dict[str, Any] = {
    "patchType": "JSONPatch",
    "jsonPatch": {
        "expression": (
            "variables.gated && !variables.kept ? (has(object.spec.selector)"
            " ? [JSONPatch{op: 'add', path: '/spec/selector/' + jsonpatch.escapeKey("
            f"{_KEY}), value: params.metadata.name}}]"
            " : [JSONPatch{op: 'add', path: '/spec/selector', value: {"
            f"{_KEY}: params.metadata.name}}}}]) : []"
        )
    },
}


def mutating_policy(operator_user: str = DEFAULT_OPERATOR_USER) -> dict[str, Any]:
    """The MutatingAdmissionPolicy (Kubernetes 1.36+) that puts the key back."""
    return {
        "apiVersion": admission.ADMISSION_API,
        "kind": "MutatingAdmissionPolicy",
        "metadata": {"name": POLICY_NAME, "labels": dict(admission.PART_OF)},
        "spec": {
            "failurePolicy": "Fail",
            "paramKind": _params(),
            "matchConstraints": _constraints(),
            "matchConditions": _match_conditions(operator_user),
            "variables": VARIABLES,
            "mutations": [MUTATION],
            "reinvocationPolicy": "IfNeeded",
        },
    }


def mutating_binding() -> dict[str, Any]:
    return {
        "apiVersion": admission.ADMISSION_API,
        "kind": "MutatingAdmissionPolicyBinding",
        "metadata": {"name": POLICY_NAME, "labels": dict(admission.PART_OF)},
        "spec": {"policyName": POLICY_NAME, "paramRef": PARAM_REF},
    }


VALIDATIONS: list[dict[str, str]] = [
    {
        "expression": "!variables.gated || variables.kept",
        "messageExpression": (
            "'Service ' + object.metadata.name + ' is gated by DeploymentGate '"
            " + params.metadata.name + ': only the DeploymentGate operator may remove"
            f" {SERVING_LABEL} from its selector (so it reaches only verified pods). Keep"
            f" the key, or tell your GitOps tool to leave it alone ({IGNORE_RULE})."
            " (user ' + request.userInfo.username + ')'"
        ),
        "reason": "Forbidden",
    }
]


def validating_policy(operator_user: str = DEFAULT_OPERATOR_USER) -> dict[str, Any]:
    """Where MutatingAdmissionPolicy is not served: refuse instead of mending."""
    return admission.policy(
        POLICY_NAME,
        {
            "paramKind": _params(),
            "matchConstraints": _constraints(),
            "matchConditions": _match_conditions(operator_user),
            "variables": VARIABLES,
            "validations": VALIDATIONS,
        },
    )


def validating_binding() -> dict[str, Any]:
    return admission.binding(POLICY_NAME, paramRef=PARAM_REF)
