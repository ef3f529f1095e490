"""WebSocket throughput (seed §5: "100+ events/second", "no event loss under
load", "event delivery < 100ms").

Many user messages are sent over one connection at a steady rate; each is
tagged with a ``message_id`` so its events can be told apart. Latency is
measured two ways: by the client (time since the previous event of the same
message, or since its send) and against the server's own ``ts`` field, which
isolates delivery from the agent's work when both clocks agree.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from deploymentgate.models import WebSocketProbe
from deploymentgate.observations import ProbeKind, ProbeObservation
from deploymentgate.probes.event_flow import server_delay, wall_clock
from deploymentgate.probes.limits import DEADLINE_SLACK_SECONDS
from deploymentgate.probes.observe import observation
from deploymentgate.probes.urls import probe_url, websocket_url
from deploymentgate.probes.ws_connect import (
    CONNECT_ERRORS,
    describe_close,
    describe_connect_error,
    open_websocket,
)


@dataclass
class _Message:
    sent_at: float
    last_at: float
    seen: set[str] = field(default_factory=set)


@dataclass
class _Tally:
    expected: list[str]
    error_events: list[str]
    messages: dict[str, _Message] = field(default_factory=dict)
    client_ms: list[float] = field(default_factory=list)
    server_ms: list[float] = field(default_factory=list)
    errors: int = 0
    unmatched: int = 0
    received: int = 0
    last_event_at: float = 0.0

    def take(self, message: dict[str, Any], at: float, wall: float) -> None:
        event = message.get("type")
        entry = self.messages.get(str(message.get("message_id")))
        if event in self.error_events:
            self.errors += 1
            return
        if entry is None or event not in self.expected or event in entry.seen:
            self.unmatched += 1
            return
        entry.seen.add(str(event))
        self.received += 1
        self.client_ms.append((at - entry.last_at) * 1000)
        entry.last_at = self.last_event_at = at
        delay = server_delay(message, wall)
        if delay is not None:
            self.server_ms.append(delay * 1000)

    def done(self, total: int) -> bool:
        return self.received == total * len(self.expected)


async def run_websocket_throughput(
    url: str,
    cfg: WebSocketProbe,
    *,
    messages: int,
    rate: float,
    target: str | None = None,
    revision: str | None = None,
) -> ProbeObservation:
    """Send `messages` user messages at `rate` per second over one connection.

    `url` is either the service's http(s) base URL (cfg.path is appended) or
    a ready ws(s) URL. Passes when no required event is lost, no error event
    arrives, and the p99 latency (client-measured, and server-`ts`-relative
    when the server stamps events) is within cfg.max_event_latency.
    """
    if messages < 1 or rate <= 0:
        raise ValueError("messages must be >= 1 and rate > 0")
    ws_url = url if url.startswith(("ws://", "wss://")) else websocket_url(probe_url(url, cfg.path))
    where = target if target is not None else ws_url
    try:
        template = json.loads(cfg.send)
    except ValueError:
        template = None
    if not isinstance(template, dict):
        return observation(
            ProbeKind.WEBSOCKET,
            None,
            "throughput mode needs a JSON object in `send` to tag messages with message_id",
            target=where,
            revision=revision,
        )
    tally = _Tally(list(cfg.expect_events), list(cfg.error_events))
    budget = messages / rate + cfg.timeout.total_seconds()
    started = time.monotonic()
    problem = ""
    try:
        async with asyncio.timeout(budget + DEADLINE_SLACK_SECONDS):
            problem = await _drive(ws_url, template, tally, messages, rate, budget)
    except TimeoutError:
        problem = f"not every event arrived within {budget:g}s"
    return _report(tally, cfg, messages, rate, started, problem, where, revision)


async def _drive(
    url: str, template: dict[str, Any], tally: _Tally, total: int, rate: float, budget: float
) -> str:
    try:
        async with open_websocket(url, open_timeout=min(budget, 10.0), max_queue=256) as ws:
            sender = asyncio.create_task(_send_all(ws, template, tally, total, rate))
            try:
                return await _read(ws, tally, total)
            finally:
                sender.cancel()
                with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                    await sender
    except CONNECT_ERRORS as exc:
        return describe_connect_error(exc)


async def _send_all(
    ws: ClientConnection, template: dict[str, Any], tally: _Tally, total: int, rate: float
) -> None:
    origin = time.monotonic()
    for index in range(total):
        delay = origin + index / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        message_id = f"gate-{index}"
        now = time.monotonic()
        tally.messages[message_id] = _Message(sent_at=now, last_at=now)
        await ws.send(json.dumps({**template, "message_id": message_id}))


async def _read(ws: ClientConnection, tally: _Tally, total: int) -> str:
    cap = total * (len(tally.expected) + 2) + 100
    count = 0
    try:
        while not tally.done(total):
            raw = await ws.recv()
            count += 1
            if count > cap:
                return f"more than {cap} messages for {total} sent"
            at, wall = time.monotonic(), wall_clock()
            if isinstance(raw, bytes):
                return f"message {count} is a binary frame (expected JSON text)"
            try:
                message = json.loads(raw)
            except ValueError:
                return f"message {count} is not valid JSON"
            if isinstance(message, dict):
                tally.take(message, at, wall)
    except ConnectionClosed as exc:
        return f"connection dropped: {describe_close(exc, ws)}"
    return ""


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def _report(
    tally: _Tally,
    cfg: WebSocketProbe,
    total: int,
    rate: float,
    started: float,
    problem: str,
    where: str,
    revision: str | None,
) -> ProbeObservation:
    expected = total * len(tally.expected)
    lost = expected - tally.received
    end = tally.last_event_at or time.monotonic()
    seconds = max(end - started, 1e-9)
    limit_ms = cfg.max_event_latency.total_seconds() * 1000
    values: dict[str, float] = {
        "messages": total,
        "rate_per_second": rate,
        "events_expected": expected,
        "events_received": tally.received,
        "events_lost": lost,
        "error_events": tally.errors,
        "events_per_second": tally.received / seconds,
        "duration_seconds": seconds,
    }
    if tally.client_ms:
        values["latency_p50_ms"] = percentile(tally.client_ms, 50)
        values["latency_p99_ms"] = percentile(tally.client_ms, 99)
        values["latency_max_ms"] = max(tally.client_ms)
    if tally.server_ms:
        values["server_latency_p50_ms"] = percentile(tally.server_ms, 50)
        values["server_latency_p99_ms"] = percentile(tally.server_ms, 99)
        values["server_latency_max_ms"] = max(tally.server_ms)
    problems = [problem] if problem else []
    if lost:
        problems.append(f"{lost} of {expected} events lost")
    if tally.errors:
        problems.append(f"{tally.errors} error events")
    for key, label in (("latency_p99_ms", "client"), ("server_latency_p99_ms", "server-ts")):
        if key in values and values[key] > limit_ms:
            problems.append(f"p99 {label} latency {values[key]:.0f}ms over {limit_ms:g}ms")
    ok = not problems
    summary = (
        f"{tally.received}/{expected} events from {total} messages at {rate:g}/s "
        f"({values['events_per_second']:.0f} events/s)"
    )
    if "latency_p99_ms" in values:
        summary += f", p50 {values['latency_p50_ms']:.1f}ms p99 {values['latency_p99_ms']:.1f}ms"
    if "server_latency_p99_ms" in values:
        summary += f" (server-ts p99 {values['server_latency_p99_ms']:.1f}ms)"
    message = summary if ok else "; ".join(problems) + f" — {summary}"
    return observation(
        ProbeKind.WEBSOCKET,
        ok,
        message,
        target=where,
        revision=revision,
        values=values,
        details={"unmatchedMessages": tally.unmatched, "mode": "throughput"},
    )
