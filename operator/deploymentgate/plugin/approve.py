"""`kubectl gate approve <gate> --role R`: create one GateApproval.

The sign-off names the gate's current status.revision and the caller as the
API server authenticates them (SelfSubjectReview), plus those of the
caller's groups that hold the role. Admission (the chart's
ValidatingAdmissionPolicy) is what makes it true; this command only fills
it in and prints the answer, refusal included.
"""

from __future__ import annotations

import hashlib
from typing import Any

from kubernetes.client.exceptions import ApiException

from deploymentgate.models import (
    API_GROUP,
    API_VERSION,
    APPROVAL_KIND,
    APPROVAL_PLURAL,
    PLURAL,
)
from deploymentgate.plugin.session import Identity, PluginError, Session, as_dict, refusal


def approval_name(gate: str, revision: str, role: str, user: str) -> str:
    """Stable per (gate, revision, role, user): approving twice is one sign-off."""
    digest = hashlib.sha256("\0".join([gate, revision, role, user]).encode()).hexdigest()[:10]
    return f"{gate[:100].rstrip('.-')}-{role[:63]}-{digest}"


def approval_object(
    namespace: str, gate: str, revision: str, role: str, who: Identity, role_groups: list[str]
) -> dict[str, Any]:
    groups = sorted(g for g in who.groups if g in role_groups)
    spec: dict[str, Any] = {
        "gate": gate,
        "revision": revision,
        "role": role,
        "approver": who.username,
    }
    if groups:
        spec["groups"] = groups
    return {
        "apiVersion": f"{API_GROUP}/{API_VERSION}",
        "kind": APPROVAL_KIND,
        "metadata": {
            "name": approval_name(gate, revision, role, who.username),
            "namespace": namespace,
        },
        "spec": spec,
    }


def approve(session: Session, gate: str, role: str, *, revision: str | None = None) -> str:
    """Sign off; the line to print. PluginError with the API server's words when refused."""
    ns = session.namespace
    try:
        body = as_dict(
            session.objects.get_namespaced_custom_object(API_GROUP, API_VERSION, ns, PLURAL, gate)
        )
    except ApiException as exc:
        if exc.status == 404:
            raise PluginError(f"gate {gate} not found in namespace {ns}") from exc
        raise PluginError(f"cannot read gate {gate}: {refusal(exc)}") from exc
    status = body.get("status") or {}
    under_test = status.get("revision")
    if not under_test:
        raise PluginError(f"gate {gate} has no revision under test yet; nothing to sign off")
    if revision and revision != under_test:
        raise PluginError(
            f"gate {gate} has revision {under_test} under test, not {revision}; nothing signed"
        )
    roles = ((body.get("spec") or {}).get("approvals") or {}).get("roles") or {}
    role_groups = list((roles.get(role) or {}).get("groups") or [])
    who = session.whoami()
    obj = approval_object(ns, gate, under_test, role, who, role_groups)
    name = obj["metadata"]["name"]
    via = f" through group {', '.join(obj['spec']['groups'])}" if obj["spec"].get("groups") else ""
    try:
        session.objects.create_namespaced_custom_object(
            API_GROUP, API_VERSION, ns, APPROVAL_PLURAL, obj
        )
    except ApiException as exc:
        if exc.status == 409:
            return (
                f"{who.username} had already signed off gate {gate} revision {under_test}"
                f" as {role} (gateapproval/{name} in {ns})"
            )
        raise PluginError(f"sign-off refused: {refusal(exc)}") from exc
    phase = status.get("phase") or "unknown"
    return (
        f"{who.username} signed off gate {gate} revision {under_test} as {role}{via}:"
        f" gateapproval/{name} created in {ns} (gate is {phase})"
    )
