"""Start and stop a backend on a real socket; shared by the CLI and the test helper."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiohttp import web

from chat_backend.app import create_app
from chat_backend.config import BackendConfig

log = logging.getLogger("chat_backend")

# Open WebSockets are closed on shutdown, so handlers finish well inside this.
SHUTDOWN_TIMEOUT = 2.0


@dataclass
class RunningServer:
    runner: web.AppRunner
    url: str  # http://host:port as actually bound (port 0 resolved)

    async def stop(self) -> None:
        await self.runner.cleanup()


def base_url(address: object) -> str:
    if not isinstance(address, tuple) or len(address) < 2:
        raise ValueError(f"not a TCP address: {address!r}")
    host, port = str(address[0]), int(address[1])
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


async def start_server(config: BackendConfig, host: str, port: int) -> RunningServer:
    """Listen on host:port (0 = any free port); startup phases begin at the same moment."""
    app = create_app(config)
    runner = web.AppRunner(
        app, access_log=None, handle_signals=False, shutdown_timeout=SHUTDOWN_TIMEOUT
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    url = base_url(runner.addresses[0])
    log.info(
        "listening on %s (mode=%s version=%s pod=%s)",
        url,
        config.mode.value,
        config.version,
        config.pod_name,
    )
    return RunningServer(runner, url)
