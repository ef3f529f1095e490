"""What the operator needs to know about a pod, cut from the watch stream.

The kopf index keeps these small summaries, not whole pod bodies, so 1,000
gates' worth of pods stays cheap in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from deploymentgate.k8s.builders import GATE_LABEL, REVISION_LABEL, ROLE_LABEL, ROLE_VERIFY


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
        started_at=_parse_time(started) if started else None,
        owner=owner,
        deleting=bool(meta.get("deletionTimestamp")),
    )


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def verification_pods(pods: list[PodInfo], gate: str, revision: str) -> list[PodInfo]:
    return [
        p
        for p in pods
        if not p.deleting
        and p.labels.get(GATE_LABEL) == gate
        and p.labels.get(ROLE_LABEL) == ROLE_VERIFY
        and p.labels.get(REVISION_LABEL) == revision
    ]


def canary_pods(pods: list[PodInfo], target: str) -> list[PodInfo]:
    """Pods of the user's own Deployment: their ReplicaSet is `<target>-<hash>`."""
    prefix = f"{target}-"
    return [
        p
        for p in pods
        if not p.deleting
        and ROLE_LABEL not in p.labels
        and p.owner is not None
        and p.owner.startswith(prefix)
        and "-" not in p.owner[len(prefix) :]
    ]
