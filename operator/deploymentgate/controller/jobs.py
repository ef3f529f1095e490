"""Smoke-test Jobs as the operator indexes them, and what a finished one's pod says.

The index keeps a small summary per Job carrying a gate's label; the pod's
exit code and log tail are read live, once per finished Job (a Job is deleted
as soon as its verdict is recorded).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from deploymentgate.core.smoke import TAIL_BYTES, TAIL_LINES
from deploymentgate.k8s.api import ApiError, KubeApi
from deploymentgate.k8s.builders import (
    GATE_LABEL,
    REVISION_LABEL,
    ROLE_LABEL,
    ROLE_SMOKE,
    controller_uid,
)
from deploymentgate.observations import SmokeJobState

JOB_UID_LABEL = "batch.kubernetes.io/controller-uid"  # set by the Job controller on its pods
_SUCCEEDED = ("Complete", "SuccessCriteriaMet")
_FAILED = ("Failed", "FailureTarget")


@dataclass(frozen=True)
class JobInfo:
    name: str
    namespace: str
    uid: str
    owner_uid: str | None  # the DeploymentGate controlling it, if any
    revision: str  # its revision label (confirmed against its name: see observe)
    state: SmokeJobState

    def owned_by(self, gate_uid: str) -> bool:
        return self.owner_uid is not None and self.owner_uid == gate_uid


def is_smoke_job(labels: Mapping[str, str]) -> bool:
    return bool(labels.get(GATE_LABEL)) and labels.get(ROLE_LABEL) == ROLE_SMOKE


def summarize_job(body: Mapping[str, Any]) -> JobInfo:
    meta = body.get("metadata") or {}
    labels = meta.get("labels") or {}
    conditions = {
        str(c.get("type")): c
        for c in (body.get("status") or {}).get("conditions") or []
        if c.get("status") == "True"
    }
    succeeded = any(t in conditions for t in _SUCCEEDED)
    failed = next((conditions[t] for t in _FAILED if t in conditions), None)
    name = str(meta.get("name") or "")
    return JobInfo(
        name=name,
        namespace=str(meta.get("namespace") or ""),
        uid=str(meta.get("uid") or ""),
        owner_uid=controller_uid(meta),
        revision=str(labels.get(REVISION_LABEL) or ""),
        state=SmokeJobState(
            name=name,
            finished=succeeded or failed is not None,
            succeeded=succeeded and failed is None,
            reason=str(failed.get("reason") or "") if failed is not None else "",
            deleting=bool(meta.get("deletionTimestamp")),
        ),
    )


async def pod_outcome(api: KubeApi, job: JobInfo) -> tuple[str, str]:
    """(what its pod says, the last lines of its log) for a finished Job.

    Best effort: a pod already gone (e.g. killed at the deadline) leaves both empty.
    """
    try:
        pods = await api.list_pods(job.namespace, f"{JOB_UID_LABEL}={job.uid}")
    except ApiError:
        return "", ""
    if not pods:
        return "", ""
    pod = max(pods, key=lambda p: str((p.get("metadata") or {}).get("creationTimestamp") or ""))
    container, detail = _container_outcome(pod)
    if container is None:
        return detail, ""
    try:
        log = await api.read_pod_log(
            job.namespace,
            str(pod["metadata"]["name"]),
            container,
            tail_lines=TAIL_LINES,
            limit_bytes=TAIL_BYTES,
        )
    except ApiError:
        log = ""
    return detail, log


def _container_outcome(pod: Mapping[str, Any]) -> tuple[str | None, str]:
    """The container worth reading (the first that failed, else the first) and
    what its state says ("exit code 1", "container smoke waiting: ErrImagePull: ...")."""
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    names = [str(c.get("name")) for c in (pod.get("spec") or {}).get("containers") or []]
    for status in statuses:
        terminated = (status.get("state") or {}).get("terminated") or {}
        if terminated and terminated.get("exitCode") not in (0, None):
            return str(status.get("name")), f"exit code {terminated.get('exitCode')}"
    for status in statuses:
        waiting = (status.get("state") or {}).get("waiting") or {}
        if waiting:
            what = ": ".join(str(x) for x in (waiting.get("reason"), waiting.get("message")) if x)
            return str(status.get("name")), f"container {status.get('name')} waiting: {what}"
    return (names[0] if names else None), ""


def with_outcome(job: JobInfo, detail: str, log: str) -> JobInfo:
    return replace(job, state=replace(job.state, detail=detail, log_tail=log))
