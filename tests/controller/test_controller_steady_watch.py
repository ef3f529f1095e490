"""The steady watch's verdict per round: any failing pod makes it 0, all passing
make it 1, no answer leaves it as it was, and a rollout beginning drops it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from deploymentgate.controller.steady import SteadyWatch
from deploymentgate.metrics import GateMetrics
from deploymentgate.observations import ProbeKind, ProbeObservation

HEALTH = ProbeKind.HEALTH


def verdict(metrics: GateMetrics) -> float | None:
    return metrics.registry.get_sample_value(
        "deploymentgate_stable_check_success",
        {"namespace": "prod", "gate": "chat", "probe": "health"},
    )


async def one_round(watch: SteadyWatch, answers: list[bool | None]) -> None:
    """Run the watch's loop for one round whose pods answered `answers`."""

    async def round_of(kind: ProbeKind) -> bool | None:
        for ok in answers:
            watch._record(ProbeObservation(kind, ok, "", datetime.now(UTC)), 0.01)
        return None if not answers else all(a is not False for a in answers)

    watch._round = round_of  # type: ignore[method-assign]
    task = asyncio.create_task(watch._rounds(HEALTH, 60.0))
    await asyncio.sleep(0.05)
    task.cancel()


async def test_one_failing_pod_fails_the_round_and_all_passing_pass_it() -> None:
    metrics = GateMetrics()
    watch = SteadyWatch("prod", "chat", metrics)
    await one_round(watch, [True, False, True])
    assert verdict(metrics) == 0.0
    await one_round(watch, [True, True])
    assert verdict(metrics) == 1.0
    await one_round(watch, [None, None])  # no answer: no news
    assert verdict(metrics) == 1.0
    await one_round(watch, [])  # no ready pod
    assert verdict(metrics) == 1.0


async def test_a_rollout_beginning_drops_the_last_verdict() -> None:
    metrics = GateMetrics()
    watch = SteadyWatch("prod", "chat", metrics)
    await one_round(watch, [False])
    assert verdict(metrics) == 0.0
    metrics.forget_stable_checks("prod", "chat", [HEALTH])
    assert verdict(metrics) is None
