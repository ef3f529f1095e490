"""One pod on a simulated node, from its address to its removal, as a kubelet runs it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from deploymentgate_devkit.sandbox.addresses import AddressPool
from deploymentgate_devkit.sandbox.containers import ContainerRunner, ContainerSetup
from deploymentgate_devkit.sandbox.events import EventRecorder
from deploymentgate_devkit.sandbox.kubeapi import ApiError, KubeApi, Obj
from deploymentgate_devkit.sandbox.kubeconfig import render_kubeconfig, write_private
from deploymentgate_devkit.sandbox.podspec import (
    ContainerStartError,
    PodContext,
    ProcessSpec,
    container_process,
    decode_secret_data,
    referenced_sources,
)
from deploymentgate_devkit.sandbox.podstatus import ConditionClock, pod_status, timestamp

log = logging.getLogger(__name__)

DEFAULT_GRACE = 30.0
UNROUTE_TIMEOUT = 1.0
IN_FLIGHT_LINGER = 0.2


@dataclass
class NodeRuntime:
    """What every pod worker on the simulated nodes shares."""

    api: KubeApi
    pool: AddressPool
    pods_dir: Path
    python: str
    base_env: dict[str, str]
    http: httpx.AsyncClient
    events: EventRecorder
    api_url: str
    ca_pem: bytes
    max_grace: float = 3.0
    host_ip: str = "127.0.0.1"
    on_ports: Callable[[str, tuple[int, ...]], None] = lambda ip, ports: None
    routed: Callable[[str], bool] = lambda ip: False  # does the service proxy route to ip?


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)


def pod_log_dir(pods_dir: Path, namespace: str, name: str) -> Path:
    return pods_dir / safe_name(namespace) / safe_name(name)


def termination_grace(pod: Obj, cap: float) -> float:
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    grace = meta.get("deletionGracePeriodSeconds")
    if grace is None:
        grace = spec.get("terminationGracePeriodSeconds", DEFAULT_GRACE)
    return max(0.0, min(float(grace), cap))


class PodWorker:
    def __init__(self, runtime: NodeRuntime, pod: Obj) -> None:
        self.rt = runtime
        self.pod = pod
        meta = pod["metadata"]
        self.uid = str(meta["uid"])
        self.namespace = str(meta.get("namespace", "default"))
        self.name = str(meta["name"])
        self.node_name = str(pod["spec"]["nodeName"])
        self.runners: list[ContainerRunner] = []
        self.pod_ip: str | None = None
        self._terminate = asyncio.Event()
        self._removed = False  # the API object is gone already
        self._dirty = asyncio.Event()
        self._clock = ConditionClock()
        self._start_time = timestamp()
        self._last_status: dict[str, Any] | None = None

    @property
    def path(self) -> str:
        return f"/api/v1/namespaces/{self.namespace}/pods/{self.name}"

    def update(self, pod: Obj) -> None:
        self.pod = pod
        if (pod.get("metadata") or {}).get("deletionTimestamp"):
            self._terminate.set()
        self._dirty.set()  # readiness gates may have changed

    def removed(self) -> None:
        self._removed = True
        self._terminate.set()

    async def _wait_unrouted(self, pod_ip: str, timeout: float) -> float:
        """Hold SIGTERM until the service proxy stopped routing new connections here.

        On a real cluster endpoint removal races with SIGTERM and apps add a preStop
        sleep; here the proxy is in the same process, so the node can simply wait
        the few milliseconds it takes (bounded by the grace period), plus a short
        linger for connections the proxy opened just before, and rollouts through a
        Service drop no connection. Returns the seconds spent.
        """
        started = time.monotonic()
        if not self.rt.routed(pod_ip):
            return 0.0
        while self.rt.routed(pod_ip) and time.monotonic() - started < timeout:
            await asyncio.sleep(0.01)
        await asyncio.sleep(min(IN_FLIGHT_LINGER, max(0.0, timeout - (time.monotonic() - started))))
        return time.monotonic() - started

    def _event(self, kind: str, reason: str, message: str) -> None:
        self.rt.events.pod_event(self.pod, kind, reason, message, host=self.node_name)

    async def run(self) -> None:
        writer: asyncio.Task[None] | None = None
        tasks: list[asyncio.Task[None]] = []
        try:
            if not self._terminate.is_set():
                self.pod_ip = self.rt.pool.allocate(self.uid)
                self.runners = await self._prepare(self.pod_ip)
                self._dirty.set()
                loop = asyncio.get_running_loop()
                writer = loop.create_task(self._write_status())
                tasks = [loop.create_task(r.run()) for r in self.runners]
            await self._terminate.wait()
            grace = termination_grace(self.pod, self.rt.max_grace)
            if self.pod_ip is not None and not self._removed:
                spent = await self._wait_unrouted(self.pod_ip, min(grace, UNROUTE_TIMEOUT))
                grace = max(0.0, grace - spent)
            if self.runners:
                names = ", ".join(r.name for r in self.runners)
                self._event("Normal", "Killing", f"Stopping container {names}")
            await asyncio.gather(*(r.stop(grace) for r in self.runners))
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if not self._removed:
                await self._delete()
        finally:
            for task in tasks:
                task.cancel()
            if writer is not None:
                writer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await writer
            # Kill whatever survives (cancellation at shutdown skips the graceful path).
            await asyncio.gather(*(r.stop(0.0) for r in self.runners), return_exceptions=True)
            self.rt.pool.release(self.uid)

    async def _prepare(self, pod_ip: str) -> list[ContainerRunner]:
        ctx = PodContext(self.pod, pod_ip, self.rt.host_ip, self.node_name)
        directory = pod_log_dir(self.rt.pods_dir, self.namespace, self.name)
        directory.mkdir(parents=True, exist_ok=True)
        configmaps, secrets = await self._env_sources()
        base_env = dict(self.rt.base_env)
        base_env.update(await self._service_account_env(directory, pod_ip))
        grace = termination_grace(self.pod, self.rt.max_grace)
        runners = []
        for container in self.pod["spec"].get("containers") or ():
            spec: ProcessSpec | ContainerStartError
            try:
                spec = container_process(
                    ctx,
                    container,
                    python=self.rt.python,
                    base_env=base_env,
                    configmaps=configmaps,
                    secrets=secrets,
                )
                self.rt.on_ports(pod_ip, spec.ports)
            except ContainerStartError as exc:
                spec = exc
            setup = ContainerSetup(
                pod_name=self.name,
                pod_uid=self.uid,
                pod_ip=pod_ip,
                container=container,
                restart_policy=str(self.pod["spec"].get("restartPolicy") or "Always"),
                log_path=directory / f"{safe_name(str(container['name']))}.log",
                cwd=directory,
                grace=grace,
                http=self.rt.http,
            )
            runners.append(ContainerRunner(setup, spec, self._dirty.set, self._event))
        return runners

    async def _env_sources(self) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, str]]]:
        """Fetch the ConfigMaps and Secrets the containers' env refers to (missing ones omitted)."""
        wanted_cms, wanted_secrets = referenced_sources(self.pod)
        configmaps: dict[str, dict[str, str]] = {}
        secrets: dict[str, dict[str, str]] = {}
        base = f"/api/v1/namespaces/{self.namespace}"
        for name in wanted_cms:
            with contextlib.suppress(ApiError, httpx.HTTPError):
                obj = await self.rt.api.get(f"{base}/configmaps/{name}")
                configmaps[name] = {k: str(v) for k, v in (obj.get("data") or {}).items()}
        for name in wanted_secrets:
            with contextlib.suppress(ApiError, httpx.HTTPError):
                secrets[name] = decode_secret_data(await self.rt.api.get(f"{base}/secrets/{name}"))
        return configmaps, secrets

    async def _service_account_env(self, directory: Path, pod_ip: str) -> dict[str, str]:
        """Stand-in for the projected service-account volume: a bound token and a kubeconfig.

        Processes find them through KUBECONFIG (what kubectl and the Python client read)
        and SANDBOX_SERVICEACCOUNT_DIR (token, ca.crt, namespace, like the real mount).
        """
        spec = self.pod.get("spec") or {}
        if spec.get("automountServiceAccountToken") is False:
            return {}
        account = str(spec.get("serviceAccountName") or "default")
        body = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {
                "expirationSeconds": 3600 * 24,
                "boundObjectRef": {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "name": self.name,
                    "uid": self.uid,
                },
            },
        }
        path = f"/api/v1/namespaces/{self.namespace}/serviceaccounts/{account}/token"
        try:
            token = str((await self.rt.api.create(path, body))["status"]["token"])
        except (ApiError, httpx.HTTPError, KeyError) as exc:
            log.warning("%s/%s: no service account token: %s", self.namespace, self.name, exc)
            return {}
        sa_dir = directory / "serviceaccount"
        sa_dir.mkdir(exist_ok=True)
        (sa_dir / "ca.crt").write_bytes(self.rt.ca_pem)
        (sa_dir / "namespace").write_text(self.namespace)
        write_private(sa_dir / "token", token)
        kubeconfig = write_private(
            sa_dir / "kubeconfig",
            render_kubeconfig(
                self.rt.api_url,
                self.rt.ca_pem,
                f"system:serviceaccount:{self.namespace}:{account}",
                token=token,
                namespace=self.namespace,
            ),
        )
        return {"KUBECONFIG": str(kubeconfig), "SANDBOX_SERVICEACCOUNT_DIR": str(sa_dir)}

    async def _write_status(self) -> None:
        """Coalesce status changes into strategic-merge patches, like the status manager."""
        assert self.pod_ip is not None
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            status = pod_status(
                self.pod,
                [r.view for r in self.runners],
                self._clock,
                pod_ip=self.pod_ip,
                host_ip=self.rt.host_ip,
                start_time=self._start_time,
                now=timestamp(),
            )
            if status == self._last_status:
                continue
            try:
                await self.rt.api.patch(
                    f"{self.path}/status",
                    {"metadata": {"uid": self.uid}, "status": status},
                    "strategic",
                )
                self._last_status = status
            except ApiError as exc:
                if exc.status in (404, 409):  # gone, or replaced by a namesake (uid differs)
                    return
                if exc.status == 422:  # retrying the same body cannot help; wait for a change
                    log.error("%s/%s: status rejected: %s", self.namespace, self.name, exc)
                    continue
                log.warning("%s/%s: status update failed: %s", self.namespace, self.name, exc)
                await asyncio.sleep(0.2)
                self._dirty.set()
            except httpx.HTTPError as exc:
                log.warning("%s/%s: status update failed: %s", self.namespace, self.name, exc)
                await asyncio.sleep(0.2)
                self._dirty.set()

    async def _delete(self) -> None:
        """Remove the API object once the processes are gone (gracePeriodSeconds=0)."""
        body = {
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            "gracePeriodSeconds": 0,
            "preconditions": {"uid": self.uid},
        }
        for attempt in range(5):
            try:
                await self.rt.api.delete(self.path, body)
                return
            except ApiError as exc:
                if exc.status in (404, 409):
                    return
                log.warning("%s/%s: delete failed: %s", self.namespace, self.name, exc)
            except httpx.HTTPError as exc:
                log.warning("%s/%s: delete failed: %s", self.namespace, self.name, exc)
            await asyncio.sleep(0.2 * (attempt + 1))
