"""Pure builders of the objects the operator owns (no API calls), and the
labels that tie them to their gate.

Traffic without a mesh, safe by construction: at adoption the team's Service
gets ONE more selector key, `deploymentgate.dev/serving: <gate>`, that only
the pods of the gate's own serving Deployments carry (`<target>-<revision>`,
one per live revision, each built from a verified template). The team's
Deployment keeps its template and becomes the source of the desired one:
whatever scales it, its pods never match the Service. Verification pods
(`<target>-verify`) run the new template with the team's labels but without
the serving key, so probing happens at a true 0% of user traffic.

Every object built here has an ownerReference to its gate (`controller:
true`); the adapter touches nothing without one.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from deploymentgate.core.smoke import job_name
from deploymentgate.k8s.revision import LABEL_PREFIX
from deploymentgate.models import API_GROUP, API_VERSION, KIND, SERVING_LABEL

GATE_LABEL = "deploymentgate.dev/gate"
ROLE_LABEL = "deploymentgate.dev/role"
REVISION_LABEL = "deploymentgate.dev/revision"
MANAGED_BY = {"app.kubernetes.io/managed-by": "deploymentgate"}
ROLE_SERVING = "serving"
ROLE_VERIFY = "verify"
ROLE_SMOKE = "smoke"
VERIFY_SUFFIX = "verify"
AUTOSCALER_SUFFIX = "serving"

MAX_LABEL_VALUE = 63
# A Deployment's ReplicaSets are named `<deployment>-<hash of up to 10 chars>` and
# must stay within a DNS subdomain's 253 characters.
MAX_DEPLOYMENT_NAME = 253 - 11
_HASH = 16  # hex chars of the hash that keeps a shortened name or value unique


def gate_label_value(gate_name: str) -> str:
    """The gate's name as a label value: itself when it fits in 63 characters,
    else a prefix and a hash of the whole name (still unique per gate)."""
    if len(gate_name) <= MAX_LABEL_VALUE:
        return gate_name
    keep = MAX_LABEL_VALUE - _HASH - 1
    return f"{gate_name[:keep].rstrip('-.')}-{_digest(gate_name)}"


def _bounded_name(base: str, suffix: str) -> str:
    """`<base>-<suffix>`, shortened (with a hash of `base`) past MAX_DEPLOYMENT_NAME."""
    name = f"{base}-{suffix}"
    if len(name) <= MAX_DEPLOYMENT_NAME:
        return name
    keep = MAX_DEPLOYMENT_NAME - len(suffix) - _HASH - 2
    return f"{base[:keep].rstrip('-.')}-{_digest(base)}-{suffix}"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:_HASH]


def serving_name(target: str, revision: str) -> str:
    """The gate's serving Deployment of `revision`: `<target>-<revision>`."""
    return _bounded_name(target, revision)


def verify_name(target: str) -> str:
    return _bounded_name(target, VERIFY_SUFFIX)


def autoscaler_name(target: str) -> str:
    """The gate's copy of the team's HPA: `<target>-serving` (a revision is hex)."""
    return _bounded_name(target, AUTOSCALER_SUFFIX)


def serving_selector(gate_name: str) -> tuple[str, str]:
    """The one key the gate adds to the team's Service selector, and its value."""
    return SERVING_LABEL, gate_label_value(gate_name)


@dataclass(frozen=True)
class OwnerRef:
    """The gate as the objects it owns name it: what every builder here needs of
    it (never the gate's whole body). Its objects live in its namespace."""

    namespace: str
    name: str
    uid: str
    api_version: str = f"{API_GROUP}/{API_VERSION}"
    kind: str = KIND

    @property
    def label(self) -> str:
        return gate_label_value(self.name)


def owner_reference(owner: OwnerRef) -> dict[str, Any]:
    return {
        "apiVersion": owner.api_version,
        "kind": owner.kind,
        "name": owner.name,
        "uid": owner.uid,
        "controller": True,
    }


def controller_uid(metadata: Mapping[str, Any]) -> str | None:
    """uid of the DeploymentGate that controls an object, if one does."""
    for ref in metadata.get("ownerReferences") or []:
        if (
            isinstance(ref, Mapping)
            and ref.get("controller")
            and ref.get("kind") == KIND
            and str(ref.get("apiVersion", "")).split("/")[0] == API_GROUP
        ):
            uid = ref.get("uid")
            return str(uid) if uid else None
    return None


def _team_template(template: Mapping[str, Any], labels: Mapping[str, str]) -> dict[str, Any]:
    """The team's template, without any `deploymentgate.dev/` label or annotation
    it may carry (a copied one could otherwise claim the serving key), plus `labels`."""
    out = copy.deepcopy(dict(template))
    metadata = out.setdefault("metadata", {})
    for key in ("labels", "annotations"):
        values = metadata.get(key)
        if isinstance(values, Mapping):
            metadata[key] = {k: v for k, v in values.items() if not k.startswith(LABEL_PREFIX)}
    metadata["labels"] = {**(metadata.get("labels") or {}), **labels}
    return out


def _deployment(
    *,
    name: str,
    owner: OwnerRef,
    role: str,
    revision: str,
    selector: dict[str, str],
    template: dict[str, Any],
    replicas: int,
    strategy: dict[str, Any] | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "replicas": replicas,
        "selector": {"matchLabels": selector},
        "template": template,
    }
    if strategy:
        spec["strategy"] = strategy
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": owner.namespace,
            "labels": {
                **MANAGED_BY,
                GATE_LABEL: owner.label,
                ROLE_LABEL: role,
                REVISION_LABEL: revision,
            },
            "ownerReferences": [owner_reference(owner)],
        },
        "spec": spec,
    }


def build_serving(
    owner: OwnerRef,
    target: str,
    template: Mapping[str, Any],
    revision: str,
    replicas: int,
) -> dict[str, Any]:
    """`<target>-<revision>`: the only pods the gated Service selects.

    Its template never changes (a new revision gets a Deployment of its own),
    so promotion restarts nothing.
    """
    gate_value = owner.label
    selector = {GATE_LABEL: gate_value, ROLE_LABEL: ROLE_SERVING, REVISION_LABEL: revision}
    labels = {**selector, SERVING_LABEL: gate_value}
    return _deployment(
        name=serving_name(target, revision),
        owner=owner,
        role=ROLE_SERVING,
        revision=revision,
        selector=selector,
        template=_team_template(template, labels),
        replicas=replicas,
    )


def build_autoscaler(
    owner: OwnerRef, target: str, revision: str, spec: Mapping[str, Any]
) -> dict[str, Any]:
    """`<target>-serving`: the team's HPA spec as written, scaling the gate's
    serving Deployment of `revision` instead of the team's (held at 0)."""
    scale_target = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": serving_name(target, revision),
    }
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {
            "name": autoscaler_name(target),
            "namespace": owner.namespace,
            "labels": {**MANAGED_BY, GATE_LABEL: owner.label, ROLE_LABEL: ROLE_SERVING},
            "ownerReferences": [owner_reference(owner)],
        },
        "spec": {**copy.deepcopy(dict(spec)), "scaleTargetRef": scale_target},
    }


def build_verification(
    owner: OwnerRef,
    target: str,
    template: Mapping[str, Any],
    revision: str,
    replicas: int = 1,
) -> dict[str, Any]:
    """`<target>-verify`: the new revision at 0% of user traffic.

    Its pods keep the team's labels (so the template hashes to the team's
    revision) but never carry the serving key, so the gated Service cannot
    select them. Recreate: one revision under test at a time.
    """
    gate_value = owner.label
    selector = {GATE_LABEL: gate_value, ROLE_LABEL: ROLE_VERIFY}
    labels = {**selector, REVISION_LABEL: revision}
    return _deployment(
        name=verify_name(target),
        owner=owner,
        role=ROLE_VERIFY,
        revision=revision,
        selector=selector,
        template=_team_template(template, labels),
        replicas=replicas,
        strategy={"type": "Recreate"},
    )


def smoke_name(target: str, revision: str) -> str:
    """The gate's smoke-test Job of `revision`: `<target>-smoke-<revision>` (63 at most)."""
    return job_name(target, revision)


def build_smoke_job(
    owner: OwnerRef,
    target: str,
    revision: str,
    *,
    url: str,
    template: Mapping[str, Any],
    timeout_seconds: int,
    url_env: str,
) -> dict[str, Any]:
    """`<target>-smoke-<revision>`: the team's smoke test, run once against `url`.

    No retry (backoffLimit 0, restartPolicy Never): its one exit status is the
    verdict; activeDeadlineSeconds ends it (and a pod that never starts) at the
    timeout. Its pods carry the gate's labels but never the serving key.
    """
    gate_value = owner.label
    labels = {GATE_LABEL: gate_value, ROLE_LABEL: ROLE_SMOKE, REVISION_LABEL: revision}
    pod = _team_template(template, labels)
    spec = pod.setdefault("spec", {})
    spec["restartPolicy"] = "Never"
    # The test talks HTTP to the pod; it needs no API token (and the spec may not
    # name a ServiceAccount: see models.SmokeTest).
    spec["automountServiceAccountToken"] = False
    for key in ("containers", "initContainers"):
        for container in spec.get(key) or []:
            env = [e for e in container.get("env") or [] if e.get("name") != url_env]
            container["env"] = [*env, {"name": url_env, "value": url}]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": smoke_name(target, revision),
            "namespace": owner.namespace,
            "labels": {**MANAGED_BY, **labels},
            "ownerReferences": [owner_reference(owner)],
        },
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": timeout_seconds,
            "template": pod,
        },
    }
