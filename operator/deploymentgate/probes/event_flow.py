"""Judging one agent run's WebSocket events (seed §2, §5), free of I/O.

Latency of an event is the time since the previous required event (or since
the message was sent, for the first): that is what a user waits between two
updates of the chat UI, and what an agent stalling in one step inflates.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from deploymentgate.probes.observe import clip
from deploymentgate.timestamps import parse_timestamp


@dataclass(frozen=True)
class Arrival:
    event: str
    since_send: float  # seconds
    gap: float  # seconds since the previous required event (or the send)
    server_delay: float | None  # receive wall time minus the server's `ts`, if sent


@dataclass
class EventFlow:
    expected: list[str]
    error_events: list[str]
    ordered: bool
    max_latency: float  # seconds
    sent_at: float = 0.0  # monotonic
    arrivals: list[Arrival] = field(default_factory=list)
    problem: str | None = None  # a failure that ends the run at once
    ignored: int = 0

    @property
    def arrived(self) -> list[str]:
        return [a.event for a in self.arrivals]

    @property
    def complete(self) -> bool:
        return len(self.arrivals) == len(self.expected)

    @property
    def finished(self) -> bool:
        return self.complete or self.problem is not None

    def missing(self) -> list[str]:
        got = set(self.arrived)
        return [event for event in self.expected if event not in got]

    def observe(self, message: dict[str, Any], at: float, wall: float) -> None:
        """One JSON message received at monotonic `at` (wall clock `wall`)."""
        if self.finished:
            return
        event = message.get("type")
        if not isinstance(event, str):
            self.ignored += 1
            return
        if event in self.error_events:
            self.problem = f"error event {event!r}" + _error_text(message)
            return
        if event not in self.expected or event in self.arrived:
            self.ignored += 1  # connection_established, progress repeats, ...
            return
        if self.ordered:
            want = self.expected[len(self.arrivals)]
            if event != want:
                skipped = self.expected[len(self.arrivals) : self.expected.index(event)]
                after = f" after {self.arrived[-1]}" if self.arrivals else " first"
                self.problem = (
                    f"missing {', '.join(skipped)}: {event} arrived{after} "
                    f"(required order: {' → '.join(self.expected)})"
                )
                return
        previous = self.arrivals[-1].since_send if self.arrivals else 0.0
        since_send = at - self.sent_at
        self.arrivals.append(
            Arrival(event, since_send, since_send - previous, server_delay(message, wall))
        )

    def too_slow(self) -> list[Arrival]:
        return [a for a in self.arrivals if a.gap > self.max_latency]

    def values(self) -> dict[str, float]:
        out: dict[str, float] = {
            "events_expected": len(self.expected),
            "events_received": len(self.arrivals),
        }
        for a in self.arrivals:
            out[f"latency_ms_{a.event}"] = a.gap * 1000
            out[f"since_send_ms_{a.event}"] = a.since_send * 1000
        if self.arrivals:
            out["max_latency_ms"] = max(a.gap for a in self.arrivals) * 1000
            delays = [a.server_delay for a in self.arrivals if a.server_delay is not None]
            if delays:
                out["max_server_delay_ms"] = max(delays) * 1000
        return out


def server_delay(message: dict[str, Any], wall: float) -> float | None:
    """Receive time minus the server's own timestamp (epoch s, epoch ms or ISO 8601)."""
    ts = message.get("ts")
    sent: float | None = None
    if isinstance(ts, int | float) and not isinstance(ts, bool):
        sent = float(ts) / 1000 if ts > 1e11 else float(ts)
    elif isinstance(ts, str):
        try:
            sent = parse_timestamp(ts).timestamp()
        except ValueError:
            return None
    if sent is None or sent != sent:  # NaN
        return None
    return wall - sent


def wall_clock() -> float:
    return time.time()


def _error_text(message: dict[str, Any]) -> str:
    for key in ("error", "message", "detail"):
        value = message.get(key)
        if isinstance(value, str) and value:
            return f": {clip(value)}"
    return ""
