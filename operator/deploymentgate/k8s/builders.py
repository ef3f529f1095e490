"""Pure builders of the objects the operator owns (no API calls).

Traffic without a mesh: the `<target>-primary` Deployment runs the last
verified template and carries the Service's labels, so the user's Service
selects it and the user's own Deployment (the canary) alike; traffic splits by
ready replicas. Verification pods run the new template WITHOUT the Service's
labels, so probing happens at a true 0% of user traffic.
"""

from __future__ import annotations

import copy
from typing import Any

from deploymentgate.models import API_GROUP, API_VERSION, KIND

ROLE_LABEL = "deploymentgate.dev/role"
GATE_LABEL = "deploymentgate.dev/gate"
REVISION_LABEL = "deploymentgate.dev/revision"
MANAGED_BY = {"app.kubernetes.io/managed-by": "deploymentgate"}
ROLE_PRIMARY = "primary"
ROLE_VERIFY = "verify"


def primary_name(target: str) -> str:
    return f"{target}-primary"


def verify_name(target: str) -> str:
    return f"{target}-verify"


def owner_reference(gate: dict[str, Any]) -> dict[str, Any]:
    meta = gate["metadata"]
    return {
        "apiVersion": f"{API_GROUP}/{API_VERSION}",
        "kind": KIND,
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
    }


def _deployment(
    *,
    name: str,
    namespace: str,
    gate: dict[str, Any],
    selector: dict[str, str],
    template: dict[str, Any],
    replicas: int,
    strategy: dict[str, Any] | None,
    role: str,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "replicas": replicas,
        "selector": {"matchLabels": selector},
        "template": template,
    }
    if strategy:
        spec["strategy"] = copy.deepcopy(strategy)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {**MANAGED_BY, GATE_LABEL: gate["metadata"]["name"], ROLE_LABEL: role},
            "ownerReferences": [owner_reference(gate)],
        },
        "spec": spec,
    }


def build_primary(
    gate: dict[str, Any],
    target: dict[str, Any],
    template: dict[str, Any],
    revision: str,
    replicas: int,
) -> dict[str, Any]:
    """The Deployment that serves production with the last verified template."""
    selector = dict((target["spec"].get("selector") or {}).get("matchLabels") or {})
    selector[ROLE_LABEL] = ROLE_PRIMARY
    tpl = copy.deepcopy(template)
    labels = tpl.setdefault("metadata", {}).setdefault("labels", {})
    labels.update({ROLE_LABEL: ROLE_PRIMARY, REVISION_LABEL: revision})
    return _deployment(
        name=primary_name(target["metadata"]["name"]),
        namespace=target["metadata"]["namespace"],
        gate=gate,
        selector=selector,
        template=tpl,
        replicas=replicas,
        strategy=target["spec"].get("strategy"),
        role=ROLE_PRIMARY,
    )


def build_verification(
    gate: dict[str, Any],
    target: dict[str, Any],
    template: dict[str, Any],
    revision: str,
    replicas: int = 1,
) -> dict[str, Any]:
    """Pods of the new revision that no Service selects: 0% user traffic."""
    gate_name = gate["metadata"]["name"]
    labels = {GATE_LABEL: gate_name, ROLE_LABEL: ROLE_VERIFY, REVISION_LABEL: revision}
    tpl = copy.deepcopy(template)
    tpl.setdefault("metadata", {})["labels"] = dict(labels)
    return _deployment(
        name=verify_name(target["metadata"]["name"]),
        namespace=target["metadata"]["namespace"],
        gate=gate,
        selector={GATE_LABEL: gate_name, ROLE_LABEL: ROLE_VERIFY},
        template=tpl,
        replicas=replicas,
        strategy={"type": "Recreate"},
        role=ROLE_VERIFY,
    )
