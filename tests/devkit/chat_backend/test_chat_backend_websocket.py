"""What a WebSocket probe sees from each mode: events, order, timing, drops."""

from __future__ import annotations

import asyncio
import itertools
import json
import time

import pytest
from chat_backend_helpers import (
    FAST_ENV,
    events_for_message,
    get,
    get_text,
    metric_value,
    open_ws,
    recv_event,
    serving,
    wait_healthy,
)
from websockets.exceptions import ConnectionClosedError, InvalidStatus

AGENT_EVENTS = [
    "agent_started", "agent_thinking", "tool_executing", "tool_completed", "agent_completed"
]  # fmt: skip


async def test_healthy_socket_sends_the_five_agent_events_in_order() -> None:
    async with serving("healthy", version="2.0.0") as (url, s):
        await wait_healthy(s, url)
        async with open_ws(url) as ws:
            hello = await recv_event(ws)
            assert hello["type"] == "connection_established" and hello["version"] == "2.0.0"
            before = time.time()
            first = await events_for_message(ws, "hello there")
            second = await events_for_message(ws, "and again")
        for events in (first, second):
            assert [e["type"] for e in events] == AGENT_EVENTS
            assert len({e["message_id"] for e in events}) == 1
            assert all(e["version"] == "2.0.0" for e in events)
        assert first[0]["message_id"] != second[0]["message_id"]
        seqs = [e["seq"] for e in [hello, *first, *second]]
        assert seqs == list(range(seqs[0], seqs[0] + 11)), "seq counts every frame on the socket"
        stamps = [e["ts"] for e in first + second]
        assert before <= stamps[0] and stamps == sorted(stamps)
        assert first[-1]["text"] == "You said: hello there"
        metrics = await get_text(s, f"{url}/metrics")
        assert metric_value(metrics, "chat_ws_events_total", event="tool_completed") == 2
        assert metric_value(metrics, "chat_ws_events_total", event="connection_established") == 1
        assert metric_value(metrics, "chat_http_requests_total", path="/ws", code="101") == 1


async def test_client_message_id_is_echoed_and_tool_failure_sends_an_error_event() -> None:
    async with serving("healthy") as (url, s):
        await wait_healthy(s, url)
        async with open_ws(url) as ws:
            await recv_event(ws)
            await ws.send(json.dumps({"type": "user_message", "text": "x", "message_id": "abc"}))
            events = [await recv_event(ws) for _ in range(5)]
            assert {e["message_id"] for e in events} == {"abc"}
            failed = await events_for_message(ws, "please fail tool now")
        kinds = [e["type"] for e in failed]
        assert kinds == [
            "agent_started", "agent_thinking", "tool_executing", "error", "agent_completed"
        ]  # fmt: skip
        assert failed[3]["error"]


@pytest.mark.parametrize("frame", ["not json {", '{"type": "subscribe"}', '["user_message"]'])
async def test_bad_frames_get_an_error_event_and_the_socket_stays_open(frame: str) -> None:
    async with serving("healthy") as (url, s):
        await wait_healthy(s, url)
        async with open_ws(url) as ws:
            await recv_event(ws)
            await ws.send(frame)
            error = await recv_event(ws)
            assert error["type"] == "error" and error["error"]
            events = await events_for_message(ws, "still there?")
            assert [e["type"] for e in events] == AGENT_EVENTS


async def test_socket_is_refused_until_the_websocket_phase_completes() -> None:
    env = {**FAST_ENV, "CHAT_PHASE_SECONDS": "0.2"}
    async with serving("healthy", env) as (url, s):
        with pytest.raises(InvalidStatus) as refused:
            async with open_ws(url):
                pass
        assert refused.value.response.status_code == 503
        assert b"WebSocket not ready" in refused.value.response.body
        assert (await get(s, f"{url}/health")).body["startup_in_progress"] is True
        deadline = time.monotonic() + 5
        while True:  # the upgrade is accepted once WEBSOCKET completes (before FINALIZE)
            try:
                async with open_ws(url) as ws:
                    assert (await recv_event(ws))["type"] == "connection_established"
                    break
            except InvalidStatus:
                assert time.monotonic() < deadline, "socket never became available"
                await asyncio.sleep(0.02)
        phases = {p["phase"]: p for p in (await get(s, f"{url}/health")).body["phases"]}
        assert phases["WEBSOCKET"]["completed_at"] is not None, "accepted before WEBSOCKET ended"


async def test_socket_is_refused_forever_when_startup_failed() -> None:
    async with serving("startup-fails") as (url, s):
        failed = await get(s, f"{url}/health")
        deadline = time.monotonic() + 5
        while "startup_failed" not in failed.body and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
            failed = await get(s, f"{url}/health")
        with pytest.raises(InvalidStatus) as refused:
            async with open_ws(url):
                pass
        assert refused.value.response.status_code == 503


async def test_missing_event_mode_never_sends_tool_completed() -> None:
    async with serving("ws-missing-event") as (url, s):
        await wait_healthy(s, url)
        async with open_ws(url) as ws:
            await recv_event(ws)
            events = await events_for_message(ws, "hi")
        assert [e["type"] for e in events] == [
            "agent_started", "agent_thinking", "tool_executing", "agent_completed"
        ]  # fmt: skip


async def test_slow_events_mode_spaces_every_event_over_100ms() -> None:
    async with serving("ws-slow-events") as (url, s):
        await wait_healthy(s, url)
        async with open_ws(url) as ws:
            await recv_event(ws)
            sent = time.time()
            events = await events_for_message(ws, "hi")
        text = await get_text(s, f"{url}/metrics")
        assert [e["type"] for e in events] == AGENT_EVENTS
        stamps = [sent, *(e["ts"] for e in events)]
        gaps = [later - earlier for earlier, later in itertools.pairwise(stamps)]
        assert all(gap > 0.1 for gap in gaps), gaps
        # Each gap is in the event-latency histogram, none under 100 ms.
        bucket = "chat_ws_event_latency_seconds_bucket"
        assert metric_value(text, bucket, le="0.1") == 0.0
        assert metric_value(text, "chat_ws_event_latency_seconds_count") == len(AGENT_EVENTS)


async def test_drops_mode_closes_abnormally_after_agent_thinking_on_every_connection() -> None:
    async with serving("ws-drops") as (url, s):
        await wait_healthy(s, url)
        for _ in range(2):  # a reconnect is accepted and drops again
            received = []
            async with open_ws(url) as ws:
                received.append(await recv_event(ws))
                await ws.send(json.dumps({"type": "user_message", "text": "hi"}))
                with pytest.raises(ConnectionClosedError) as closed:
                    while True:
                        received.append(await recv_event(ws))
            assert [e["type"] for e in received] == [
                "connection_established", "agent_started", "agent_thinking"
            ]  # fmt: skip
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1011


async def test_one_connection_carries_over_1000_events_per_second_without_loss() -> None:
    messages = 600
    async with serving("healthy") as (url, s):
        await wait_healthy(s, url)
        async with open_ws(url) as ws:
            await recv_event(ws)
            started = time.monotonic()

            async def send_all() -> None:
                for i in range(messages):
                    await ws.send(json.dumps({"type": "user_message", "text": f"m{i}"}))

            sender = asyncio.create_task(send_all())
            events = [await recv_event(ws) for _ in range(messages * 5)]
            elapsed = time.monotonic() - started
            await sender
        assert [e["seq"] for e in events] == list(range(1, messages * 5 + 1))
        assert [e["type"] for e in events] == AGENT_EVENTS * messages
        replies = [e["text"] for e in events if e["type"] == "agent_completed"]
        assert replies == [f"You said: m{i}" for i in range(messages)]
        rate = len(events) / elapsed
        assert rate >= 1000, f"only {rate:.0f} events/s"
        metrics = await get_text(s, f"{url}/metrics")
        assert metric_value(metrics, "chat_ws_events_total", event="agent_started") == messages
