"""Safety: a broken or hostile target yields a failed observation with a clear
message, within the probe's time bound and without buffering what it sends."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

import pytest

from deploymentgate.models import ErrorRate, HealthProbe, StartupProbe, WebSocketProbe
from deploymentgate.observations import ProbeKind
from deploymentgate.probes import (
    run_error_rate_probe,
    run_health_probe,
    run_prometheus_error_rate,
    run_startup_probe,
    run_websocket_probe,
)

from . import hostile

HEALTH = HealthProbe(timeout=timedelta(seconds=1), max_latency=timedelta(seconds=1))
STARTUP = StartupProbe(
    timeout=timedelta(seconds=1),
    phase_timeout=timedelta(seconds=1),
    poll_interval=timedelta(milliseconds=50),
)
WEBSOCKET = WebSocketProbe(timeout=timedelta(seconds=1))
MiB = 1024 * 1024


class Clock:
    def __enter__(self) -> Clock:
        self.start = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.monotonic() - self.start


# ------------------------------------------------------------------ health


@pytest.mark.parametrize(
    ("handler", "expected"),
    [
        (hostile.garbage, "not a valid HTTP answer"),
        (hostile.respond("200 OK", b"{not json"), "body is not valid JSON"),
        (hostile.respond("200 OK", b'"healthy"'), "body is JSON but not an object"),
        (hostile.respond("200 OK", b"\xff\xfe\x00"), "body is not UTF-8 text"),
        (hostile.silent, "no complete answer within 1s"),
        (hostile.slow_drip, "no complete answer within 1s"),
    ],
    ids=["garbage-bytes", "invalid-json", "json-not-object", "binary-body", "silent", "slow-drip"],
)
async def test_health_probe_reports_a_broken_target_as_failed(
    handler: hostile.Handler, expected: str
) -> None:
    async with hostile.tcp_server(handler) as served:
        with Clock() as clock:
            obs = await run_health_probe(served.url, HEALTH)
    assert obs.kind is ProbeKind.HEALTH and obs.ok is False
    assert expected in obs.message
    assert clock.seconds < 2.5


@pytest.mark.parametrize(
    "handler", [hostile.endless_body, hostile.endless_chunked], ids=["1GiB", "endless-chunked"]
)
async def test_health_probe_stops_reading_a_huge_body(handler: hostile.Handler) -> None:
    async with hostile.tcp_server(handler) as served:
        with Clock() as clock:
            obs = await run_health_probe(served.url, HEALTH)
        sent = served.sent
    assert obs.ok is False
    assert "body larger than 64 KiB" in obs.message
    assert clock.seconds < 2.5
    assert sent < 16 * MiB  # the probe hung up instead of draining the stream


async def test_health_probe_reports_a_closed_port() -> None:
    obs = await run_health_probe(f"http://127.0.0.1:{hostile.closed_port()}", HEALTH)
    assert obs.ok is False and obs.message == "connection refused (nothing listening)"


async def test_health_probe_over_https_rejects_an_untrusted_certificate() -> None:
    async with hostile.tcp_server(
        hostile.respond("200 OK", b'{"status": "healthy"}'),
        ssl_context=hostile.self_signed_context(),
    ) as served:
        obs = await run_health_probe(served.url, HEALTH)
    assert obs.ok is False
    assert obs.message.startswith("TLS handshake failed: certificate not trusted")


async def test_health_probe_over_https_to_a_plain_http_server_is_a_tls_error() -> None:
    async with hostile.tcp_server(hostile.plain_http) as served:
        https = served.url.replace("http://", "https://")
        obs = await run_health_probe(https, HEALTH)
        ws_obs = await run_websocket_probe(https, WEBSOCKET)
    assert obs.ok is False and obs.message.startswith("TLS handshake failed"), obs.message
    assert ws_obs.ok is False and ws_obs.message.startswith("TLS handshake failed"), ws_obs.message


async def test_health_probe_does_not_follow_a_redirect_to_another_host() -> None:
    async with hostile.tcp_server(hostile.redirect_to("http://127.0.0.2:9/health")) as served:
        obs = await run_health_probe(served.url, HEALTH)
    assert obs.ok is False
    assert "redirected (302) to http://127.0.0.2:9/health, another origin" in obs.message


async def test_health_probe_follows_a_same_origin_redirect() -> None:
    handler = hostile.health_then("/healthz", {"status": "healthy"})
    async with hostile.tcp_server(handler) as served:
        obs = await run_health_probe(served.url, HEALTH)
    assert obs.ok is True, obs.message


async def test_secrets_in_the_url_never_reach_logs_or_observations(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    answer = hostile.respond("503 Busy", b"{}", headers="Set-Cookie: session=tok-s3cret\r\n")
    async with hostile.tcp_server(answer) as served:
        base = served.url.replace("http://", "http://admin:pw-hunter2@") + "/?token=tok-s3cret"
        http_obs = await run_health_probe(base, HEALTH)
    refused = await run_health_probe(
        f"http://127.0.0.1:{hostile.closed_port()}?access_token=tok-s3cret", HEALTH
    )
    async with hostile.ws_server(hostile.ws_mute) as url:
        ws_obs = await run_websocket_probe(url + "/?token=tok-s3cret", WEBSOCKET)
    assert http_obs.ok is False and refused.ok is False and ws_obs.ok is False
    # What the probe side logged (the test's own server logs the request it got).
    logged = "\n".join(
        r.getMessage() for r in caplog.records if not r.name.startswith("websockets.server")
    )
    assert "HTTP Request: GET" in logged and "> GET /" in logged  # httpx, websockets did log
    assert "Set-Cookie" in logged and "REDACTED" in logged
    for text in (logged, *(repr(o) for o in (http_obs, refused, ws_obs))):
        assert "tok-s3cret" not in text
        assert "pw-hunter2" not in text


# ----------------------------------------------------------------- startup


@pytest.mark.parametrize(
    ("handler", "expected"),
    [
        (
            hostile.respond("503 Service Unavailable", b"<html>busy</html>"),
            "503 without a startup phase",
        ),
        (hostile.garbage, "not up yet: not a valid HTTP answer"),
        (hostile.slow_drip, "startup not complete within 1s"),
    ],
    ids=["invalid-json", "garbage-bytes", "slow-drip"],
)
async def test_startup_probe_times_out_on_a_target_that_never_reports_phases(
    handler: hostile.Handler, expected: str
) -> None:
    async with hostile.tcp_server(handler) as served:
        with Clock() as clock:
            obs = await run_startup_probe(served.url, STARTUP)
    assert obs.kind is ProbeKind.STARTUP and obs.ok is False and obs.final
    assert "startup not complete within 1s" in obs.message
    assert expected in obs.message
    assert clock.seconds < 3


async def test_startup_probe_retries_a_closed_port_until_its_timeout() -> None:
    with Clock() as clock:
        obs = await run_startup_probe(f"http://127.0.0.1:{hostile.closed_port()}", STARTUP)
    assert obs.ok is False
    assert "startup not complete within 1s" in obs.message
    assert "not up yet: connection refused" in obs.message
    assert obs.values["polls"] >= 5  # it kept polling, not gave up on the first refusal
    assert 0.9 < clock.seconds < 3


async def test_startup_probe_stops_reading_an_endless_body() -> None:
    async with hostile.tcp_server(hostile.endless_chunked) as served:
        obs = await run_startup_probe(served.url, STARTUP)
        sent = served.sent
    assert obs.ok is False and "health body larger than 64 KiB" in obs.message
    assert sent < 16 * MiB


async def test_startup_probe_over_https_with_a_bad_certificate_fails_with_tls_error() -> None:
    async with hostile.tcp_server(
        hostile.respond("200 OK", b"{}"), ssl_context=hostile.self_signed_context()
    ) as served:
        obs = await run_startup_probe(served.url, STARTUP)
    assert obs.ok is False and "TLS handshake failed" in obs.message


# --------------------------------------------------------------- websocket


@pytest.mark.parametrize(
    ("handler", "expected"),
    [
        (hostile.ws_noise_forever, "more than 1000 messages without the required events"),
        (hostile.ws_huge_message, "a message exceeded the 64 KiB limit"),
        (hostile.ws_not_json, "message 1 is not valid JSON"),
        (
            hostile.ws_mute,
            "missing agent_started, agent_thinking, tool_executing, tool_completed, "
            "agent_completed within 1s (received: none)",
        ),
    ],
    ids=["endless-stream", "huge-message", "invalid-json", "silent"],
)
async def test_websocket_probe_reports_a_hostile_server(
    handler: hostile.WSHandler, expected: str
) -> None:
    async with hostile.ws_server(handler) as url:
        with Clock() as clock:
            obs = await run_websocket_probe(url, WEBSOCKET)
    assert obs.kind is ProbeKind.WEBSOCKET and obs.ok is False
    assert expected in obs.message
    assert clock.seconds < 3


@pytest.mark.parametrize(
    ("handler", "expected"),
    [
        (hostile.garbage, "not a WebSocket server"),
        (
            hostile.respond("200 OK", b'{"status": "healthy"}'),
            "WebSocket upgrade refused: HTTP 200",
        ),
        (hostile.endless_body, "not a WebSocket server"),
        (hostile.silent, "WebSocket handshake timed out"),
        (
            hostile.redirect_to("ws://127.0.0.2:9/ws"),
            "WebSocket upgrade redirected to ws://127.0.0.2:9/ws, another origin",
        ),
    ],
    ids=["garbage-bytes", "plain-http", "endless-body", "silent", "off-origin-redirect"],
)
async def test_websocket_probe_against_a_non_websocket_server(
    handler: hostile.Handler, expected: str
) -> None:
    async with hostile.tcp_server(handler) as served:
        with Clock() as clock:
            obs = await run_websocket_probe(served.url, WEBSOCKET)
        sent = served.sent
    assert obs.ok is False and expected in obs.message
    assert clock.seconds < 3 and sent < 16 * MiB


async def test_websocket_probe_reports_a_closed_port() -> None:
    obs = await run_websocket_probe(f"http://127.0.0.1:{hostile.closed_port()}", WEBSOCKET)
    assert obs.ok is False and obs.message == "connection refused (nothing listening)"


async def test_websocket_probe_over_wss_rejects_an_untrusted_certificate() -> None:
    async with hostile.tcp_server(
        hostile.silent, ssl_context=hostile.self_signed_context()
    ) as served:
        obs = await run_websocket_probe(served.url, WEBSOCKET)
    assert obs.ok is False
    assert obs.message.startswith("TLS handshake failed: certificate not trusted")


# -------------------------------------------------------------- error rate


async def test_error_rate_probe_counts_garbage_answers_as_errors() -> None:
    cfg = ErrorRate(requests_per_interval=10, min_requests=10)
    async with hostile.tcp_server(hostile.garbage) as served:
        obs = await run_error_rate_probe(served.url, cfg)
    assert obs.ok is False
    assert obs.values["error_rate_percent"] == 100.0
    assert "most common: not a valid HTTP answer" in obs.message


@pytest.mark.parametrize(
    ("handler", "expected"),
    [
        (hostile.endless_chunked, "Prometheus answer larger than 1024 KiB"),
        (hostile.garbage, "Prometheus unreachable: not a valid HTTP answer"),
        (hostile.respond("200 OK", b"\x00\x01"), "body that is not JSON"),
    ],
    ids=["endless", "garbage-bytes", "binary"],
)
async def test_a_hostile_prometheus_gives_no_data_never_a_pass(
    handler: hostile.Handler, expected: str
) -> None:
    async with hostile.tcp_server(handler) as served:
        cfg = ErrorRate(source="prometheus", prometheus_url=served.url, query="vector(0)")
        obs = await run_prometheus_error_rate(cfg)
        sent = served.sent
    assert obs.ok is None and obs.message.startswith("no data: ")
    assert expected in obs.message
    assert sent < 16 * MiB
