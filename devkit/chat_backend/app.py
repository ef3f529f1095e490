"""The aiohttp application: routes for health, chat traffic, WebSocket and metrics.

Handlers stay thin: the decisions (phase plan, health verdict, event plan,
error pattern) live in pure modules; here they meet the network.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from chat_backend.config import BackendConfig
from chat_backend.conversation import (
    CONNECTION_ESTABLISHED,
    ERROR,
    event_details,
    parse_client_message,
    plan_reply,
    reply_text,
)
from chat_backend.health import health_response
from chat_backend.metrics import CONTENT_TYPE_LATEST, BackendMetrics
from chat_backend.modes import Mode, health_failure, is_injected_error
from chat_backend.startup import StartupState, plan_for, run_startup

# How long a server-initiated close waits for the client's close frame.
WS_CLOSE_TIMEOUT = 2.0


@dataclass
class Runtime:
    """Per-app mutable state; one per backend instance (never module-global)."""

    config: BackendConfig
    state: StartupState = field(default_factory=StartupState)
    metrics: BackendMetrics = field(init=False)
    sockets: weakref.WeakSet[web.WebSocketResponse] = field(default_factory=weakref.WeakSet)
    traffic_requests: int = 0
    connection_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        self.metrics = BackendMetrics(self.config.version, self.config.mode.value)

    def identity(self) -> dict[str, str]:
        return {"version": self.config.version, "pod": self.config.pod_name}


RUNTIME = web.AppKey("runtime", Runtime)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def create_app(config: BackendConfig) -> web.Application:
    app = web.Application(middlewares=[_count_requests])
    app[RUNTIME] = Runtime(config)
    app.router.add_get("/health", _health)
    app.router.add_get("/version", _version)
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/ws", _websocket)
    for path in ("/api/chat", "/"):
        app.router.add_get(path, _chat)
        app.router.add_post(path, _chat)
    app.cleanup_ctx.append(_startup_task)
    app.on_shutdown.append(_close_websockets)
    return app


async def _startup_task(app: web.Application) -> AsyncIterator[None]:
    runtime = app[RUNTIME]
    plan = plan_for(runtime.config.mode, runtime.config.knobs)
    task = asyncio.create_task(run_startup(runtime.state, plan), name="chat-backend-startup")
    await asyncio.sleep(0)  # enter INIT before the socket listens: no phase-less answers
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _close_websockets(app: web.Application) -> None:
    sockets = list(app[RUNTIME].sockets)
    await asyncio.gather(
        *(ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown") for ws in sockets),
        return_exceptions=True,
    )


@web.middleware
async def _count_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    metrics = request.app[RUNTIME].metrics
    resource = request.match_info.route.resource
    path = resource.canonical if resource is not None else "unmatched"
    began = time.monotonic()
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        metrics.count_request(path, exc.status)
        raise
    except Exception:
        metrics.count_request(path, 500)
        raise
    if not isinstance(response, web.WebSocketResponse):  # upgrades count themselves at 101
        metrics.count_request(path, response.status)
        metrics.http_duration.labels(path=path).observe(time.monotonic() - began)
    return response


async def _health(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    status, body = health_response(runtime.state, runtime.config, time.monotonic())
    return web.json_response(body, status=status)


async def _version(request: web.Request) -> web.Response:
    config = request.app[RUNTIME].config
    return web.json_response({"version": config.version, "mode": config.mode.value})


async def _metrics(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    runtime.metrics.startup_complete.set(1 if runtime.state.startup_complete else 0)
    runtime.metrics.startup_failed.set(1 if runtime.state.startup_failed else 0)
    headers = {"Content-Type": CONTENT_TYPE_LATEST}
    return web.Response(body=runtime.metrics.render(), headers=headers)


async def _chat(request: web.Request) -> web.Response:
    """The traffic endpoint a Service routes users to; errors-8pct fails here."""
    runtime = request.app[RUNTIME]
    state = runtime.state
    if not state.startup_complete:
        message = "Startup failed" if state.startup_failed else "Startup in progress"
        return web.json_response({"error": message, **runtime.identity()}, status=503)
    text = request.query.get("text", "hello")
    if request.method == "POST" and request.can_read_body:
        try:
            payload = await request.json()
        except ValueError:
            return web.json_response(
                {"error": "body must be JSON", **runtime.identity()}, status=400
            )
        if isinstance(payload, dict) and isinstance(payload.get("text"), str):
            text = payload["text"]
    if runtime.config.mode is Mode.BREAKS_AFTER_START:
        since = time.monotonic() - (state.ready_monotonic or time.monotonic())
        failure = health_failure(runtime.config.mode, runtime.config.knobs, since)
        if failure is not None:
            return web.json_response({"error": failure, **runtime.identity()}, status=500)
    if runtime.config.mode is Mode.ERRORS_8PCT:
        runtime.traffic_requests += 1
        if is_injected_error(runtime.traffic_requests):
            return web.json_response(
                {"error": "internal error (simulated)", **runtime.identity()}, status=500
            )
    delay = runtime.config.knobs.extra_latency_seconds
    if runtime.config.mode is Mode.SLOW_CHAT:
        delay += runtime.config.knobs.slow_reply_seconds
    if delay > 0:
        await asyncio.sleep(delay)
    return web.json_response({"reply": reply_text(text), **runtime.identity()})


class _Connection:
    """One WebSocket client: numbers every frame it sends with a per-connection seq."""

    def __init__(self, ws: web.WebSocketResponse, runtime: Runtime) -> None:
        self.ws = ws
        self.runtime = runtime
        self.id = f"c{next(runtime.connection_ids)}"
        self.seq = -1  # connection_established is seq 0
        self.messages = 0

    async def send(self, event: str, message_id: str | None = None, **fields: Any) -> None:
        self.seq += 1
        payload = {
            "type": event,
            "seq": self.seq,
            "message_id": message_id,
            "ts": time.time(),
            "version": self.runtime.config.version,
            **fields,
        }
        await self.ws.send_str(json.dumps(payload))
        self.runtime.metrics.count_event(event)

    async def answer(self, raw: str) -> bool:
        """Send the events for one client frame; False once the connection was dropped."""
        parsed = parse_client_message(raw)
        if isinstance(parsed, str):
            await self.send(ERROR, error=parsed)
            return True
        text, client_id = parsed
        self.messages += 1
        message_id = client_id or f"{self.id}-m{self.messages}"
        config = self.runtime.config
        plan = plan_reply(config.mode, config.knobs, text)
        since = time.monotonic()
        for event in plan.events:
            if plan.gap_seconds > 0:
                await asyncio.sleep(plan.gap_seconds)
            await self.send(event, message_id, **event_details(event, text))
            sent = time.monotonic()
            self.runtime.metrics.ws_event_latency.observe(sent - since)
            since = sent
            if event == plan.drop_after:
                await self.ws.close(
                    code=WSCloseCode.INTERNAL_ERROR, message=b"agent crashed (simulated)"
                )
                return False
        return True


async def _websocket(request: web.Request) -> web.StreamResponse:
    runtime = request.app[RUNTIME]
    state = runtime.state
    if not state.websocket_ready:
        phase = state.startup_phase.value if state.startup_phase is not None else None
        message = "Startup failed" if state.startup_failed else "WebSocket not ready"
        return web.json_response(
            {"status": "unavailable", "message": message, "startup_phase": phase},
            status=503,
        )
    ws = web.WebSocketResponse(timeout=WS_CLOSE_TIMEOUT)
    await ws.prepare(request)
    runtime.metrics.count_request("/ws", 101)
    runtime.sockets.add(ws)
    runtime.metrics.ws_connections.inc()
    connection = _Connection(ws, runtime)
    try:
        await connection.send(CONNECTION_ESTABLISHED, mode=runtime.config.mode.value)
        async for frame in ws:
            if frame.type is WSMsgType.TEXT:
                keep_open = await connection.answer(frame.data)
            elif frame.type is WSMsgType.BINARY:
                await connection.send(ERROR, error="binary frames are not supported")
                keep_open = True
            else:
                keep_open = True
            if not keep_open:
                break
    except ConnectionResetError:
        pass  # the client went away mid-reply; nothing left to tell it
    finally:
        runtime.sockets.discard(ws)
        runtime.metrics.ws_connections.dec()
    return ws
