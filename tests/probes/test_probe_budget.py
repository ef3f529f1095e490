"""The global probe budget (issue 13 item 2): fair across gates.

Three gates each asking for 1,000 error-rate requests per interval must not
make another gate's latency-bound health probe (default 50 ms) fail: bulk
requests are paced by a small fair pool, and a latency-bound request waits
for a connection slot before, not during, its measured time.
"""

from __future__ import annotations

import asyncio
import statistics

from chat_backend.testing import backend_process
from deploymentgate.models import ErrorRate, HealthProbe
from deploymentgate.observations import ProbeObservation
from deploymentgate.probes import new_window, run_health_probe, send_probe_traffic
from deploymentgate.probes.budget import FairLimiter, ProbeBudget, budget, owner_scope
from deploymentgate.probes.error_window import ErrorRateWindow
from deploymentgate.probes.observe import now_utc


async def test_a_freed_slot_goes_to_the_next_gate_in_turn_not_the_greediest() -> None:
    limiter = FairLimiter(capacity=2, per_owner=2)
    order: list[str] = []
    release = asyncio.Event()

    async def use(owner: str) -> None:
        async with limiter.slot(owner):
            order.append(owner)
            await release.wait()

    greedy = [asyncio.create_task(use("greedy")) for _ in range(10)]
    await asyncio.sleep(0)
    light = asyncio.create_task(use("light"))
    await asyncio.sleep(0)
    assert order == ["greedy", "greedy"] and limiter.waiting("greedy") == 8
    assert limiter.waiting("light") == 1

    release.set()  # both greedy holders finish: one slot each way, in turn
    await asyncio.sleep(0.01)
    await asyncio.gather(*greedy, light)

    assert order[2] == "light", order  # served at the first release, ahead of 8 queued
    assert limiter.in_use == 0 and limiter.peak == 2


async def test_a_gate_holds_at_most_its_share_and_cancelled_waiters_give_back() -> None:
    limiter = FairLimiter(capacity=4, per_owner=1)
    hold = asyncio.Event()

    async def use(owner: str) -> None:
        async with limiter.slot(owner):
            await hold.wait()

    first = asyncio.create_task(use("a"))
    queued = asyncio.create_task(use("a"))
    other = asyncio.create_task(use("b"))
    await asyncio.sleep(0)
    assert limiter.in_use == 2 and limiter.waiting("a") == 1

    queued.cancel()
    await asyncio.gather(queued, return_exceptions=True)
    assert limiter.waiting() == 0
    hold.set()
    await asyncio.gather(first, other)
    assert limiter.in_use == 0


async def health_runs(url: str, n: int = 20) -> list[ProbeObservation]:
    out = []
    with owner_scope("other/chat"):
        for _ in range(n):
            out.append(await run_health_probe(url, HealthProbe()))
            await asyncio.sleep(0.1)
    return out


def summary(results: list[ProbeObservation]) -> tuple[int, float]:
    latencies = [r.values.get("latency_ms", 10_000.0) for r in results]
    return sum(1 for r in results if r.ok), statistics.median(latencies)


async def test_bulk_traffic_of_other_gates_does_not_fail_a_latency_bound_probe() -> None:
    pools = budget()  # this test's loop has a fresh one
    env = {"CHAT_PHASE_SECONDS": "0"}
    with backend_process("healthy", env=env) as heavy, backend_process("healthy", env=env) as fast:
        quiet = summary(await health_runs(fast.url))
        cfg = ErrorRate(path="/health", requests_per_interval=1000, min_requests=1)
        windows: list[ErrorRateWindow] = []

        async def greedy_gate(owner: str) -> None:
            with owner_scope(owner):
                window = new_window(cfg)
                windows.append(window)
                await asyncio.gather(
                    *(send_probe_traffic(heavy.url, cfg, window) for _ in range(4))
                )

        gates = [asyncio.create_task(greedy_gate(f"team-{n}/chat")) for n in range(3)]
        await asyncio.sleep(0.5)
        loaded_results = await health_runs(fast.url)
        assert not any(g.done() for g in gates)  # the load lasted the whole measurement
        for gate in gates:
            gate.cancel()
        await asyncio.gather(*gates, return_exceptions=True)

    loaded = summary(loaded_results)
    # Without the budget, 0 of 20 passed here (465 ms to 1.6 s). The machine is
    # shared, so the bar is the same probe's record with no bulk traffic at all:
    # at least half of it (CI's two cores, shared with a cluster test, lost 6 of
    # 19 runs to 55-106 ms answers once; never one to a queue behind the bulk).
    assert loaded[0] >= quiet[0] // 2, (quiet, [r.message for r in loaded_results])
    assert loaded[1] <= 2 * quiet[1] + 15.0, (quiet, loaded)
    assert pools.bulk.peak >= 1 and pools.bulk.waiting() == 0
    assert sum(w.reading(now_utc()).requests for w in windows) >= 20  # the load was real


async def test_each_event_loop_has_its_own_bounded_budget() -> None:
    """A slot's delayed release lives on its loop: a budget never outlives it."""
    pools = budget()
    assert budget() is pools
    assert pools.bulk.capacity < pools.connections.capacity
    assert pools.bulk.min_hold > 0
    async with pools.bulk.slot("gate"):
        pass  # released 0.1 s later, on this loop
    other = await asyncio.to_thread(lambda: asyncio.run(_loop_budget()))
    assert other is not pools and other.bulk.in_use == 0


async def _loop_budget() -> ProbeBudget:
    return budget()
