"""What a startup/health probe sees from each mode, over time, on a real server."""

from __future__ import annotations

import asyncio
import statistics
import time

from chat_backend_helpers import FAST_ENV, Sample, get, poll_until, serving, wait_healthy

SEED_ORDER = ["INIT", "DEPENDENCIES", "DATABASE", "CACHE", "SERVICES", "WEBSOCKET", "FINALIZE"]


def phases_seen(samples: list[Sample]) -> list[str]:
    """The startup_phase values in the order they were first reported."""
    seen: list[str] = []
    for sample in samples:
        phase = sample.body.get("startup_phase")
        if sample.status == 503 and phase and (not seen or seen[-1] != phase):
            seen.append(phase)
    return seen


def status_runs(samples: list[Sample]) -> list[tuple[int, float, float]]:
    """Consecutive samples with the same status as (status, first_at, last_at)."""
    runs: list[tuple[int, float, float]] = []
    for s in samples:
        if runs and runs[-1][0] == s.status:
            runs[-1] = (s.status, runs[-1][1], s.at)
        else:
            runs.append((s.status, s.at, s.at))
    return runs


async def test_healthy_startup_walks_the_seven_phases_then_reports_healthy() -> None:
    env = {**FAST_ENV, "CHAT_PHASE_SECONDS": "0.15"}
    async with serving("healthy", env, version="1.2.3") as (url, s):
        samples = await poll_until(s, f"{url}/health", lambda x: x.status == 200)
        during, final = samples[:-1], samples[-1]
        assert during, "the server must listen while startup is still running"
        for sample in during:
            assert sample.status == 503
            assert sample.body["status"] == "unhealthy"
            assert sample.body["message"] == "Startup in progress"
            assert sample.body["startup_in_progress"] is True
            assert sample.body["startup_complete"] is False
        assert phases_seen(during) == SEED_ORDER
        startup_latencies = sorted(x.seconds for x in during)
        p90 = startup_latencies[int(len(startup_latencies) * 0.9)]
        assert p90 < 0.1, "seed §5: health answers in < 100 ms during startup"

        body = final.body
        assert body["status"] == "healthy" and body["startup_complete"] is True
        assert (body["version"], body["mode"]) == ("1.2.3", "healthy")
        assert [p["phase"] for p in body["phases"]] == SEED_ORDER
        previous_end = 0.0
        for record in body["phases"]:
            assert previous_end <= record["started_at"] <= record["completed_at"]
            assert record["completed_at"] - record["started_at"] >= 0.14
            previous_end = record["completed_at"]

        latencies = sorted([(await get(s, f"{url}/health")).seconds for _ in range(20)])
        assert statistics.median(latencies) < 0.05
        assert latencies[17] < 0.05, f"seed §5: healthy answers in < 50 ms, got {latencies}"


async def test_slow_startup_holds_the_database_phase_then_recovers() -> None:
    async with serving("slow-startup", FAST_ENV) as (url, s):
        samples = await poll_until(s, f"{url}/health", lambda x: x.status == 200)
        in_database = [x.at for x in samples if x.body.get("startup_phase") == "DATABASE"]
        assert in_database[-1] - in_database[0] >= 0.4, "DATABASE should be reported for ~0.6 s"
        records = samples[-1].body["phases"]
        phases = {p["phase"]: p["completed_at"] - p["started_at"] for p in records}
        assert phases["DATABASE"] >= 0.6
        assert set(phases) == set(SEED_ORDER)  # the others are all there to compare
        assert all(seconds < 0.5 for name, seconds in phases.items() if name != "DATABASE")


async def test_phases_out_of_order_reports_database_before_dependencies() -> None:
    env = {**FAST_ENV, "CHAT_PHASE_SECONDS": "0.15"}
    async with serving("phases-out-of-order", env) as (url, s):
        samples = await poll_until(s, f"{url}/health", lambda x: x.status == 200)
        seen = phases_seen(samples[:-1])
        assert seen.index("DATABASE") < seen.index("DEPENDENCIES")
        reported = [p["phase"] for p in samples[-1].body["phases"]]
        assert reported[:3] == ["INIT", "DATABASE", "DEPENDENCIES"]
        assert sorted(reported) == sorted(SEED_ORDER)


async def test_startup_fails_reports_failure_at_database_forever() -> None:
    async with serving("startup-fails", FAST_ENV) as (url, s):
        samples = await poll_until(s, f"{url}/health", lambda x: "startup_failed" in x.body)
        failed = samples[-1]
        assert failed.status == 503
        assert failed.body["status"] == "unhealthy"
        assert failed.body["message"] == "Startup failed"
        assert failed.body["startup_failed"] is True
        assert failed.body["startup_phase"] == "DATABASE"
        assert "Database connection failed" in failed.body["error"]
        assert all(x.status == 503 for x in samples)
        await asyncio.sleep(0.5)  # longer than all remaining phases would have taken
        later = await get(s, f"{url}/health")
        assert later.status == 503 and later.body["startup_failed"] is True
        traffic = await get(s, f"{url}/api/chat")
        assert traffic.status == 503 and traffic.body["error"] == "Startup failed"


async def test_health_flapping_alternates_between_200_and_503() -> None:
    async with serving("health-flapping", FAST_ENV) as (url, s):
        await wait_healthy(s, url)
        samples: list[Sample] = []
        deadline = time.monotonic() + 2.3
        while time.monotonic() < deadline:
            samples.append(await get(s, f"{url}/health"))
            await asyncio.sleep(0.02)
        runs = status_runs(samples)
        assert [status for status, _, _ in runs][:4] in ([200, 503, 200, 503], [503, 200, 503, 200])
        for status, first, last in runs[1:-1]:  # whole periods only
            assert 0.3 <= last - first <= 0.8, f"a {status} period lasted {last - first:.2f}s"
        unhealthy = next(x for x in samples if x.status == 503)
        assert unhealthy.body["status"] == "unhealthy" and unhealthy.body["message"]


async def test_health_fails_after_start_stays_failed() -> None:
    async with serving("health-fails-after-start") as (url, s):
        first_ok = await wait_healthy(s, url)
        samples = await poll_until(s, f"{url}/health", lambda x: x.status == 503)
        assert 0.3 <= samples[-1].at - first_ok.at <= 1.5  # healthy for ~0.6 s
        failing = samples[-1].body
        assert failing["status"] == "unhealthy" and failing["message"]
        later = [await get(s, f"{url}/health") for _ in range(5)]
        await asyncio.sleep(0.6)
        later.append(await get(s, f"{url}/health"))
        assert all(x.status == 503 for x in later)
