"""Acceptance: every mode of the reference chat backend fails the right probe
with a message naming the cause; `healthy` passes them all."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime, timedelta

from chat_backend.testing import run_backend
from deploymentgate.models import WebSocketProbe
from deploymentgate.observations import ProbeKind, ProbeObservation
from deploymentgate.probes import (
    HealthTracker,
    run_error_rate_probe,
    run_gate_probes,
    run_health_probe,
    run_startup_probe,
    run_websocket_probe,
    run_websocket_throughput,
)

from .backend import ERROR_RATE, FAST_ENV, HEALTH, STARTUP, WEBSOCKET, gate_spec
from .hostile import closed_port, respond, tcp_server


def by_kind(observations: list[ProbeObservation]) -> dict[ProbeKind, ProbeObservation]:
    return {o.kind: o for o in observations}


async def test_healthy_backend_passes_every_probe() -> None:
    async with run_backend("healthy", env=FAST_ENV) as url:
        results = by_kind(await run_gate_probes(gate_spec(), url))
    assert list(results) == [
        ProbeKind.STARTUP,
        ProbeKind.HEALTH,
        ProbeKind.WEBSOCKET,
        ProbeKind.ERROR_RATE,
    ]
    assert all(o.ok is True for o in results.values()), [o.message for o in results.values()]
    startup = results[ProbeKind.STARTUP]
    # Polled from INIT, or (a loaded machine's first poll came after INIT's
    # 0.25 s) judged by the app's own phase record, which the message says.
    polled = re.match(r"INIT \d\.\ds → DEPENDENCIES \d\.\ds → DATABASE", startup.message)
    assert polled or "order from the app's phase record" in startup.message, startup.message
    assert "→ FINALIZE" in startup.message and "ready in" in startup.message
    assert 1.5 < startup.values["total_seconds"] < 4
    assert startup.values["phase_DATABASE_seconds"] > 0.05
    assert results[ProbeKind.HEALTH].values["status_code"] == 200
    assert results[ProbeKind.WEBSOCKET].values["events_received"] == 5
    assert results[ProbeKind.ERROR_RATE].values == {
        "requests": 50.0,
        "errors": 0.0,
        "error_rate_percent": 0.0,
    }


async def test_startup_probe_waits_for_a_service_not_listening_yet() -> None:
    port = closed_port()
    probe = asyncio.create_task(
        run_startup_probe(f"http://127.0.0.1:{port}", STARTUP, started_at=datetime.now(UTC))
    )
    await asyncio.sleep(0.4)  # the probe meets "connection refused" first
    assert not probe.done()
    async with run_backend("healthy", port=port, env=FAST_ENV):
        obs = await asyncio.wait_for(probe, 10)
    assert obs.ok is True, obs.message
    assert obs.message.startswith("INIT")
    # Times count from the given start, so they include the time before listening.
    assert obs.values["total_seconds"] > 0.4 + 1.5


async def test_slow_phase_fails_the_startup_probe_naming_the_phase() -> None:
    started = time.monotonic()
    async with run_backend("slow-startup", env=FAST_ENV) as url:
        obs = await run_startup_probe(url, STARTUP)
    assert obs.ok is False and obs.final
    assert obs.message.endswith("; DATABASE exceeded 0.6s")
    assert "INIT" in obs.message and "DEPENDENCIES" in obs.message
    assert time.monotonic() - started < 2.5  # did not wait for the 3s phase to end


async def test_phases_out_of_order_fail_at_once() -> None:
    async with run_backend("phases-out-of-order", env=FAST_ENV) as url:
        obs = await run_startup_probe(url, STARTUP)
    assert obs.ok is False and obs.final
    assert "phase DEPENDENCIES seen after DATABASE" in obs.message
    assert obs.values["total_seconds"] < 1.5


async def test_failed_startup_fails_at_once_and_health_reports_it() -> None:
    async with run_backend("startup-fails", env=FAST_ENV) as url:
        startup = await run_startup_probe(url, STARTUP)
        health = await run_health_probe(url, HEALTH)
    assert startup.ok is False and startup.final
    assert "startup failed in DATABASE: Database connection failed" in startup.message
    assert startup.values["total_seconds"] < 1.5
    assert health.ok is False
    assert "status 503 (expected 200)" in health.message
    assert "server says: Startup failed" in health.message


# The flapping test is about what the app says when it flaps, not about latency:
# its bound is loose, so that a busy machine's slow answer is not a failure of its own.
PATIENT_HEALTH = HEALTH.model_copy(update={"max_latency": HEALTH.timeout})


async def _run_health_until(
    url: str, tracker: HealthTracker, done: object, deadline: float = 6.0
) -> list[ProbeObservation]:
    seen: list[ProbeObservation] = []
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        obs = await run_health_probe(url, PATIENT_HEALTH)
        tracker.feed(obs)
        seen.append(obs)
        if callable(done) and done(seen):
            break
        await asyncio.sleep(0.05)
    return seen


async def test_flapping_health_alternates_and_the_tracker_follows() -> None:
    tracker = HealthTracker()
    starts: list[datetime | None] = []

    def flapped_twice(seen: list[ProbeObservation]) -> bool:
        starts.append(tracker.failing_since)
        oks = [o.ok for o in seen]
        return True in oks and False in oks and oks[-1] is True and oks.count(False) > 1

    async with run_backend("health-flapping", env={**FAST_ENV, "CHAT_PHASE_SECONDS": "0"}) as url:
        await run_startup_probe(url, STARTUP)
        seen = await _run_health_until(url, tracker, flapped_twice)
    failures = [o for o in seen if o.ok is False]
    assert failures and all("Cache connection lost (flapping)" in o.message for o in failures)
    assert seen[-1].ok is True and tracker.failing_since is None  # recovered
    assert any(s is not None for s in starts)  # a failure run was tracked meanwhile


async def test_health_failing_after_start_accumulates_failing_time() -> None:
    tracker = HealthTracker()

    def failing_a_while(seen: list[ProbeObservation]) -> bool:
        return tracker.failing_for(datetime.now(UTC)) > timedelta(milliseconds=300)

    env = {**FAST_ENV, "CHAT_PHASE_SECONDS": "0"}
    async with run_backend("health-fails-after-start", env=env) as url:
        await run_startup_probe(url, STARTUP)
        seen = await _run_health_until(url, tracker, failing_a_while)
    assert seen[0].ok is True
    assert seen[-1].ok is False and "Database connection lost" in seen[-1].message
    assert tracker.failing_since is not None and tracker.last_success is not None
    assert tracker.failing_since > tracker.last_success


async def _websocket(mode: str, cfg: WebSocketProbe = WEBSOCKET) -> ProbeObservation:
    async with run_backend(mode, env={**FAST_ENV, "CHAT_PHASE_SECONDS": "0"}) as url:
        await run_startup_probe(url, STARTUP)
        return await run_websocket_probe(url, cfg)


async def test_missing_event_is_named() -> None:
    obs = await _websocket("ws-missing-event")
    assert obs.ok is False
    assert obs.message.startswith(
        "missing tool_completed: agent_completed arrived after tool_executing"
    )


async def test_slow_events_are_named_with_their_latency() -> None:
    obs = await _websocket("ws-slow-events")
    assert obs.ok is False
    assert obs.message.startswith("event latency over 250ms: agent_started ")
    for event in ("agent_thinking", "tool_executing", "tool_completed", "agent_completed"):
        assert re.search(rf"{event} [3-9]\d\dms", obs.message), obs.message
    assert obs.values["max_latency_ms"] > 250


async def test_dropped_connection_is_reported_with_the_reconnect_outcome() -> None:
    obs = await _websocket("ws-drops")
    assert obs.ok is False
    assert obs.message.startswith("connection dropped after agent_thinking: closed by the server")
    assert "code 1011" in obs.message and "reconnect succeeded" in obs.message
    assert "never received tool_executing, tool_completed, agent_completed" in obs.message
    assert obs.values["reconnected"] == 1.0 and obs.details["reconnect"] == "succeeded"


async def test_error_event_fails_the_websocket_probe() -> None:
    cfg = WEBSOCKET.model_copy(update={"send": '{"type": "user_message", "text": "fail tool"}'})
    obs = await _websocket("healthy", cfg)
    assert obs.ok is False
    assert obs.message == "error event 'error': tool execution failed (simulated)"


async def test_unordered_mode_accepts_the_events_in_any_order() -> None:
    reversed_events = list(reversed(WEBSOCKET.expect_events))
    cfg = WEBSOCKET.model_copy(update={"ordered": False, "expect_events": reversed_events})
    obs = await _websocket("healthy", cfg)
    assert obs.ok is True, obs.message


async def test_error_rate_over_threshold_fails_with_the_numbers() -> None:
    async with run_backend("errors-8pct", env={**FAST_ENV, "CHAT_PHASE_SECONDS": "0"}) as url:
        await run_startup_probe(url, STARTUP)
        obs = await run_error_rate_probe(url, ERROR_RATE, requests=50)
    assert obs.ok is False
    assert obs.values == {"requests": 50.0, "errors": 4.0, "error_rate_percent": 8.0}
    assert obs.message.startswith("8.0% errors (4/50 in 1m), over the 5% threshold")


async def test_error_rate_below_min_requests_is_no_data() -> None:
    async with run_backend("errors-8pct", env={**FAST_ENV, "CHAT_PHASE_SECONDS": "0"}) as url:
        await run_startup_probe(url, STARTUP)
        obs = await run_error_rate_probe(url, ERROR_RATE)  # one interval: 25 < 50
    assert obs.ok is None
    assert obs.message == "no data: 25 requests in the last 1m (need at least 50)"


# --------------------------------------------------------------- throughput


async def _throughput(mode: str, messages: int, rate: float) -> ProbeObservation:
    # Loss waits the timeout out; the latency bound is patient (2 s): these tests
    # judge loss and drops, and a busy two-worker machine stalled 0.5 s once.
    cfg = WEBSOCKET.model_copy(
        update={"timeout": timedelta(seconds=1), "max_event_latency": timedelta(seconds=2)}
    )
    async with run_backend(mode, env={**FAST_ENV, "CHAT_PHASE_SECONDS": "0"}) as url:
        await run_startup_probe(url, STARTUP)
        return await run_websocket_throughput(url, cfg, messages=messages, rate=rate)


async def test_throughput_without_loss_passes_with_latency_percentiles() -> None:
    obs = await _throughput("healthy", messages=100, rate=200)
    assert obs.ok is True, obs.message
    assert obs.values["events_received"] == 500 and obs.values["events_lost"] == 0
    for key in ("latency_p50_ms", "latency_p99_ms", "server_latency_p99_ms"):
        assert 0 <= obs.values[key] <= 2000
    assert obs.values["latency_p50_ms"] <= obs.values["latency_p99_ms"]


async def test_throughput_counts_every_lost_event() -> None:
    obs = await _throughput("ws-missing-event", messages=20, rate=200)
    assert obs.ok is False
    assert obs.values["events_lost"] == 20
    assert "20 of 100 events lost" in obs.message


async def test_throughput_reports_a_dropped_connection() -> None:
    obs = await _throughput("ws-drops", messages=20, rate=200)
    assert obs.ok is False
    assert obs.message.startswith("connection dropped: closed by the server (code 1011")


async def test_startup_probe_on_a_service_already_up_judges_its_phase_record() -> None:
    """Polls came too late, but the app publishes its own phase record: judged from it."""
    async with run_backend("healthy", env={"CHAT_PHASE_SECONDS": "0"}) as url:
        await asyncio.sleep(0.1)
        obs = await run_startup_probe(
            url, STARTUP, started_at=datetime.now(UTC) - timedelta(minutes=5)
        )
    assert obs.ok is True and not obs.not_observed, obs.message
    assert "order from the app's phase record: 7 phases; 0 observed by polling" in obs.message
    assert obs.values["phases_in_record"] == 7


async def test_startup_probe_on_a_service_already_up_without_a_record_has_no_verdict() -> None:
    body = b'{"status": "healthy"}'
    async with tcp_server(respond("200 OK", body)) as served:
        obs = await run_startup_probe(
            served.url, STARTUP, started_at=datetime.now(UTC) - timedelta(minutes=5)
        )
    assert obs.ok is None and not obs.final
    assert obs.not_observed  # the core replaces such a verification pod
    assert obs.message.startswith("already started when first polled: phase order not observed")
