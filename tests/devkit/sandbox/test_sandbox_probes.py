"""Probe parsing, thresholds, and single attempts against real loopback servers."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from aiohttp import web

from deploymentgate_devkit.sandbox.probes import (
    PERIOD_CAP,
    ProbeConfigError,
    ProbeSpec,
    ProbeTracker,
    parse_probe,
    probe_once,
)

CONTAINER = {"name": "c", "ports": [{"name": "http", "containerPort": 8000}]}


def test_named_port_and_defaults_are_resolved() -> None:
    spec = parse_probe({"httpGet": {"path": "/health", "port": "http"}}, CONTAINER)
    assert (spec.action, spec.port, spec.path, spec.scheme) == ("httpGet", 8000, "/health", "HTTP")
    assert (spec.period, spec.failure_threshold, spec.success_threshold) == (10, 3, 1)
    assert spec.effective_period == PERIOD_CAP


def test_unknown_port_name_is_a_configuration_error() -> None:
    with pytest.raises(ProbeConfigError, match="metrics"):
        parse_probe({"tcpSocket": {"port": "metrics"}}, CONTAINER)


def test_result_flips_only_after_enough_consecutive_outcomes() -> None:
    tracker = ProbeTracker(
        ProbeSpec("httpGet", success_threshold=2, failure_threshold=3), initial=False
    )
    assert [tracker.record(ok) for ok in (True, False, True, True)] == [False, False, False, True]
    assert tracker.result is True
    assert [tracker.record(ok) for ok in (False, False, True, False, False, False)] == [
        False, False, False, False, False, True,
    ]  # fmt: skip
    assert tracker.result is False and tracker.consecutive_failures == 3


async def test_http_probe_succeeds_on_2xx_3xx_and_fails_otherwise() -> None:
    statuses = {"/ok": 200, "/moved": 302, "/starting": 503}

    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=statuses[request.path])

    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with httpx.AsyncClient(trust_env=False) as http:
            results = {
                path: await probe_once(
                    ProbeSpec("httpGet", port=port, path=path), "127.0.0.1", http, {}
                )
                for path in statuses
            }
    finally:
        await runner.cleanup()
    assert results["/ok"][0] and results["/moved"][0]
    assert results["/starting"] == (False, "HTTP probe failed with statuscode: 503")


async def test_tcp_probe_needs_a_listener() -> None:
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with httpx.AsyncClient() as http:
        assert (await probe_once(ProbeSpec("tcpSocket", port=port), "127.0.0.1", http, {}))[0]
        server.close()
        await server.wait_closed()
        ok, detail = await probe_once(ProbeSpec("tcpSocket", port=port), "127.0.0.1", http, {})
    assert not ok and "tcpSocket" in detail


async def test_probe_never_leaves_loopback() -> None:
    async with httpx.AsyncClient() as http:
        ok, detail = await probe_once(
            ProbeSpec("httpGet", port=80, host="192.0.2.10"), "127.0.0.2", http, {}
        )
    assert not ok and "not a loopback address" in detail


async def test_exec_probe_passes_on_exit_zero() -> None:
    async with httpx.AsyncClient() as http:
        ok, _ = await probe_once(
            ProbeSpec("exec", command=("true",)), "127.0.0.2", http, {"PATH": "/usr/bin:/bin"}
        )
        bad, detail = await probe_once(
            ProbeSpec("exec", command=("false",)), "127.0.0.2", http, {"PATH": "/usr/bin:/bin"}
        )
    assert ok and not bad and "exited with 1" in detail
