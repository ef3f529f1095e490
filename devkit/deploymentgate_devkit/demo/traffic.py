"""Steady user traffic through the Service, so the rollout is watched under load.

One new connection per request: the service proxy picks an endpoint per
connection, so the split between versions follows the ready pods exactly as
it would for many independent users.
"""

from __future__ import annotations

import http.client
import json
import threading
import time

from deploymentgate_devkit.demo.traffic_stats import TrafficStats

REQUEST_TIMEOUT = 2.0


def chat_once(host: str, port: int, path: str) -> tuple[str | None, int | None]:
    """One user request: (version that answered, HTTP status), or (None, None) if none did."""
    conn = http.client.HTTPConnection(host, port, timeout=REQUEST_TIMEOUT)
    try:
        conn.request("GET", path, headers={"Connection": "close"})
        response = conn.getresponse()
        body = response.read(64 * 1024)
    except (OSError, http.client.HTTPException):
        return None, None
    finally:
        conn.close()
    try:
        payload = json.loads(body)
    except ValueError:
        return None, response.status
    version = payload.get("version") if isinstance(payload, dict) else None
    return (str(version) if version is not None else None), response.status


class UserTraffic:
    """A background thread sending `rate` requests per second until stopped."""

    def __init__(
        self,
        address: tuple[str, int],
        stats: TrafficStats,
        *,
        rate: float = 30.0,
        path: str = "/api/chat?text=hello",
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.host, self.port = address
        self.stats = stats
        self.interval = 1.0 / rate
        self.path = path
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-user-traffic", daemon=True)

    def start(self) -> UserTraffic:
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        due = time.monotonic()
        while not self._stop.is_set():
            version, status = chat_once(self.host, self.port, self.path)
            self.stats.record(time.monotonic(), version, status)
            # A fixed schedule, but never a burst to catch up after a slow answer.
            due = max(due + self.interval, time.monotonic())
            self._stop.wait(max(0.0, due - time.monotonic()))
