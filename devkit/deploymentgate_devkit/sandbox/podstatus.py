"""Pod status as a kubelet reports it, computed from the node's view of its containers.

Pure: the simulated node feeds in container states and the clock and gets
back the ``status`` body to patch, so phase and condition rules are unit-tested.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


def timestamp(when: dt.datetime | None = None) -> str:
    when = when or dt.datetime.now(dt.UTC)
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class ContainerView:
    """What the node knows about one container right now."""

    name: str
    image: str
    state: dict[str, Any] = field(
        default_factory=lambda: {"waiting": {"reason": "ContainerCreating"}}
    )
    last_state: dict[str, Any] = field(default_factory=dict)
    ready: bool = False
    started: bool = False
    restart_count: int = 0
    container_id: str | None = None
    terminal: bool = False  # finished and will not be restarted

    @property
    def has_run(self) -> bool:
        return "running" in self.state or "terminated" in self.state or bool(self.last_state)

    def to_status(self) -> dict[str, Any]:
        status: dict[str, Any] = {
            "name": self.name,
            "image": self.image,
            "imageID": f"sandbox://{self.image}",
            "ready": self.ready,
            "started": self.started,
            "restartCount": self.restart_count,
            "state": self.state,
            "lastState": self.last_state,
        }
        if self.container_id:
            status["containerID"] = self.container_id
        return status


def pod_phase(containers: Sequence[ContainerView]) -> str:
    """Pending until every container ran once; Succeeded/Failed once all are done for good."""
    if any(not c.has_run for c in containers):
        return "Pending"
    if containers and all(c.terminal for c in containers):
        failed = any((c.state.get("terminated") or {}).get("exitCode", 0) != 0 for c in containers)
        return "Failed" if failed else "Succeeded"
    return "Running"


class ConditionClock:
    """Remembers when each condition last changed, as lastTransitionTime must."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[str, str]] = {}

    def condition(
        self, kind: str, ok: bool, now: str, reason: str | None = None, message: str | None = None
    ) -> dict[str, Any]:
        status = "True" if ok else "False"
        previous = self._seen.get(kind)
        since = previous[1] if previous and previous[0] == status else now
        self._seen[kind] = (status, since)
        cond: dict[str, Any] = {"type": kind, "status": status, "lastTransitionTime": since}
        if reason and not ok:
            cond["reason"] = reason
        if message and not ok:
            cond["message"] = message
        return cond


def readiness_gates_pending(pod: Mapping[str, Any]) -> list[str]:
    """Readiness gate condition types that are not True on the pod (set by others)."""
    gates = [g.get("conditionType") for g in (pod.get("spec") or {}).get("readinessGates") or ()]
    present = {
        c.get("type"): c.get("status") for c in (pod.get("status") or {}).get("conditions") or ()
    }
    return [str(g) for g in gates if present.get(g) != "True"]


def pod_status(
    pod: Mapping[str, Any],
    containers: Sequence[ContainerView],
    clock: ConditionClock,
    *,
    pod_ip: str,
    host_ip: str,
    start_time: str,
    now: str,
) -> dict[str, Any]:
    """The status body a node patches (strategic merge keeps others' conditions)."""
    phase = pod_phase(containers)
    unready = [c.name for c in containers if not c.ready]
    containers_ready = not unready
    gates = readiness_gates_pending(pod)
    completed = phase in ("Succeeded", "Failed")
    unready_msg = f"containers with unready status: [{' '.join(unready)}]"
    if completed:
        ready_cond = clock.condition("Ready", False, now, "PodCompleted")
        containers_cond = clock.condition("ContainersReady", False, now, "PodCompleted")
    else:
        containers_cond = clock.condition(
            "ContainersReady", containers_ready, now, "ContainersNotReady", unready_msg
        )
        if not containers_ready:
            ready_cond = clock.condition("Ready", False, now, "ContainersNotReady", unready_msg)
        else:
            ready_cond = clock.condition(
                "Ready",
                not gates,
                now,
                "ReadinessGatesNotReady",
                f"corresponding condition of pod readiness gate {' '.join(gates)} does not exist"
                " or is not True",
            )
    conditions = [
        clock.condition("PodReadyToStartContainers", not completed, now),
        clock.condition("Initialized", True, now),
        ready_cond,
        containers_cond,
        clock.condition("PodScheduled", True, now),
    ]
    status: dict[str, Any] = {
        "phase": phase,
        "conditions": conditions,
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "podIP": pod_ip,
        "podIPs": [{"ip": pod_ip}],
        "startTime": start_time,
        "containerStatuses": [c.to_status() for c in containers],
    }
    generation = (pod.get("metadata") or {}).get("generation")
    if generation is not None:
        status["observedGeneration"] = generation
    return status
