"""The sign-off admission policy as shipped, and how the operator judges what
is installed: anything weaker than the shipped policy counts no sign-off."""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml

from deploymentgate.core.policy_state import assess
from deploymentgate.manifests import approval_policy, crdgen
from deploymentgate.manifests.approval_policy import POLICY_NAME, binding, policy
from deploymentgate.plugin.approve import approval_name, approval_object
from deploymentgate.plugin.session import Identity
from deploymentgate_devkit import generate

DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def installed(obj: dict[str, Any], created: str = "2026-03-01T12:00:00Z") -> dict[str, Any]:
    """As the API server returns it: defaults filled in, a creationTimestamp."""
    out = copy.deepcopy(obj)
    out["metadata"]["creationTimestamp"] = created
    if out["kind"] == "ValidatingAdmissionPolicyBinding":
        out["spec"]["matchResources"] = {
            "namespaceSelector": {},
            "objectSelector": {},
            "matchPolicy": "Equivalent",
        }
    else:
        out["spec"]["matchConstraints"].update(
            namespaceSelector={}, objectSelector={}, matchPolicy="Equivalent"
        )
    return out


def test_generated_policy_and_crd_files_are_current() -> None:
    assert generate.stale() == [], f"stale: {generate.stale()}; run {crdgen.REGENERATE}"
    chart_policy = generate.ROOT / crdgen.CHART / "files" / crdgen.POLICY_FILE
    shipped = list(yaml.safe_load_all(chart_policy.read_text()))
    assert shipped == [policy(), binding()]


def test_the_shipped_policy_and_binding_are_in_force() -> None:
    state = assess(installed(policy()), installed(binding(), "2026-03-01T12:00:07Z"))
    assert state.installed and state.problem == ""
    assert state.since == datetime(2026, 3, 1, 12, 0, 7, tzinfo=UTC)


def _weaken(kind: str, change: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    p, b = installed(policy()), installed(binding())
    change(p if kind == "policy" else b)
    return p, b


WEAKER = {
    "validation dropped": (
        "policy",
        lambda p: p["spec"]["validations"].pop(1),
        "a validation is missing or changed",
    ),
    "fails open": ("policy", lambda p: p["spec"].update(failurePolicy="Ignore"), "failurePolicy"),
    "only audits": (
        "binding",
        lambda b: b["spec"].update(validationActions=["Audit"]),
        "binding does not Deny",
    ),
    "some namespaces only": (
        "binding",
        lambda b: b["spec"]["matchResources"].update(namespaceSelector={"matchLabels": {"a": "b"}}),
        "binding has a namespaceSelector",
    ),
    "params from elsewhere": (
        "binding",
        lambda b: b["spec"]["paramRef"].update(namespace="kube-system"),
        "params other than the namespace's gates",
    ),
    "missing gate allowed": (
        "binding",
        lambda b: b["spec"]["paramRef"].update(parameterNotFoundAction="Allow"),
        "no gate is found",
    ),
    "variable changed": (
        "policy",
        lambda p: p["spec"]["variables"][3].update(expression="true"),
        "its variables differ",
    ),
}


@pytest.mark.parametrize("case", list(WEAKER))
def test_a_weakened_policy_counts_no_sign_off_and_says_why(case: str) -> None:
    kind, change, problem = WEAKER[case]
    state = assess(*_weaken(kind, change))
    assert not state.installed
    assert f"the admission policy {POLICY_NAME} is not as shipped" in state.problem
    assert problem in state.problem


def test_missing_policy_or_binding_is_named() -> None:
    assert assess(None, None).problem == f"the admission policy {POLICY_NAME} is not installed"
    assert (
        assess(installed(policy()), None).problem
        == f"the admission policy binding {POLICY_NAME} is not installed"
    )


def test_plugin_fills_in_the_caller_and_only_their_groups_that_hold_the_role() -> None:
    who = Identity("alice", ("qa", "devs", "system:authenticated"))
    obj = approval_object("prod", "chat", "86651c9f58", "qa", who, ["qa", "testers"])
    assert obj["kind"] == "GateApproval" and obj["metadata"]["namespace"] == "prod"
    assert obj["spec"] == {
        "gate": "chat",
        "revision": "86651c9f58",
        "role": "qa",
        "approver": "alice",
        "groups": ["qa"],
    }
    nobody = approval_object("prod", "chat", "86651c9f58", "qa", Identity("erin", ()), ["qa"])
    assert "groups" not in nobody["spec"]


@pytest.mark.parametrize("gate", ["chat", "a" * 253, "my.gate", "x" * 99 + ".y"])
def test_sign_off_names_are_valid_and_stable(gate: str) -> None:
    name = approval_name(gate, "86651c9f58", "engineering-lead", "erin")
    assert len(name) <= 253 and DNS_SUBDOMAIN.match(name), name
    assert name == approval_name(gate, "86651c9f58", "engineering-lead", "erin")
    assert name != approval_name(gate, "86651c9f58", "engineering-lead", "bob")


def test_guard_lists_admin_groups_as_a_cel_list() -> None:
    guard = approval_policy.guard_policy(["system:masters", "o'brien"])
    assert guard["spec"]["variables"] == [
        {"name": "admins", "expression": "['system:masters', 'o\\'brien']"}
    ]
