"""The admission policy that makes a sign-off mean "this person, in this role".

A GateApproval is only as trustworthy as the check made when it was created.
The ValidatingAdmissionPolicy below (shipped by the chart and in
deploy/policy/, generated from this module by `make generate`) refuses a
sign-off unless

- spec.approver is the user making the request (request.userInfo.username),
- spec.groups lists only groups that user is in,
- the named gate's spec.approvals.roles gives the role to that user or to one
  of those groups, and
- spec.revision is the revision the gate has under test,

and it refuses every UPDATE (a sign-off is never edited, only deleted). The
binding takes the DeploymentGates of the request's namespace as params, so
each gate is checked against its own roles.

The operator counts sign-offs only while this policy and its binding are in
force (`deploymentgate.core.policy_state.assess` compares what is installed
with what this module builds). Pure data, no I/O.
"""

from __future__ import annotations

from typing import Any

from deploymentgate.manifests import admission
from deploymentgate.models import API_GROUP, API_VERSION, APPROVAL_PLURAL, KIND, PLURAL

POLICY_NAME = f"{APPROVAL_PLURAL}.{API_GROUP}"
GUARD_NAME = f"{PLURAL}-approvals.{API_GROUP}"

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
