"""Benchmark of the probes (not part of the test suite).

1. WebSocket throughput: ~1,000 events/s for 10 s (200 messages/s × 5 events)
   over one connection to a healthy chat backend; zero loss expected, p50/p99
   latency client-measured and against the server's own `ts` stamps.
2. Health probe overhead: `run_health_probe` (fresh hardened client, bounded
   read, checks) against a bare httpx GET, both fresh-client and keep-alive.

The backend runs as a separate process so it does not share the probe's
event loop. Run: ``.venv/bin/python bench/probes/bench_probes.py``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from datetime import timedelta
from typing import Any

import httpx

from chat_backend.testing import backend_process
from deploymentgate.models import HealthProbe, WebSocketProbe
from deploymentgate.probes import run_health_probe, run_websocket_throughput
from deploymentgate.probes.websocket_throughput import percentile


async def websocket_throughput(url: str, seconds: float, rate: float) -> dict[str, Any]:
    cfg = WebSocketProbe(timeout=timedelta(seconds=10))
    obs = await run_websocket_throughput(url, cfg, messages=int(seconds * rate), rate=rate)
    return {"ok": obs.ok, "message": obs.message, **obs.values}


async def health_overhead(url: str, runs: int) -> dict[str, Any]:
    cfg = HealthProbe(max_latency=timedelta(seconds=1))
    health = f"{url}/health"

    async def probe() -> None:
        obs = await run_health_probe(url, cfg)
        assert obs.ok, obs.message

    async def bare_fresh() -> None:
        async with httpx.AsyncClient(trust_env=False) as client:
            (await client.get(health)).raise_for_status()

    keep_alive = httpx.AsyncClient(trust_env=False)

    async def bare_keep_alive() -> None:
        (await keep_alive.get(health)).raise_for_status()

    results: dict[str, Any] = {}
    try:
        for name, call in (
            ("bare_httpx_keepalive", bare_keep_alive),
            ("bare_httpx_fresh_client", bare_fresh),
            ("health_probe", probe),
        ):
            for _ in range(20):  # warm-up
                await call()
            samples = []
            for _ in range(runs):
                started = time.perf_counter()
                await call()
                samples.append((time.perf_counter() - started) * 1000)
            results[name] = {
                "median_ms": round(statistics.median(samples), 3),
                "p99_ms": round(percentile(samples, 99), 3),
            }
    finally:
        await keep_alive.aclose()
    results["probe_overhead_vs_fresh_client_ms"] = round(
        results["health_probe"]["median_ms"] - results["bare_httpx_fresh_client"]["median_ms"], 3
    )
    results["probe_overhead_vs_keepalive_ms"] = round(
        results["health_probe"]["median_ms"] - results["bare_httpx_keepalive"]["median_ms"], 3
    )
    return results


async def main(args: argparse.Namespace) -> dict[str, Any]:
    with backend_process("healthy", env={"CHAT_PHASE_SECONDS": "0"}) as backend:
        await asyncio.sleep(0.2)
        return {
            "websocket": await websocket_throughput(backend.url, args.seconds, args.rate),
            "health": await health_overhead(backend.url, args.runs),
        }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="throughput run length")
    parser.add_argument("--rate", type=float, default=200.0, help="messages per second")
    parser.add_argument("--runs", type=int, default=300, help="health requests per variant")
    report = asyncio.run(main(parser.parse_args()))
    print(json.dumps(report, indent=2))
