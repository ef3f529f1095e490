"""An event wakes exactly the gates that looked at its object (by key)."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from deploymentgate.controller.context import OperatorContext


def context() -> OperatorContext:
    return OperatorContext(options=cast(Any, None), metrics=cast(Any, None), api=cast(Any, None))


async def test_wake_interested_reaches_only_the_gates_that_looked() -> None:
    ctx = context()
    a, b = ("shop", "a"), ("shop", "b")
    events = {gate: ctx.wakeups.setdefault(gate, asyncio.Event()) for gate in (a, b)}
    ctx.set_interest(a, [("deployment", "shop", "chat"), ("service", "shop", "chat")])
    ctx.set_interest(b, [("deployment", "shop", "mail")])

    ctx.wake_interested("deployment", "shop", "chat")
    assert events[a].is_set() and not events[b].is_set()
    events[a].clear()

    ctx.wake_interested("service", "shop", "chat", besides=a)  # a's own change
    assert not events[a].is_set()

    ctx.set_interest(a, [("deployment", "shop", "mail")])  # a looks elsewhere now
    ctx.wake_interested("service", "shop", "chat")
    assert not events[a].is_set()
    ctx.wake_interested("deployment", "shop", "mail")
    assert events[a].is_set() and events[b].is_set()

    ctx.set_interest(a, ())
    ctx.set_interest(b, ())
    assert ctx.interested == {} and ctx.interests == {}


async def test_a_woken_gate_says_what_woke_it_first_and_only_once() -> None:
    ctx = context()
    gate = ("shop", "chat")
    event = ctx.wakeups.setdefault(gate, asyncio.Event())
    ctx.set_interest(gate, [("service", "shop", "chat")])

    ctx.wake_interested("service", "shop", "chat")
    ctx.wake(*gate, "approval")  # while still set: the first cause stands
    assert event.is_set()
    assert ctx.cause_of_wake(gate) == "service"
    assert ctx.cause_of_wake(gate) == "other"  # said once

    event.clear()
    ctx.wake_interested("service", "shop", "chat", cause="claim")
    assert ctx.cause_of_wake(gate) == "claim"
    ctx.wake(*("shop", "nobody"), "gate")  # a gate with no loop: nothing recorded
    assert ctx.woken_by == {}
