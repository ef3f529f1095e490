"""The hand-back on deletion: traffic goes back to the user's Deployment
before a gate goes away (kopf keeps the finalizer until this handler is done).

Its own retry loop, with the loop's backoff (controller/attempts.py): a
failed hand-back is retried here rather than by kopf, which would log an
error every second for what is a normal, short wait."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any

import kopf

from deploymentgate.controller import attempts
from deploymentgate.controller.backoff import Backoff
from deploymentgate.controller.indexes import world_of
from deploymentgate.controller.registry import GATES, registry
from deploymentgate.controller.scheduling import forget, reconciler_of
from deploymentgate.k8s.api import Conflict

HAND_BACK_WAIT = 60.0  # seconds a deletion waits for the stable pods before retrying


@kopf.on.delete(*GATES, registry=registry)
async def gate_deleted(
    body: kopf.Body,
    namespace: str | None,
    name: str,
    memo: Any,
    **kwargs: Any,
) -> None:
    """Hand traffic back to the user's Deployment before the gate goes away.

    Waits here (bounded) rather than failing and retrying, which kopf would log
    as an error every second for what is a normal, short hand-back.
    """
    ns = namespace or ""
    reconciler = reconciler_of(memo, ns, name)
    deadline = asyncio.get_running_loop().time() + HAND_BACK_WAIT
    gate: Mapping[str, Any] | None = body
    backoff = Backoff()
    wakeup = memo.wakeups.setdefault((ns, name), asyncio.Event())
    while True:
        wakeup.clear()
        delay = memo.options.tick
        try:
            if gate is None:  # this handler's body is a snapshot: read it afresh
                gate = await memo.api.get_gate(ns, name)
            decision = await reconciler.reconcile(gate, world_of(kwargs), deleting=True)
            if decision.deletion_complete:
                break
        except Conflict:
            memo.metrics.reconcile_failed("conflict")
        except Exception as exc:  # retried below with backoff, as a pass of the loop would
            memo.metrics.reconcile_failed(type(exc).__name__)
            delay = max(delay, attempts.failed(memo, backoff, "hand-back", ns, name, exc))
        else:
            attempts.passed(memo, backoff, "hand-back", ns, name)
        # Past the wait, kopf retries the handler; not while the API server is
        # gone (kopf could not record the retry either): waiting here is quieter.
        past = asyncio.get_running_loop().time() > deadline
        if past and memo.api_health.reachable:
            raise kopf.TemporaryError("still handing traffic back to the Deployment", delay=5)
        await _wait(delay, wakeup)
        gate = None
    attempts.passed(memo, backoff, "hand-back", ns, name)
    await reconciler.aclose()
    forget(memo, ns, name)
    memo.wakeups.pop((ns, name), None)
    memo.woken_by.pop((ns, name), None)
    memo.metrics.forget(ns, name)


async def _wait(delay: float, wakeup: asyncio.Event) -> None:
    """`delay` seconds, or less if the gate is woken (e.g. the API server is back)."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(wakeup.wait(), delay)
