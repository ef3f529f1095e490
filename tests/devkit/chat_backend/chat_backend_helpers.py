"""Shared helpers for the chat backend tests: what a probe would do, bounded in time."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
from websockets.asyncio.client import ClientConnection, connect

from chat_backend.testing import run_backend

# Short durations keep every mode's story inside a few seconds.
FAST_ENV = {
    "CHAT_PHASE_SECONDS": "0.05",
    "CHAT_SLOW_PHASE_SECONDS": "0.6",
    "CHAT_FLAP_SECONDS": "0.5",
    "CHAT_HEALTHY_SECONDS": "0.6",
    "CHAT_WS_EVENT_GAP_SECONDS": "0.15",
    "POD_NAME": "chat-test-pod",
}


@asynccontextmanager
async def serving(
    mode: str, env: Mapping[str, str] = FAST_ENV, version: str = "test"
) -> AsyncIterator[tuple[str, aiohttp.ClientSession]]:
    """A real backend in this loop plus an HTTP client session: (base URL, session)."""
    backend = run_backend(mode, version=version, env=env)
    async with backend as url, aiohttp.ClientSession() as session:
        yield url, session


@dataclass(frozen=True)
class Sample:
    at: float  # monotonic, when the answer arrived
    status: int
    body: dict[str, Any]
    seconds: float  # request latency


async def get(session: aiohttp.ClientSession, url: str) -> Sample:
    started = time.monotonic()
    async with session.get(url) as response:
        body = await response.json(content_type=None)
        now = time.monotonic()
        return Sample(now, response.status, body, now - started)


async def get_text(session: aiohttp.ClientSession, url: str) -> str:
    async with session.get(url) as response:
        return await response.text()


async def poll_until(
    session: aiohttp.ClientSession,
    url: str,
    done: Callable[[Sample], bool],
    *,
    timeout: float = 10.0,
    interval: float = 0.01,
) -> list[Sample]:
    """Poll `url` like a probe; return every sample up to and including the one that is done."""
    samples: list[Sample] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sample = await get(session, url)
        samples.append(sample)
        if done(sample):
            return samples
        await asyncio.sleep(interval)
    last = samples[-1] if samples else None
    raise AssertionError(f"condition not met within {timeout}s at {url}; last: {last}")


async def wait_healthy(session: aiohttp.ClientSession, base: str, timeout: float = 10.0) -> Sample:
    healthy = await poll_until(
        session, f"{base}/health", lambda s: s.status == 200, timeout=timeout
    )
    return healthy[-1]


def ws_url(base: str) -> str:
    return base.replace("http://", "ws://", 1) + "/ws"


def open_ws(base: str) -> connect:
    return connect(ws_url(base), proxy=None, open_timeout=5, close_timeout=2)


async def recv_event(ws: ClientConnection, timeout: float = 5.0) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), timeout))
    return event


async def events_for_message(
    ws: ClientConnection, text: str, timeout: float = 5.0
) -> list[dict[str, Any]]:
    """Send one user_message and collect events up to agent_completed."""
    await ws.send(json.dumps({"type": "user_message", "text": text}))
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while not events or events[-1]["type"] != "agent_completed":
        events.append(await recv_event(ws, max(0.01, deadline - time.monotonic())))
    return events


def metric_value(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in Prometheus text format, None when absent."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        series, _, value = line.rpartition(" ")
        if series.split("{", 1)[0] != name:
            continue
        wanted = all(f'{key}="{val}"' in series for key, val in labels.items())
        if wanted:
            return float(value)
    return None
