"""One loop per gate (a kopf daemon): a pass, then sleep until the next tick,
a wake-up from an index, or the operator stopping.

How long a gate sleeps depends on what its pass left: a rollout in flight
ticks every `--tick`, a settled gate sleeps until woken (see RESYNC), a failed
pass backs off (controller/attempts.py)."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import kopf

from deploymentgate.controller import attempts
from deploymentgate.controller.backoff import Backoff
from deploymentgate.controller.context import OperatorContext
from deploymentgate.controller.indexes import world_of
from deploymentgate.controller.reconcile import GateReconciler
from deploymentgate.controller.registry import GATES, registry
from deploymentgate.controller.signoffs import policy_reader
from deploymentgate.k8s.api import Conflict
from deploymentgate.models import Phase

ACTIVE = {Phase.VERIFYING, Phase.PROGRESSING, Phase.PROMOTING, Phase.AWAITING_APPROVAL}
# A settled gate (nothing in flight, no time-based rule due) sleeps until an
# index wakes it: a change to an object it looked at, to its own spec, or to a
# gate it requires. It looks again on its own only every RESYNC seconds
# (jittered, so 10,000 gates do not tick together), a safety net for what no
# watch reports (the admission policy's state) and for a wake-up lost to a
# watch that lagged. A gate that reads routes live (router gatewayAPI) looks
# every IDLE_TICK, so a team's change to its HTTPRoute is seen within seconds.
IDLE_TICK = 10.0
RESYNC = 300.0


def reconciler_of(memo: OperatorContext, namespace: str, name: str) -> GateReconciler:
    """The gate's reconciler, made on first use: its loop and its hand-back share it."""
    key = (namespace, name)
    if key not in memo.reconcilers:
        memo.reconcilers[key] = GateReconciler(
            namespace,
            name,
            memo.api,
            memo.metrics,
            policy=policy_reader(memo.api),
            notifier=memo.notifier,
            steady_interval=memo.options.steady_interval,
        )
    return memo.reconcilers[key]


def forget(memo: OperatorContext, namespace: str, name: str) -> None:
    """Drop the gate's reconciler and what it looked at: no index wakes it any more."""
    memo.reconcilers.pop((namespace, name), None)
    memo.set_interest((namespace, name), ())


@kopf.daemon(*GATES, registry=registry, cancellation_timeout=10)
async def gate_loop(
    stopped: kopf.DaemonStopped,
    body: kopf.Body,
    namespace: str | None,
    name: str,
    memo: Any,
    **kwargs: Any,
) -> None:
    ns = namespace or ""
    reconciler = reconciler_of(memo, ns, name)
    wakeup = memo.wakeups.setdefault((ns, name), asyncio.Event())
    tick = memo.options.tick
    backoff = Backoff()
    cause = "start"
    while not stopped:
        wakeup.clear()
        delay, timer = IDLE_TICK, "unwatched-tick"
        try:
            sign_offs = tuple(kwargs["approvals_idx"].get((ns, name), ()))
            async with memo.passes:
                decision = await reconciler.reconcile(body, world_of(kwargs), sign_offs=sign_offs)
            memo.metrics.reconciled(cause)
            delay, timer = _settled_delay(reconciler, tick)
            if decision.status.phase in ACTIVE or decision.operations:
                delay, timer = tick, "tick"
            if decision.requeue_after is not None:
                requeue = max(decision.requeue_after.total_seconds(), 0.05)
                if requeue < delay:
                    delay, timer = requeue, "requeue"
        except Conflict:
            memo.metrics.reconcile_failed("conflict")
            delay, timer = tick, "retry"
        except Exception as exc:  # never let one gate's trouble stop its loop
            memo.metrics.reconcile_failed(type(exc).__name__)
            delay = max(tick, attempts.failed(memo, backoff, "reconcile", ns, name, exc, body))
            timer = "retry"
        else:
            attempts.passed(memo, backoff, "reconcile", ns, name)
        memo.set_interest((ns, name), reconciler.interest())
        await _sleep(delay, wakeup, stopped)
        if stopped:
            break
        cause = memo.cause_of_wake((ns, name)) if wakeup.is_set() else timer
    if stopped.reason is not None and stopped.reason & kopf.DaemonStoppingReason.RESOURCE_DELETED:
        return  # the deletion handler hands traffic back with this reconciler
    await reconciler.aclose()
    forget(memo, ns, name)


def _settled_delay(reconciler: GateReconciler, tick: float) -> tuple[float, str]:
    """How long a gate with nothing in flight sleeps unless woken (see RESYNC),
    and the name of that timer.

    A pass that wrote the status is followed by another (which may act on
    it): a gate settles only once a pass changes nothing."""
    if reconciler.wrote_status:
        return tick, "after-write"
    if reconciler.reads_unwatched:
        return IDLE_TICK, "unwatched-tick"
    return RESYNC * random.uniform(0.8, 1.2), "resync"


async def _sleep(delay: float, wakeup: asyncio.Event, stopped: kopf.DaemonStopped) -> None:
    """Until the next tick, an event worth a look, or the operator stopping."""
    waiters = [
        asyncio.ensure_future(wakeup.wait()),
        asyncio.ensure_future(stopped.wait()),
    ]
    try:
        await asyncio.wait(waiters, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
