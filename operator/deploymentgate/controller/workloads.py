"""Deployments as the core sees them, cut from the watch stream."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from deploymentgate.k8s.builders import REVISION_LABEL
from deploymentgate.k8s.revision import template_revision
from deploymentgate.observations import WorkloadState


@dataclass(frozen=True)
class DeploymentInfo:
    """A Deployment summary kept in the operator's index."""

    state: WorkloadState
    body: dict[str, Any]  # metadata/spec as last seen; builders copy from it


def summarize_deployment(body: dict[str, Any]) -> DeploymentInfo:
    meta = body.get("metadata") or {}
    spec = body.get("spec") or {}
    status = body.get("status") or {}
    template = spec.get("template") or {}
    generation = meta.get("generation") or 0
    # Our own Deployments say which revision they run (verification pods lose the
    # Service's labels, so their template would hash differently).
    labels = (template.get("metadata") or {}).get("labels") or {}
    state = WorkloadState(
        exists=not meta.get("deletionTimestamp"),
        revision=labels.get(REVISION_LABEL) or template_revision(template),
        replicas=int(spec.get("replicas", 1) or 0),
        ready=int(status.get("readyReplicas") or 0),
        updated=int(status.get("updatedReplicas") or 0),
        template=template,
        observed=int(status.get("observedGeneration") or 0) >= generation,
    )
    kept = {
        "metadata": {
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
            "uid": meta.get("uid"),
            "labels": dict(meta.get("labels") or {}),
        },
        "spec": {
            "selector": spec.get("selector") or {},
            "strategy": spec.get("strategy") or {},
            "replicas": spec.get("replicas", 1),
        },
    }
    return DeploymentInfo(state=state, body=kept)
