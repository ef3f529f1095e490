"""The demo's user traffic: counted per version, over a sliding window, one connection each."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from deploymentgate_devkit.demo.traffic import UserTraffic, chat_once
from deploymentgate_devkit.demo.traffic_stats import NO_ANSWER, TrafficStats
from deploymentgate_devkit.sandbox.ports import free_port


def test_window_shares_and_error_rates_are_per_version() -> None:
    stats = TrafficStats(window_seconds=5.0)
    for _ in range(75):
        stats.record(10.0, "v1", 200)
    for i in range(25):
        stats.record(10.0, "v3", 500 if i < 2 else 200)

    snap = stats.snapshot(10.0)

    assert [(v.version, v.requests, v.errors) for v in snap.versions] == [
        ("v1", 75, 0),
        ("v3", 25, 2),
    ]
    v3 = snap.in_window("v3")
    assert v3 is not None
    assert v3.share_percent == 25.0
    assert v3.error_percent == 8.0
    assert not snap.only("v1")


def test_old_requests_leave_the_window_but_stay_in_the_totals() -> None:
    stats = TrafficStats(window_seconds=5.0)
    stats.record(0.0, "v1", 200)
    stats.record(3.0, "v2", 503)
    stats.record(6.0, "v2", 200)

    snap = stats.snapshot(6.0)  # the v1 answer at t=0 is more than 5s old

    assert snap.only("v2")
    assert snap.window_requests == 2
    assert snap.totals == {"v1": 1, "v2": 2}
    assert snap.total_errors == {"v2": 1}
    assert stats.snapshot(20.0).versions == ()
    assert not stats.snapshot(20.0).only("v2")  # no requests is not "all on v2"


def test_a_request_without_any_answer_counts_as_an_error_of_no_version() -> None:
    stats = TrafficStats()
    stats.record(1.0, None, None)

    snap = stats.snapshot(1.0)

    assert snap.total_errors == {NO_ANSWER: 1}
    assert snap.versions[0].error_percent == 100.0


class _Backend(BaseHTTPRequestHandler):
    """Answers like the chat backend: every 4th request a 500, version in the body."""

    protocol_version = "HTTP/1.1"
    count = 0
    connections = 0
    lock = threading.Lock()

    def setup(self) -> None:  # once per connection (HTTP/1.1: it could carry many requests)
        super().setup()
        with self.lock:
            type(self).connections += 1

    def do_GET(self) -> None:
        with self.lock:
            type(self).count += 1
            number = type(self).count
        status = 500 if number % 4 == 0 else 200
        body = json.dumps({"version": "v7", "reply": "hi"}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def backend() -> Iterator[tuple[str, int]]:
    _Backend.count = 0
    _Backend.connections = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Backend)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield "127.0.0.1", server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_user_traffic_opens_a_new_connection_per_request_and_counts_errors(
    backend: tuple[str, int],
) -> None:
    stats = TrafficStats(window_seconds=60.0)
    traffic = UserTraffic(backend, stats, rate=100.0).start()
    deadline = time.monotonic() + 10.0
    try:
        while stats.snapshot(time.monotonic()).window_requests < 20:
            assert time.monotonic() < deadline, "traffic did not reach 20 requests in 10s"
            time.sleep(0.02)
    finally:
        traffic.stop()

    snap = stats.snapshot(time.monotonic())
    v7 = snap.in_window("v7")
    assert v7 is not None and v7.requests == snap.window_requests == _Backend.count
    assert v7.errors == _Backend.count // 4
    # the service proxy balances per connection, so each request must bring its own
    assert _Backend.connections == _Backend.count


def test_a_refused_connection_is_no_answer() -> None:
    assert chat_once("127.0.0.1", free_port(), "/api/chat") == (None, None)
