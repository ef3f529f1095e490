"""The simulated nodes' kubelet endpoint, so ``kubectl logs`` works against the sandbox.

The API server proxies ``pods/log`` to https://<node InternalIP>:<kubelet port>;
this serves ``/containerLogs/{namespace}/{pod}/{container}`` from the files the
pods' processes write (tailLines, limitBytes and follow honoured). exec, attach
and port-forward have no meaning for local processes and answer 501.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from deploymentgate_devkit.sandbox.pki import ClusterPki
from deploymentgate_devkit.sandbox.pods import pod_log_dir, safe_name
from deploymentgate_devkit.sandbox.ports import LOOPBACK

FOLLOW_POLL = 0.2


def tail_lines(data: bytes, lines: int) -> bytes:
    if lines <= 0:
        return b""
    parts = data.splitlines(keepends=True)
    return b"".join(parts[-lines:])


def _client_gone(request: web.Request) -> bool:
    return request.transport is None or request.transport.is_closing()


class KubeletApi:
    def __init__(
        self, pods_dir: Path, pki: ClusterPki, pod_running: Callable[[str, str], bool]
    ) -> None:
        self.pods_dir = pods_dir
        self.pki = pki
        self.pod_running = pod_running
        self.port = 0
        self._runner: web.AppRunner | None = None

    def _ssl(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(self.pki.ca_cert))
        context.load_cert_chain(str(self.pki.node_cert), str(self.pki.node_key))
        context.verify_mode = ssl.CERT_REQUIRED  # only the API server's client cert gets in
        return context

    async def start(self) -> int:
        app = web.Application()
        app.router.add_get("/containerLogs/{namespace}/{pod}/{container}", self._logs)
        app.router.add_route("*", "/{tail:.*}", self._unsupported)
        self._runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=1.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, LOOPBACK, 0, ssl_context=self._ssl())
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _unsupported(self, request: web.Request) -> web.Response:
        return web.Response(status=501, text=f"{request.path}: not supported by sandbox nodes\n")

    async def _logs(self, request: web.Request) -> web.StreamResponse:
        namespace, pod = request.match_info["namespace"], request.match_info["pod"]
        container = request.match_info["container"]
        path = pod_log_dir(self.pods_dir, namespace, pod) / f"{safe_name(container)}.log"
        if not path.exists():
            return web.Response(
                status=404, text=f'container "{container}" in pod "{pod}" has no logs (yet)\n'
            )
        data = path.read_bytes()
        if "tailLines" in request.query:
            data = tail_lines(data, int(request.query["tailLines"]))
        if "limitBytes" in request.query:
            data = data[: int(request.query["limitBytes"])]
        follow = request.query.get("follow") in ("true", "1")
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await response.prepare(request)
        await response.write(data)
        if follow:
            offset = path.stat().st_size
            while self.pod_running(namespace, pod) and not _client_gone(request):
                await asyncio.sleep(FOLLOW_POLL)
                size = path.stat().st_size if path.exists() else offset
                if size > offset:
                    with open(path, "rb") as handle:
                        handle.seek(offset)
                        chunk = handle.read(size - offset)
                    offset = size
                    await response.write(chunk)
        await response.write_eof()
        return response
