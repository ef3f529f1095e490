"""Prometheus metrics of one backend instance.

Each app gets its own CollectorRegistry so several backends can run in one
test process without their counters mixing.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "BackendMetrics"]

# Latency buckets around the seed's bounds (50 ms responses, 100 ms events), so
# that a p95 of either can be told from its bound by histogram_quantile.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0)


class BackendMetrics:
    def __init__(self, version: str, mode: str) -> None:
        self.registry = CollectorRegistry()
        self.http_requests = Counter(
            "chat_http_requests",
            "HTTP requests answered, by route and status code.",
            ["path", "code"],
            registry=self.registry,
        )
        self.ws_events = Counter(
            "chat_ws_events",
            "WebSocket events sent to clients, by event type.",
            ["event"],
            registry=self.registry,
        )
        self.http_duration = Histogram(
            "chat_http_request_duration_seconds",
            "Time to answer an HTTP request (not WebSocket upgrades), by route.",
            ["path"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.ws_event_latency = Histogram(
            "chat_ws_event_latency_seconds",
            "Gap before each event of a reply: since the user's message, or the event before.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.ws_connections = Gauge(
            "chat_ws_connections",
            "WebSocket connections currently open.",
            registry=self.registry,
        )
        self.startup_complete = Gauge(
            "chat_startup_complete",
            "1 once every startup phase has completed, else 0.",
            registry=self.registry,
        )
        self.startup_failed = Gauge(
            "chat_startup_failed",
            "1 if startup stopped in a failed phase, else 0.",
            registry=self.registry,
        )
        build_info = Gauge(
            "chat_build_info",
            "Always 1; labels carry the running version and mode.",
            ["version", "mode"],
            registry=self.registry,
        )
        build_info.labels(version=version, mode=mode).set(1)
        # Label children cached: the event path runs 1,000+ times a second.
        self._event_children: dict[str, Counter] = {}

    def count_request(self, path: str, code: int) -> None:
        self.http_requests.labels(path=path, code=str(code)).inc()

    def count_event(self, event: str) -> None:
        child = self._event_children.get(event)
        if child is None:
            child = self._event_children[event] = self.ws_events.labels(event=event)
        child.inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
