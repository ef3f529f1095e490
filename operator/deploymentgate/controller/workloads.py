"""Deployments, Services and gates as the operator indexes them, cut from the
watch stream: small summaries, never whole bodies."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from deploymentgate.k8s.builders import controller_uid
from deploymentgate.k8s.revision import template_revision
from deploymentgate.observations import WorkloadState


@dataclass(frozen=True)
class DeploymentInfo:
    """A Deployment as last seen: who it is, who controls it, what it runs."""

    name: str
    namespace: str
    uid: str
    owner_uid: str | None  # the DeploymentGate controlling it (ownerReference), if any
    state: WorkloadState

    def owned_by(self, gate_uid: str) -> bool:
        return self.owner_uid is not None and self.owner_uid == gate_uid


def summarize_deployment(body: Mapping[str, Any]) -> DeploymentInfo:
    """The revision is always the hash of the template, for every Deployment,
    the team's and the gate's alike: no label is trusted to say it."""
    meta = body.get("metadata") or {}
    spec = body.get("spec") or {}
    status = body.get("status") or {}
    template = dict(spec.get("template") or {})
    generation = meta.get("generation") or 0
    state = WorkloadState(
        exists=not meta.get("deletionTimestamp"),
        revision=template_revision(template),
        replicas=int(spec.get("replicas", 1) or 0),
        ready=int(status.get("readyReplicas") or 0),
        updated=int(status.get("updatedReplicas") or 0),
        template=template,
        observed=int(status.get("observedGeneration") or 0) >= generation,
    )
    return DeploymentInfo(
        name=str(meta.get("name") or ""),
        namespace=str(meta.get("namespace") or ""),
        uid=str(meta.get("uid") or ""),
        owner_uid=controller_uid(meta),
        state=state,
    )


@dataclass(frozen=True)
class ServiceInfo:
    name: str
    namespace: str
    selector: Mapping[str, str]
    uid: str = ""
    owner_uid: str | None = None  # the DeploymentGate controlling it (its own Services)

    def owned_by(self, gate_uid: str) -> bool:
        return self.owner_uid is not None and self.owner_uid == gate_uid


def summarize_service(body: Mapping[str, Any]) -> ServiceInfo:
    meta = body.get("metadata") or {}
    selector = (body.get("spec") or {}).get("selector") or {}
    return ServiceInfo(
        name=str(meta.get("name") or ""),
        namespace=str(meta.get("namespace") or ""),
        selector={str(k): str(v) for k, v in selector.items()},
        uid=str(meta.get("uid") or ""),
        owner_uid=controller_uid(meta),
    )


@dataclass(frozen=True)
class GateRef:
    """A gate that claims a Deployment or a Service. The oldest claim holds it
    (creationTimestamp, then name): RFC 3339 UTC timestamps sort as strings."""

    name: str
    uid: str
    created: str

    @property
    def seniority(self) -> tuple[str, str]:
        return (self.created, self.name)


def gate_claims(namespace: str, body: Mapping[str, Any]) -> dict[tuple[str, str, str], GateRef]:
    """("deployment"|"service", namespace, name) -> this gate, for what its spec names."""
    meta = body.get("metadata") or {}
    spec = body.get("spec") or {}
    ref = GateRef(
        name=str(meta.get("name") or ""),
        uid=str(meta.get("uid") or ""),
        created=str(meta.get("creationTimestamp") or ""),
    )
    claims: dict[tuple[str, str, str], GateRef] = {}
    target = spec.get("targetRef") if isinstance(spec, Mapping) else None
    target_name = target.get("name") if isinstance(target, Mapping) else None
    if isinstance(target_name, str) and target_name:
        claims[("deployment", namespace, target_name)] = ref
    service = spec.get("service") if isinstance(spec, Mapping) else None
    if isinstance(service, str) and service:
        claims[("service", namespace, service)] = ref
    return claims
