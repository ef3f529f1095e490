"""The simulated nodes: register Node objects, schedule pods onto them, run their pods.

There is no kubelet and no kube-scheduler in the sandbox; this module is both,
for its own nodes only, and talks to the API exactly as they would (Node
objects, the pods/binding subresource, pod status patches, grace-0 deletes).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Sequence
from typing import Any

from deploymentgate_devkit.sandbox.kubeapi import ApiError, Obj
from deploymentgate_devkit.sandbox.pods import NodeRuntime, PodWorker
from deploymentgate_devkit.sandbox.podstatus import timestamp
from deploymentgate_devkit.sandbox.slices import selector_matches

log = logging.getLogger(__name__)

KUBE_VERSION = "v1.37.2"
SCHEDULER_NAME = "default-scheduler"
NODE_LABEL = "sandbox.deploymentgate.dev/node"
CAPACITY = {"cpu": "8", "memory": "16Gi", "pods": "110", "ephemeral-storage": "50Gi"}


def node_labels(name: str) -> dict[str, str]:
    return {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "node.kubernetes.io/instance-type": "sandbox",
        NODE_LABEL: "true",
    }


def node_status(name: str, host_ip: str, now: str, kubelet_port: int = 0) -> dict[str, Any]:
    def cond(kind: str, ok: bool, reason: str, message: str) -> dict[str, str]:
        return {
            "type": kind,
            "status": "True" if ok else "False",
            "reason": reason,
            "message": message,
            "lastHeartbeatTime": now,
            "lastTransitionTime": now,
        }

    return {
        "capacity": CAPACITY,
        "allocatable": CAPACITY,
        "conditions": [
            cond("MemoryPressure", False, "KubeletHasSufficientMemory", "sandbox node"),
            cond("DiskPressure", False, "KubeletHasNoDiskPressure", "sandbox node"),
            cond("PIDPressure", False, "KubeletHasSufficientPID", "sandbox node"),
            cond("Ready", True, "KubeletReady", "sandbox node is posting ready status"),
        ],
        "addresses": [
            {"type": "InternalIP", "address": host_ip},
            {"type": "Hostname", "address": name},
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": kubelet_port}},
        "nodeInfo": {
            "machineID": name,
            "systemUUID": name,
            "bootID": name,
            "kernelVersion": "sandbox",
            "osImage": "DeploymentGate sandbox",
            "containerRuntimeVersion": "sandbox://1",
            "kubeletVersion": KUBE_VERSION,
            "kubeProxyVersion": KUBE_VERSION,
            "operatingSystem": "linux",
            "architecture": "amd64",
        },
    }


def schedulable_on(pod: Obj, labels: dict[str, str]) -> bool:
    """Honours nodeSelector, the one placement rule charts commonly set (e.g. kubernetes.io/os)."""
    return selector_matches((pod.get("spec") or {}).get("nodeSelector") or {}, labels)


class SimulatedNodes:
    def __init__(self, runtime: NodeRuntime, names: Sequence[str], kubelet_port: int = 0) -> None:
        self.rt = runtime
        self.names = list(names)
        self.kubelet_port = kubelet_port
        self.workers: dict[str, PodWorker] = {}
        self._finished: set[str] = set()  # uids whose worker ended; ignore late events
        self._binding: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._unschedulable_reported: set[str] = set()
        self._placed: dict[str, str] = {}  # uid -> node, from the moment of binding

    def _spawn(self, coro: Any) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def register(self) -> None:
        for name in self.names:
            body = {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": name, "labels": node_labels(name)},
                "spec": {},
            }
            try:
                await self.rt.api.create("/api/v1/nodes", body)
            except ApiError as exc:
                if exc.status != 409:
                    raise
            await self.rt.api.patch(
                f"/api/v1/nodes/{name}/status",
                {"status": node_status(name, self.rt.host_ip, timestamp(), self.kubelet_port)},
                "strategic",
            )
            # The node lifecycle controller would lift the not-ready taint; there is none.
            await self.rt.api.patch(f"/api/v1/nodes/{name}", {"spec": {"taints": None}}, "merge")

    def running(self, namespace: str, name: str) -> bool:
        return any(w.namespace == namespace and w.name == name for w in self.workers.values())

    def pods_on(self, node: str) -> int:
        return sum(1 for placed in self._placed.values() if placed == node)

    def on_pod(self, kind: str, pod: Obj) -> None:
        meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
        uid = str(meta.get("uid"))
        if kind == "DELETED":
            self._finished.discard(uid)
            self._binding.discard(uid)
            self._placed.pop(uid, None)
            self._unschedulable_reported.discard(uid)
            worker = self.workers.get(uid)
            if worker is not None:
                worker.removed()
            return
        node = spec.get("nodeName")
        if not node:
            if (
                not meta.get("deletionTimestamp")
                and (spec.get("schedulerName") or SCHEDULER_NAME) == SCHEDULER_NAME
                and uid not in self._binding
            ):
                self._binding.add(uid)
                self._spawn(self._bind(pod))
            return
        if node not in self.names or uid in self._finished:
            return
        self._placed[uid] = node
        worker = self.workers.get(uid)
        if worker is None:
            worker = PodWorker(self.rt, pod)
            self.workers[uid] = worker
            task = self._spawn(worker.run())
            task.add_done_callback(functools.partial(self._worker_done, uid))
        worker.update(pod)

    def _worker_done(self, uid: str, task: asyncio.Task[None]) -> None:
        self.workers.pop(uid, None)
        self._finished.add(uid)
        if not task.cancelled() and task.exception() is not None:
            log.error("pod worker %s failed", uid, exc_info=task.exception())

    def _choose_node(self, pod: Obj) -> str | None:
        candidates = [n for n in self.names if schedulable_on(pod, node_labels(n))]
        return min(candidates, key=self.pods_on, default=None)

    async def _bind(self, pod: Obj) -> None:
        uid = pod["metadata"]["uid"]
        try:
            node = self._choose_node(pod)
            if node is None:
                await self._report_unschedulable(pod)
                return
            self._placed[uid] = node
            if not await self._post_binding(pod, node):
                self._placed.pop(uid, None)
        finally:
            self._binding.discard(uid)

    async def _post_binding(self, pod: Obj, node: str) -> bool:
        meta = pod["metadata"]
        namespace, name = meta.get("namespace", "default"), meta["name"]
        body = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": name, "namespace": namespace, "uid": meta["uid"]},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node},
        }
        for attempt in range(5):
            try:
                await self.rt.api.create(
                    f"/api/v1/namespaces/{namespace}/pods/{name}/binding", body
                )
            except ApiError as exc:
                if exc.status in (404, 409):  # deleted meanwhile, or bound already
                    return False
                log.warning("binding %s/%s failed: %s", namespace, name, exc)
            except Exception as exc:
                log.warning("binding %s/%s failed: %s", namespace, name, exc)
            else:
                message = f"Successfully assigned {namespace}/{name} to {node}"
                self.rt.events.pod_event(
                    pod, "Normal", "Scheduled", message, component=SCHEDULER_NAME
                )
                return True
            await asyncio.sleep(0.2 * (attempt + 1))
        return False

    async def _report_unschedulable(self, pod: Obj) -> None:
        meta = pod["metadata"]
        if meta["uid"] in self._unschedulable_reported:
            return
        self._unschedulable_reported.add(meta["uid"])
        message = (
            f"0/{len(self.names)} nodes are available: node(s) didn't match Pod's node selector."
        )
        self.rt.events.pod_event(
            pod, "Warning", "FailedScheduling", message, component=SCHEDULER_NAME
        )
        condition = {
            "type": "PodScheduled",
            "status": "False",
            "reason": "Unschedulable",
            "message": message,
        }
        path = f"/api/v1/namespaces/{meta.get('namespace', 'default')}/pods/{meta['name']}/status"
        try:
            await self.rt.api.patch(path, {"status": {"conditions": [condition]}}, "strategic")
        except ApiError as exc:
            log.debug("cannot mark %s unschedulable: %s", meta["name"], exc)

    async def shutdown(self, grace: float = 1.0) -> None:
        """Stop every pod's processes at once (the cluster is going away; no API writes)."""
        self.rt.max_grace = grace
        for worker in list(self.workers.values()):
            worker.removed()
        pending = [t for t in self._tasks if not t.done()]
        if pending:
            _, still = await asyncio.wait(pending, timeout=grace + 3)
            for task in still:
                task.cancel()
            await asyncio.gather(*still, return_exceptions=True)
