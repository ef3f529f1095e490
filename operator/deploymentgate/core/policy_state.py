"""Whether sign-offs can be trusted: the installed GateApproval policy, judged.

The operator counts sign-offs only while the admission policy that checks them
(built by `deploymentgate.manifests.approval_policy`) and its binding are in
force: `assess` compares what is installed with what that module builds, and
says why not when they differ. Pure data, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from deploymentgate.manifests.approval_policy import POLICY_NAME, VALIDATIONS, VARIABLES, policy
from deploymentgate.models import KIND
from deploymentgate.timestamps import read_timestamp

# A sign-off created this soon after the policy or its binding may have been
# admitted before the API server enforced them: it does not count.
POLICY_SETTLE = timedelta(seconds=5)


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
