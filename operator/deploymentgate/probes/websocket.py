"""WebSocket probe (seed §2, §5, §6): the agent events a chat user depends on.

One run: connect, send the configured message, read events until every
required one arrived, an error event or a disconnect ends the run, or time
runs out. After a disconnect the probe tries one reconnect, because the seed
asks for "connection recovery after disconnect" and an operator deciding on
a rollback wants to know whether the pod still accepts clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from deploymentgate.models import WebSocketProbe
from deploymentgate.observations import ProbeKind, ProbeObservation
from deploymentgate.probes.budget import budget
from deploymentgate.probes.event_flow import EventFlow, wall_clock
from deploymentgate.probes.kind_runner import SectionRunner
from deploymentgate.probes.limits import (
    DEADLINE_SLACK_SECONDS,
    MAX_WS_MESSAGES,
    RECONNECT_TIMEOUT_SECONDS,
)
from deploymentgate.probes.observe import observation
from deploymentgate.probes.urls import probe_url, websocket_url
from deploymentgate.probes.ws_connect import (
    CONNECT_ERRORS,
    describe_close,
    describe_connect_error,
    open_websocket,
)


async def run_websocket_probe(
    base_url: str,
    cfg: WebSocketProbe,
    *,
    honor_port: bool = True,
    target: str | None = None,
    revision: str | None = None,
) -> ProbeObservation:
    url = websocket_url(probe_url(base_url, cfg.path, cfg.port if honor_port else None))
    run = _Conversation(url, cfg)
    hard_limit = cfg.timeout.total_seconds() + RECONNECT_TIMEOUT_SECONDS + DEADLINE_SLACK_SECONDS
    async with budget().connections.slot():  # one conversation, one connection at a time
        await _converse_within(run, hard_limit)
    return run.observation(target if target is not None else url, revision)


async def _converse_within(run: _Conversation, hard_limit: float) -> None:
    with contextlib.suppress(TimeoutError):  # the verdict says what never arrived
        async with asyncio.timeout(hard_limit):
            await run.converse()
            if run.disconnect is not None:
                await run.try_reconnect()


class _Conversation:
    def __init__(self, url: str, cfg: WebSocketProbe) -> None:
        self.url = url
        self.cfg = cfg
        self.timeout = cfg.timeout.total_seconds()
        self.flow = EventFlow(
            expected=list(cfg.expect_events),
            error_events=list(cfg.error_events),
            ordered=cfg.ordered,
            max_latency=cfg.max_event_latency.total_seconds(),
        )
        self.connect_error: str | None = None
        self.connect_seconds: float | None = None
        self.disconnect: str | None = None
        self.reconnect: tuple[bool, str] | None = None
        self.messages = 0

    async def converse(self) -> None:
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.timeout):
                async with open_websocket(self.url, open_timeout=self.timeout) as ws:
                    self.connect_seconds = time.monotonic() - started
                    await self._exchange(ws)
        except TimeoutError:
            if self.connect_seconds is None:
                self.connect_error = describe_connect_error(TimeoutError())
        except CONNECT_ERRORS as exc:
            if self.connect_seconds is None:
                self.connect_error = describe_connect_error(exc)
            elif self.disconnect is None and not self.flow.finished:
                self.disconnect = f"connection failed: {describe_connect_error(exc)}"

    async def _exchange(self, ws: ClientConnection) -> None:
        self.flow.sent_at = time.monotonic()
        try:
            await ws.send(self.cfg.send)
            while not self.flow.finished:
                raw = await ws.recv()
                self._take(raw)
        except ConnectionClosed as exc:
            self.disconnect = describe_close(exc, ws)

    def _take(self, raw: str | bytes) -> None:
        at, wall = time.monotonic(), wall_clock()
        self.messages += 1
        if self.messages > MAX_WS_MESSAGES:
            self.flow.problem = f"more than {MAX_WS_MESSAGES} messages without the required events"
            return
        if isinstance(raw, bytes):
            self.flow.problem = f"message {self.messages} is a binary frame (expected JSON text)"
            return
        try:
            message = json.loads(raw)
        except ValueError:
            self.flow.problem = f"message {self.messages} is not valid JSON"
            return
        if not isinstance(message, dict):
            self.flow.problem = f"message {self.messages} is JSON but not an object"
            return
        self.flow.observe(message, at, wall)

    async def try_reconnect(self) -> None:
        try:
            async with asyncio.timeout(RECONNECT_TIMEOUT_SECONDS):
                async with open_websocket(self.url, open_timeout=RECONNECT_TIMEOUT_SECONDS):
                    pass
            self.reconnect = (True, "")
        except CONNECT_ERRORS as exc:
            self.reconnect = (False, describe_connect_error(exc))

    def observation(self, target: str, revision: str | None) -> ProbeObservation:
        flow = self.flow
        values = flow.values()
        values["messages_received"] = self.messages
        details: dict[str, Any] = {"received": flow.arrived, "ignored": flow.ignored}
        if self.connect_seconds is not None:
            values["connect_ms"] = self.connect_seconds * 1000
        if self.reconnect is not None:
            values["reconnected"] = 1.0 if self.reconnect[0] else 0.0
            details["reconnect"] = "succeeded" if self.reconnect[0] else self.reconnect[1]
        ok, message = self._verdict()
        return observation(
            ProbeKind.WEBSOCKET,
            ok,
            message,
            target=target,
            revision=revision,
            values=values,
            details=details,
        )

    def _verdict(self) -> tuple[bool, str]:
        flow = self.flow
        if self.connect_error is not None:
            return False, self.connect_error
        progress = f" after {flow.arrived[-1]}" if flow.arrivals else " before any required event"
        if flow.problem is not None:
            return False, flow.problem
        if self.disconnect is not None:
            message = f"connection dropped{progress}: {self.disconnect}"
            if flow.missing():
                message += f"; never received {', '.join(flow.missing())}"
            if self.reconnect is not None:
                ok_again, why = self.reconnect
                message += "; reconnect succeeded" if ok_again else f"; reconnect failed: {why}"
            return False, message
        if not flow.complete:
            received = ", ".join(flow.arrived) or "none"
            return False, (
                f"missing {', '.join(flow.missing())} within {self.timeout:g}s "
                f"(received: {received})"
            )
        slow = flow.too_slow()
        limit_ms = flow.max_latency * 1000
        if slow:
            listed = ", ".join(f"{a.event} {_ms(a.gap)}" for a in slow)
            return False, f"event latency over {limit_ms:g}ms: {listed}"
        slowest = max(flow.arrivals, key=lambda a: a.gap)
        order = "in order " if flow.ordered else ""
        return True, (
            f"{len(flow.arrivals)}/{len(flow.expected)} events {order}in "
            f"{_ms(flow.arrivals[-1].since_send)} "
            f"(slowest {slowest.event} {_ms(slowest.gap)}, max {limit_ms:g}ms)"
        )


def _ms(seconds: float) -> str:
    ms = seconds * 1000
    return f"{ms:.1f}ms" if ms < 10 else f"{ms:.0f}ms"


WEBSOCKET_RUNNER = SectionRunner(ProbeKind.WEBSOCKET, WebSocketProbe, run_websocket_probe)
