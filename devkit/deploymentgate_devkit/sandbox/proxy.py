"""The service proxy (kube-proxy's job): one loopback listener per Service port.

Each new connection goes to one ready endpoint, chosen round-robin from the
Service's EndpointSlices *at connect time*, so endpoint changes apply to the
next connection and traffic splits over revisions in proportion to ready pods.
With no ready endpoint (or none accepting) the connection is closed at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from deploymentgate_devkit.sandbox.kubeapi import ApiError, Informer, Obj
from deploymentgate_devkit.sandbox.ports import LOOPBACK
from deploymentgate_devkit.sandbox.routing import (
    PROXY_ANNOTATION,
    Backend,
    RoundRobin,
    format_proxy_annotation,
    ready_backends,
)
from deploymentgate_devkit.sandbox.slices import PROXIED_TYPES, SERVICE_NAME_LABEL

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 3.0
CHUNK = 65536


@dataclass(frozen=True)
class PortKey:
    port: int
    name: str
    protocol: str


def proxied_ports(service: Obj) -> list[PortKey]:
    """The ports kube-proxy would program: TCP ports of selector-based, non-headless services."""
    spec = service.get("spec") or {}
    if not spec.get("selector") or spec.get("type", "ClusterIP") not in PROXIED_TYPES:
        return []
    if spec.get("clusterIP") == "None":
        return []
    return [
        PortKey(int(p["port"]), str(p.get("name") or ""), str(p.get("protocol") or "TCP"))
        for p in spec.get("ports") or ()
        if (p.get("protocol") or "TCP") == "TCP"
    ]


@dataclass
class Listener:
    namespace: str
    service: str
    key: PortKey
    server: asyncio.Server
    address: tuple[str, int]
    balancer: RoundRobin = field(default_factory=RoundRobin)


class ServiceProxy:
    def __init__(self, services: Informer, slices: Informer, on_change: Callable[[], None]) -> None:
        self.services, self.slices = services, slices
        self.api = services.api
        self.listeners: dict[tuple[str, str], dict[int, Listener]] = {}
        self._on_change = on_change
        self._dirty: set[tuple[str, str]] = set()
        self._wake = asyncio.Event()
        self._connections: set[asyncio.Task[Any]] = set()
        services.add_handler(self._on_service)

    def _on_service(self, kind: str, service: Obj) -> None:
        meta = service["metadata"]
        self._dirty.add((meta.get("namespace", "default"), meta["name"]))
        self._wake.set()

    def addresses(self) -> dict[str, dict[str, str]]:
        """``{"ns/name": {"80": "127.0.0.1:41234"}}`` for the state file."""
        return {
            f"{ns}/{name}": {
                str(port): f"{lst.address[0]}:{lst.address[1]}" for port, lst in ports.items()
            }
            for (ns, name), ports in sorted(self.listeners.items())
            if ports
        }

    def routes_to(self, ip: str) -> bool:
        """Whether a new connection to some Service could still reach this address."""
        return any(
            ip in (e.get("addresses") or ())
            for s in self.slices.cache.values()
            for e in s.get("endpoints") or ()
            if (e.get("conditions") or {}).get("ready") is not False
        )

    def backends(self, namespace: str, service: str, port_name: str) -> list[Backend]:
        slices = [
            s
            for s in self.slices.cache.values()
            if s["metadata"].get("namespace") == namespace
            and (s["metadata"].get("labels") or {}).get(SERVICE_NAME_LABEL) == service
        ]
        return ready_backends(slices, port_name)

    async def run(self) -> None:
        await self.services.synced.wait()
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._dirty = self._dirty, set()
            changed = False
            for namespace, name in sorted(batch):
                changed |= await self._sync(namespace, name)
            if changed:
                self._on_change()

    async def _sync(self, namespace: str, name: str) -> bool:
        service = self.services.cache.get(f"{namespace}/{name}")
        deleting = service is None or bool(service["metadata"].get("deletionTimestamp"))
        wanted = {
            k.port: k for k in ([] if deleting or service is None else proxied_ports(service))
        }
        current = self.listeners.setdefault((namespace, name), {})
        changed = False
        for port, listener in list(current.items()):
            if wanted.get(port) != listener.key:
                listener.server.close()
                del current[port]
                changed = True
        for port, key in wanted.items():
            if port not in current:
                current[port] = await self._listen(namespace, name, key)
                changed = True
        if not current:
            self.listeners.pop((namespace, name), None)
        if service is not None and not deleting:
            await self._annotate(service, current)
        return changed

    async def _listen(self, namespace: str, name: str, key: PortKey) -> Listener:
        holder: list[Listener] = []

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            self._connections.add(task)
            try:
                await self._handle(holder[0], reader, writer)
            finally:
                self._connections.discard(task)

        server = await asyncio.start_server(handle, LOOPBACK, 0)
        sockname = server.sockets[0].getsockname()
        listener = Listener(namespace, name, key, server, (str(sockname[0]), int(sockname[1])))
        holder.append(listener)
        log.info("proxy %s/%s:%d listens on %s:%d", namespace, name, key.port, *listener.address)
        return listener

    async def _annotate(self, service: Obj, current: dict[int, Listener]) -> None:
        value = format_proxy_annotation({p: lst.address for p, lst in current.items()}) or None
        annotations = service["metadata"].get("annotations") or {}
        if annotations.get(PROXY_ANNOTATION) == value:
            return
        meta = service["metadata"]
        path = f"/api/v1/namespaces/{meta.get('namespace', 'default')}/services/{meta['name']}"
        try:
            await self.api.patch(path, {"metadata": {"annotations": {PROXY_ANNOTATION: value}}})
        except (ApiError, httpx.HTTPError) as exc:
            log.info("cannot annotate service %s: %s", meta["name"], exc)

    async def _handle(
        self, listener: Listener, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        backends = self.backends(listener.namespace, listener.service, listener.key.name)
        upstream = None
        # A backend that refuses is skipped for the next one: nothing was read from the
        # client yet, so this is invisible to it (it covers a pod that just stopped
        # listening before the endpoint update arrived).
        for _ in backends:
            backend = listener.balancer.pick(backends)
            assert backend is not None
            try:
                upstream = await asyncio.wait_for(
                    asyncio.open_connection(backend.host, backend.port), CONNECT_TIMEOUT
                )
                break
            except (OSError, TimeoutError):
                continue
        if upstream is None:
            writer.close()
            return
        up_reader, up_writer = upstream
        try:
            await _splice(reader, writer, up_reader, up_writer)
        finally:
            for w in (writer, up_writer):
                w.close()

    async def close(self) -> None:
        for ports in self.listeners.values():
            for listener in ports.values():
                listener.server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        for ports in self.listeners.values():
            for listener in ports.values():
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(listener.server.wait_closed(), 1.0)
        self.listeners.clear()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until EOF, then half-close, so each side sees the other's FIN."""
    while True:
        data = await reader.read(CHUNK)
        if not data:
            break
        writer.write(data)
        await writer.drain()
    if writer.can_write_eof() and not writer.is_closing():
        writer.write_eof()


async def _splice(
    client_reader: asyncio.StreamReader,
    client_writer: asyncio.StreamWriter,
    up_reader: asyncio.StreamReader,
    up_writer: asyncio.StreamWriter,
) -> None:
    tasks = [
        asyncio.ensure_future(_pipe(client_reader, up_writer)),
        asyncio.ensure_future(_pipe(up_reader, client_writer)),
    ]
    try:
        pending = set(tasks)
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            if any(t.exception() is not None for t in done if not t.cancelled()):
                break  # a reset on either side ends the whole connection
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
