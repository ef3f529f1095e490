"""Statuses shaped like the core's, and a webhook receiver on loopback that
answers as told (ok, hang, 500, 404) and records what it got and when."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from deploymentgate.models import GateStatus, HistoryEntry, Phase, ProbesStatus, ProbeStatus

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
STABLE, NEW = "6f8b9c7d5", "84c6d7f9b"
IMAGES = ["registry.example/chat:v3"]
PROBES = ProbesStatus(
    startup=ProbeStatus(ok=True, message="7 phases in order", values={"startup_ms": 1840.0}),
    health=ProbeStatus(ok=True, message="200 healthy", values={"latency_ms": 3.2, "checks": 12.0}),
    error_rate=ProbeStatus(
        ok=False,
        message="8.1% of 210 requests failed",
        values={"error_rate_percent": 8.1, "requests": 210.0},
    ),
)


def progressing(at: datetime = T0) -> GateStatus:
    """A rollout at step 2 of 3 (50%), the state most transitions start from."""
    return GateStatus(
        phase=Phase.PROGRESSING,
        message="step 2/3: 50% of traffic on revision 84c6d7f9b",
        revision=NEW,
        stable_revision=STABLE,
        step=1,
        canary_weight=50,
        replicas=4,
        phase_since=at - timedelta(minutes=3),
        images=IMAGES,
        stable_images=["registry.example/chat:v2"],
        probes=PROBES,
        history=[
            HistoryEntry(
                time=at - timedelta(minutes=5),
                revision=NEW,
                phase=Phase.VERIFYING,
                reason="RevisionDetected",
                message="new revision 84c6d7f9b",
            ),
            HistoryEntry(
                time=at - timedelta(minutes=3),
                revision=NEW,
                phase=Phase.PROGRESSING,
                reason="Verified",
                message="step 1/3: 25% of traffic on revision 84c6d7f9b",
            ),
        ],
    )


def entered(
    before: GateStatus,
    phase: Phase,
    reason: str,
    message: str,
    at: datetime = T0,
    **changes: Any,
) -> GateStatus:
    """`before` after one pass that entered `phase` (as core/run.py's `transition` does)."""
    entry = HistoryEntry(
        time=at, revision=before.revision, phase=phase, reason=reason, message=message
    )
    return before.model_copy(
        update={
            "phase": phase,
            "phase_since": at,
            "message": message,
            "history": [*before.history, entry],
            **changes,
        }
    )


@dataclass
class Receiver:
    """What the webhook endpoint saw: bodies and arrival times (monotonic)."""

    mode: str = "ok"
    bodies: list[Any] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    url: str = ""
    got: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.times.append(time.monotonic())
        self.bodies.append(json.loads(await request.read()))
        self.got.set()
        if self.mode == "hang":
            await asyncio.sleep(3600)  # cancelled when the client gives up or the test ends
        if self.mode == "500":
            return web.Response(status=500, text="boom")
        if self.mode == "404":
            return web.Response(status=404, text="no such hook")
        return web.Response(text="ok")


@asynccontextmanager
async def receiver(mode: str = "ok", path: str = "/hooks/T0KEN-s3cr3t") -> AsyncIterator[Receiver]:
    """A webhook endpoint on 127.0.0.1 at a free port; `path` plays the secret part of a URL."""
    got = Receiver(mode=mode)
    app = web.Application()
    app.router.add_post(path, got.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert isinstance(server, asyncio.Server) and server.sockets
    port = server.sockets[0].getsockname()[1]
    got.url = f"http://127.0.0.1:{port}{path}"
    try:
        yield got
    finally:
        await runner.cleanup()
