"""The shape shared by the operator's ValidatingAdmissionPolicies and bindings.

Each policy module (approval_policy, serving_policy, command_policy) says what
it checks; this one only wraps that in the objects the API server takes.
"""

from __future__ import annotations

from typing import Any

ADMISSION_API = "admissionregistration.k8s.io/v1"
PART_OF = {"app.kubernetes.io/part-of": "deploymentgate"}


def _object(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": ADMISSION_API,
        "kind": kind,
        "metadata": {"name": name, "labels": dict(PART_OF)},
        "spec": spec,
    }


def rule(group: str, resources: list[str], operations: list[str]) -> dict[str, Any]:
    """A resourceRule matching every version of `resources` in `group`."""
    return {
        "apiGroups": [group],
        "apiVersions": ["*"],
        "operations": operations,
        "resources": resources,
    }


def policy(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    """A ValidatingAdmissionPolicy that fails closed (failurePolicy Fail)."""
    return _object("ValidatingAdmissionPolicy", name, {"failurePolicy": "Fail", **spec})


def binding(name: str, **spec: Any) -> dict[str, Any]:
    """Binds policy `name` everywhere, denying; `spec` adds e.g. a paramRef."""
    return _object(
        "ValidatingAdmissionPolicyBinding",
        name,
        {"policyName": name, "validationActions": ["Deny"], **spec},
    )
