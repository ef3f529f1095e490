"""A recording proxy between the operator and the kube-apiserver.

The sandbox's API server keeps no audit log, so the RBAC tests put this proxy
on the operator's wire instead: the operator's kubeconfig points here (plain
HTTP on loopback, with the ServiceAccount's token), every request is forwarded
unchanged to the real API server over TLS, responses (watch streams included)
are streamed back, and each call is recorded with the status the API server
answered. What the operator did is then exactly the list of recorded calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import aiohttp
from aiohttp import web

from deploymentgate_devkit.sandbox.kubeconfig import render_kubeconfig, write_private
from deploymentgate_devkit.sandbox.ports import LOOPBACK

FORWARDED_HEADERS = ("Authorization", "Content-Type", "Accept", "User-Agent")
APPLY_PATCH = "application/apply-patch+yaml"


@dataclass(frozen=True)
class ApiCall:
    """One request the operator made, in RBAC's terms, with the server's answer."""

    method: str
    path: str
    query: str
    content_type: str
    status: int
    detail: str = ""  # the API server's message, for errors

    @property
    def target(self) -> ResourceTarget | None:
        return parse_resource_path(self.path)

    @property
    def verbs(self) -> tuple[str, ...]:
        """The RBAC verbs the API server checked for this call (empty: no resource)."""
        target = self.target
        verb = request_verb(self.method, target, self.query) if target else None
        if verb is None:
            return ()
        # A server-side apply that creates the object is also authorized as create.
        if verb == "patch" and self.content_type.startswith(APPLY_PATCH) and self.status == 201:
            return ("patch", "create")
        return (verb,)

    def __str__(self) -> str:
        query = f"?{self.query}" if self.query else ""
        detail = f" ({self.detail})" if self.detail else ""
        return f"{self.method} {self.path}{query} -> {self.status}{detail}"


@dataclass(frozen=True)
class ResourceTarget:
    group: str
    resource: str  # with "/subresource" when there is one, as RBAC rules name it
    namespace: str | None
    name: str | None


def request_verb(method: str, target: ResourceTarget, query: str) -> str | None:
    """The RBAC verb of an HTTP request on a resource."""
    if method == "GET":
        if parse_qs(query).get("watch", [""])[0] in ("true", "1"):
            return "watch"
        return "get" if target.name else "list"
    return {
        "POST": "create",
        "PUT": "update",
        "PATCH": "patch",
        "DELETE": "delete" if target.name else "deletecollection",
    }.get(method)


def parse_resource_path(path: str) -> ResourceTarget | None:
    """/api/v1/... or /apis/<group>/<version>/... into its RBAC parts; None for discovery."""
    parts = [p for p in path.split("/") if p]
    if parts[:2] == ["api", "v1"]:
        group, rest = "", parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 3:
        group, rest = parts[1], parts[3:]
    else:
        return None
    namespace = None
    if len(rest) >= 3 and rest[0] == "namespaces":
        namespace, rest = rest[1], rest[2:]
    if not rest:
        return None
    resource = rest[0]
    name = rest[1] if len(rest) >= 2 else None
    if len(rest) >= 3:
        resource = f"{resource}/{rest[2]}"
    return ResourceTarget(group, resource, namespace, name)


class ApiRecorder:
    """The proxy, served from a thread of its own so tests stay synchronous."""

    def __init__(self, upstream: str, ca_file: Path) -> None:
        self.upstream = upstream.rstrip("/")
        self.ca_file = ca_file
        self._calls: list[ApiCall] = []
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.port = 0
        # Seconds by which watch events of a resource (e.g. "deploymentgates")
        # reach the operator late: a slow watch, which makes its writes race.
        self.watch_lag: dict[str, float] = {}
        # Seconds the API server takes to answer a (verb, resource), e.g.
        # ("list", "deployments") in a cluster with very many Deployments.
        self.answer_delay: dict[tuple[str, str], float] = {}

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> ApiRecorder:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        return self

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=15)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> ApiRecorder:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def calls(self) -> list[ApiCall]:
        with self._lock:
            return list(self._calls)

    def kubeconfig(self, path: Path, user: str, token: str, namespace: str | None = None) -> Path:
        """A kubeconfig that reaches the API server through this proxy, as `user`."""
        text = render_kubeconfig(
            self.url, self.ca_file.read_bytes(), user, token=token, namespace=namespace
        )
        return write_private(path, text)

    # -- the proxy -----------------------------------------------------------

    async def _start(self) -> None:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=context, limit=0),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
        )
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        # A handler is cancelled when its client goes away (an open watch would
        # otherwise wait for the API server's next event), and stop() waits
        # for no stragglers.
        self._runner = web.AppRunner(
            app,
            access_log=None,
            handle_signals=False,
            handler_cancellation=True,
            shutdown_timeout=1.0,
        )
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind((LOOPBACK, 0))  # bound here, so the port is known and cannot be taken
        self.port = int(sock.getsockname()[1])
        await web.SockSite(self._runner, sock).start()

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        headers = {h: request.headers[h] for h in FORWARDED_HEADERS if h in request.headers}
        headers["Accept-Encoding"] = "identity"  # plain bodies: error messages stay readable
        body = await request.read()
        url = self.upstream + request.rel_url.path_qs
        target = parse_resource_path(request.rel_url.path)
        if target is not None and self.answer_delay:
            verb = request_verb(request.method, target, request.rel_url.query_string)
            await asyncio.sleep(self.answer_delay.get((verb or "", target.resource), 0.0))
        async with self._session.request(
            request.method, url, data=body or None, headers=headers
        ) as upstream:
            if upstream.status >= 400:  # a small Status object: keep its message
                payload = await upstream.read()
                self._record(request, upstream.status, _status_message(payload))
                return web.Response(
                    status=upstream.status,
                    body=payload,
                    headers={"Content-Type": upstream.headers.get("Content-Type", "")},
                )
            call = self._record(request, upstream.status)
            response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
            for name in ("Content-Type", "Audit-Id"):
                if name in upstream.headers:
                    response.headers[name] = upstream.headers[name]
            await response.prepare(request)
            lag = self._watch_lag(call)
            try:
                if lag:
                    await _relay_late(upstream, response, lag)
                else:
                    async for chunk in upstream.content.iter_any():
                        await response.write(chunk)
                await response.write_eof()
            except (ConnectionResetError, aiohttp.ClientError):
                pass  # either side went away mid-stream (a watch ending, an operator killed)
            return response

    def _watch_lag(self, call: ApiCall) -> float:
        target = call.target
        if call.verbs != ("watch",) or target is None:
            return 0.0
        return self.watch_lag.get(target.resource, 0.0)

    def _record(self, request: web.Request, status: int, detail: str = "") -> ApiCall:
        split = urlsplit(str(request.rel_url))
        call = ApiCall(
            method=request.method,
            path=split.path,
            query=split.query,
            content_type=request.headers.get("Content-Type", ""),
            status=status,
            detail=detail,
        )
        with self._lock:
            self._calls.append(call)
        return call


async def _relay_late(
    upstream: aiohttp.ClientResponse, response: web.StreamResponse, lag: float
) -> None:
    """Pass each chunk on `lag` seconds after it arrived, order kept, lag not compounded."""
    queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()

    async def read() -> None:
        try:
            async for chunk in upstream.content.iter_any():
                queue.put_nowait((time.monotonic() + lag, chunk))
        finally:
            queue.put_nowait(None)

    reader = asyncio.create_task(read())
    try:
        while (item := await queue.get()) is not None:
            due, chunk = item
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            await response.write(chunk)
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, aiohttp.ClientError):
            await reader


def _status_message(payload: bytes) -> str:
    try:
        message = json.loads(payload).get("message", "")
    except (ValueError, AttributeError):
        message = payload[:300].decode(errors="replace")
    return str(message)[:300]
