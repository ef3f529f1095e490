"""The admission policy that makes a sign-off mean "this person, in this role".

A GateApproval is only as trustworthy as the check made when it was created.
The ValidatingAdmissionPolicy below (shipped by the chart and in
deploy/policy/, generated from this module by `python -m
deploymentgate.core.crdgen`) refuses a sign-off unless

- spec.approver is the user making the request (request.userInfo.username),
- spec.groups lists only groups that user is in,
- the named gate's spec.approvals.roles gives the role to that user or to one
  of those groups, and
- spec.revision is the revision the gate has under test,

and it refuses every UPDATE (a sign-off is never edited, only deleted). The
binding takes the DeploymentGates of the request's namespace as params, so
each gate is checked against its own roles.

The operator counts sign-offs only while this policy and its binding are in
force: `assess` compares what is installed with what this module builds, and
says why not when they differ. Pure data, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from deploymentgate.core import admission
from deploymentgate.models import API_GROUP, API_VERSION, APPROVAL_PLURAL, KIND, PLURAL
from deploymentgate.timestamps import read_timestamp

POLICY_NAME = f"{APPROVAL_PLURAL}.{API_GROUP}"
GUARD_NAME = f"{PLURAL}-approvals.{API_GROUP}"
# A sign-off created this soon after the policy or its binding may have been
# admitted before the API server enforced them: it does not count.
POLICY_SETTLE = timedelta(seconds=5)

_ROLE = "params.spec.approvals.roles[object.spec.role]"
_HOLDERS = (
    "["
    f"has({_ROLE}.users) && size({_ROLE}.users) > 0"
    f" ? 'users [' + {_ROLE}.users.join(', ') + ']' : '',"
    f" has({_ROLE}.groups) && size({_ROLE}.groups) > 0"
    f" ? 'groups [' + {_ROLE}.groups.join(', ') + ']' : ''"
    "].filter(s, s != '').join(' and ')"
)

VARIABLES: list[dict[str, str]] = [
    # Each gate of the namespace is one param; only the named one has a say.
    {"name": "mine", "expression": "params.metadata.name == object.spec.gate"},
    {"name": "creating", "expression": "request.operation == 'CREATE'"},
    {
        "name": "defined",
        "expression": "has(params.spec.approvals) && has(params.spec.approvals.roles)"
        " && object.spec.role in params.spec.approvals.roles",
    },
    {
        "name": "holds",
        "expression": f"variables.defined && ("
        f"(has({_ROLE}.users) && object.spec.approver in {_ROLE}.users)"
        f" || (has({_ROLE}.groups) && has(object.spec.groups)"
        f" && {_ROLE}.groups.exists(g, g in object.spec.groups)))",
    },
    {
        "name": "inHolderGroup",
        "expression": f"variables.defined && has({_ROLE}.groups)"
        f" && {_ROLE}.groups.exists(g, g in request.userInfo.groups)",
    },
]

VALIDATIONS: list[dict[str, str]] = [
    {
        "expression": "variables.creating",
        "message": "a sign-off cannot be edited: delete it and create a new one",
        "reason": "Forbidden",
    },
    {
        "expression": "!variables.creating || object.spec.approver == request.userInfo.username",
        "messageExpression": "'spec.approver must be your own user name (' + "
        "request.userInfo.username + '), not ' + object.spec.approver",
        "reason": "Forbidden",
    },
    {
        "expression": "!variables.creating || !has(object.spec.groups)"
        " || object.spec.groups.all(g, g in request.userInfo.groups)",
        "messageExpression": "'spec.groups may only list groups user ' + "
        "request.userInfo.username + ' is in'",
        "reason": "Forbidden",
    },
    {
        "expression": "!variables.creating || !variables.mine || variables.holds",
        "messageExpression": "'user ' + request.userInfo.username + ' may not sign off as ' + "
        "object.spec.role + ' for gate ' + object.spec.gate + ': ' + "
        "(variables.defined ? 'role ' + object.spec.role + ' is held by ' + "
        f"{_HOLDERS}"
        " + (variables.inHolderGroup ? ' (list that group of yours in spec.groups)' : '')"
        " : 'the gate defines no role ' + object.spec.role)",
        "reason": "Forbidden",
    },
    {
        "expression": "!variables.creating || !variables.mine || (has(params.status)"
        " && has(params.status.revision) && params.status.revision == object.spec.revision)",
        "messageExpression": "'gate ' + object.spec.gate + ' has ' + "
        "(has(params.status) && has(params.status.revision)"
        " ? 'revision ' + params.status.revision : 'no revision') + "
        "' under test, not ' + object.spec.revision",
        "reason": "Invalid",
    },
]


def policy() -> dict[str, Any]:
    """The ValidatingAdmissionPolicy for GateApprovals."""
    return admission.policy(
        POLICY_NAME,
        {
            "paramKind": {"apiVersion": f"{API_GROUP}/{API_VERSION}", "kind": KIND},
            "matchConstraints": {
                "resourceRules": [
                    admission.rule(API_GROUP, [APPROVAL_PLURAL], ["CREATE", "UPDATE"])
                ]
            },
            "variables": VARIABLES,
            "validations": VALIDATIONS,
        },
    )


def binding() -> dict[str, Any]:
    """Binds the policy to every namespace, with that namespace's gates as params."""
    # No namespace: the params are read in the sign-off's own namespace.
    return admission.binding(
        POLICY_NAME, paramRef={"selector": {}, "parameterNotFoundAction": "Deny"}
    )


def guard_policy(admin_groups: list[str]) -> dict[str, Any]:
    """Optional: only `admin_groups` may change a gate's spec.approvals.

    Whoever may edit a gate could otherwise name themselves in a role, or
    drop the approvals. Creating and deleting gates stays with RBAC.
    """
    same = (
        "has(object.spec.approvals) == has(oldObject.spec.approvals)"
        " && (!has(object.spec.approvals) || object.spec.approvals == oldObject.spec.approvals)"
    )
    groups = ", ".join(admin_groups)
    return admission.policy(
        GUARD_NAME,
        {
            "matchConstraints": {
                "resourceRules": [admission.rule(API_GROUP, [PLURAL], ["UPDATE"])]
            },
            "variables": [{"name": "admins", "expression": _cel_strings(admin_groups)}],
            "validations": [
                {
                    "expression": f"({same})"
                    " || request.userInfo.groups.exists(g, g in variables.admins)",
                    "messageExpression": f"'user ' + request.userInfo.username + "
                    f"' may not change spec.approvals of gate ' + object.metadata.name + "
                    f"': only members of groups [{groups}] may'",
                    "reason": "Forbidden",
                }
            ],
        },
    )


def guard_binding() -> dict[str, Any]:
    return admission.binding(GUARD_NAME)


def _cel_strings(values: list[str]) -> str:
    return (
        "["
        + ", ".join("'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'" for v in values)
        + "]"
    )


# ------------------------------------------------------- what the operator sees


@dataclass(frozen=True)
class PolicyState:
    """Whether sign-offs can be trusted, as the operator last read it.

    `since`: when both the policy and its binding existed (the later
    creationTimestamp); sign-offs older than that plus POLICY_SETTLE do not
    count. `problem`: why sign-offs are not counted, for the gate's message.
    """

    installed: bool
    problem: str = ""
    since: datetime | None = None


NOT_READ = PolicyState(False, f"the admission policy {POLICY_NAME} has not been read yet")


def assess(
    installed_policy: Mapping[str, Any] | None,
    installed_binding: Mapping[str, Any] | None,
    name: str = POLICY_NAME,
) -> PolicyState:
    """Is the policy named `name` in force as this module builds it?

    Extra validations are fine; a missing or changed one, a binding that only
    warns or audits, one limited to some namespaces or objects, or params
    read elsewhere all mean a sign-off may have been forged.
    """
    if installed_policy is None:
        return PolicyState(False, f"the admission policy {name} is not installed")
    if installed_binding is None:
        return PolicyState(False, f"the admission policy binding {name} is not installed")
    expected = policy()["spec"]
    spec = installed_policy.get("spec") or {}
    wrong = _policy_differences(spec, expected)
    bspec = installed_binding.get("spec") or {}
    wrong += _binding_differences(bspec, name)
    if wrong:
        return PolicyState(
            False, f"the admission policy {name} is not as shipped: {'; '.join(wrong)}"
        )
    times = [t for t in (_created(installed_policy), _created(installed_binding)) if t]
    since = max(times, default=None)
    return PolicyState(True, since=since)


def _policy_differences(spec: Mapping[str, Any], expected: Mapping[str, Any]) -> list[str]:
    out = []
    if spec.get("failurePolicy", "Fail") != "Fail":
        out.append("failurePolicy is not Fail")
    if spec.get("paramKind") != expected["paramKind"]:
        out.append(f"paramKind is not {KIND}")
    if _rules(spec) != _rules(expected):
        out.append("it does not match CREATE and UPDATE of gateapprovals")
    if spec.get("matchConditions"):
        out.append("it has matchConditions")
    variables = {v.get("name"): v.get("expression") for v in spec.get("variables") or []}
    if any(variables.get(v["name"]) != v["expression"] for v in VARIABLES):
        out.append("its variables differ")
    present = {v.get("expression") for v in spec.get("validations") or []}
    if any(v["expression"] not in present for v in VALIDATIONS):
        out.append("a validation is missing or changed")
    return out


def _rules(spec: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    constraints = spec.get("matchConstraints") or {}
    return sorted(
        (
            tuple(r.get("apiGroups") or ()),
            tuple(r.get("apiVersions") or ()),
            tuple(sorted(r.get("operations") or ())),
            tuple(r.get("resources") or ()),
        )
        for r in constraints.get("resourceRules") or []
    )


def _binding_differences(spec: Mapping[str, Any], name: str) -> list[str]:
    out = []
    if spec.get("policyName") != name:
        out.append(f"binding {name} does not bind policy {name}")
    if "Deny" not in (spec.get("validationActions") or []):
        out.append("binding does not Deny")
    ref = spec.get("paramRef") or {}
    if ref.get("name") or ref.get("namespace") or ref.get("selector") not in ({}, None):
        out.append("binding reads params other than the namespace's gates")
    if "selector" not in ref or ref.get("parameterNotFoundAction") != "Deny":
        out.append("binding does not deny sign-offs where no gate is found")
    match = spec.get("matchResources") or {}
    for key in ("namespaceSelector", "objectSelector"):
        if match.get(key) not in ({}, None):
            out.append(f"binding has a {key}")
    if match.get("resourceRules") or match.get("excludeResourceRules"):
        out.append("binding narrows the resources")
    return out


def _created(obj: Mapping[str, Any]) -> datetime | None:
    return read_timestamp((obj.get("metadata") or {}).get("creationTimestamp"))
