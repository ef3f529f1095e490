"""What the operator needs to know about a pod, cut from the watch stream.

The kopf index keeps these small summaries, not whole pod bodies, so 1,000
gates' worth of pods stays cheap in memory.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from deploymentgate.k8s.builders import (
    GATE_LABEL,
    REVISION_LABEL,
    ROLE_LABEL,
    ROLE_SERVING,
    ROLE_VERIFY,
)
from deploymentgate.timestamps import parse_timestamp


@dataclass(frozen=True)
class PodInfo:
    name: str
    namespace: str
    labels: dict[str, str]
    ip: str | None
    port: int | None
    ready: bool
    started_at: datetime | None
    owner: str | None  # name of the controlling ReplicaSet
    deleting: bool
    uid: str = ""

    @property
    def base_url(self) -> str | None:
        if not self.ip:
            return None
        host = f"[{self.ip}]" if ":" in self.ip else self.ip
        return f"http://{host}:{self.port or 80}"


def summarize_pod(body: dict[str, Any]) -> PodInfo:
    meta = body.get("metadata") or {}
    spec = body.get("spec") or {}
    status = body.get("status") or {}
    port = None
    for container in spec.get("containers") or []:
        for p in container.get("ports") or []:
            if p.get("containerPort"):
                port = int(p["containerPort"])
                break
        if port:
            break
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )
    owner = next(
        (
            o.get("name")
            for o in meta.get("ownerReferences") or []
            if o.get("controller") and o.get("kind") == "ReplicaSet"
        ),
        None,
    )
    started = status.get("startTime")
    return PodInfo(
        name=meta.get("name", ""),
        namespace=meta.get("namespace", ""),
        labels=dict(meta.get("labels") or {}),
        ip=status.get("podIP") or None,
        port=port,
        ready=ready,
        started_at=parse_timestamp(started) if started else None,
        owner=owner,
        deleting=bool(meta.get("deletionTimestamp")),
        uid=str(meta.get("uid") or ""),
    )


def gate_of(labels: dict[str, str]) -> str | None:
    """The gate label value a pod carries (the pods index is keyed by it)."""
    return labels.get(GATE_LABEL)


def _ours(pod: PodInfo, *, gate: str, role: str, revision: str, deployment: str) -> bool:
    """Selected by our labels AND run by a ReplicaSet of the gate's own Deployment
    (`<deployment>-<hash>`): a pod that merely copies our labels is never probed."""
    return (
        not pod.deleting
        and pod.labels.get(GATE_LABEL) == gate
        and pod.labels.get(ROLE_LABEL) == role
        and pod.labels.get(REVISION_LABEL) == revision
        and pod.owner is not None
        and pod.owner.startswith(f"{deployment}-")
        and "-" not in pod.owner[len(deployment) + 1 :]
    )


def verification_pods(
    pods: Iterable[PodInfo], *, gate: str, revision: str, deployment: str
) -> list[PodInfo]:
    """Pods of `<target>-verify` (named `deployment`) running `revision`."""
    return [
        p
        for p in pods
        if _ours(p, gate=gate, role=ROLE_VERIFY, revision=revision, deployment=deployment)
    ]


def canary_pods(
    pods: Iterable[PodInfo], *, gate: str, revision: str, deployment: str
) -> list[PodInfo]:
    """Pods of the gate's serving Deployment of the revision under test."""
    return [
        p
        for p in pods
        if _ours(p, gate=gate, role=ROLE_SERVING, revision=revision, deployment=deployment)
    ]
