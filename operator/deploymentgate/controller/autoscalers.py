"""HorizontalPodAutoscalers as the operator indexes them: small summaries cut
from the watch stream. Only HPAs that scale a Deployment count: the team's on
their Deployment, and a gate's own copy on one of its serving Deployments."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from deploymentgate.core.inputs import AutoscalerState
from deploymentgate.k8s.builders import controller_uid


@dataclass(frozen=True)
class AutoscalerInfo:
    name: str
    namespace: str
    uid: str
    owner_uid: str | None  # the DeploymentGate controlling it (ownerReference), if any
    state: AutoscalerState

    def owned_by(self, gate_uid: str) -> bool:
        return self.owner_uid is not None and self.owner_uid == gate_uid


def summarize_autoscaler(body: Mapping[str, Any]) -> AutoscalerInfo | None:
    """None unless it scales a Deployment (apps/v1)."""
    meta = body.get("metadata") or {}
    spec = dict(body.get("spec") or {})
    status = body.get("status") or {}
    ref = spec.pop("scaleTargetRef", None) or {}
    if ref.get("kind") != "Deployment" or str(ref.get("apiVersion", "")).split("/")[0] != "apps":
        return None
    generation = int(meta.get("generation") or 0)
    state = AutoscalerState(
        name=str(meta.get("name") or ""),
        target=str(ref.get("name") or ""),
        spec=spec,
        min_replicas=int(spec.get("minReplicas") or 1),
        max_replicas=int(spec.get("maxReplicas") or 1),
        desired=int(status.get("desiredReplicas") or 0),
        current=int(status.get("observedGeneration") or 0) >= generation > 0,
    )
    return AutoscalerInfo(
        name=state.name,
        namespace=str(meta.get("namespace") or ""),
        uid=str(meta.get("uid") or ""),
        owner_uid=controller_uid(meta),
        state=state,
    )
