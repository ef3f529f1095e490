"""kopf's start-up barrier (one toggle per watched object) with the patch of
controller.kopf_workarounds.toggles: workers still wait until the last object is indexed,
but adding or dropping a toggle no longer wakes every waiter."""

from __future__ import annotations

import asyncio

from kopf._cogs.aiokits.aiotoggles import ToggleSet

from deploymentgate.controller import kopf_workarounds

OBJECTS = 500


async def test_waiters_are_released_by_the_last_toggle_and_woken_only_then() -> None:
    kopf_workarounds.apply()
    indexed = ToggleSet(all)
    toggles = [await indexed.make_toggle(name=f"object-{i}") for i in range(OBJECTS)]
    wakeups = 0
    original = indexed.is_on

    def counted() -> bool:
        nonlocal wakeups
        wakeups += 1
        return original()

    waiters = [asyncio.create_task(indexed.wait_for(True)) for _ in range(OBJECTS)]
    await asyncio.sleep(0)
    indexed.is_on = counted  # type: ignore[method-assign]
    for toggle in toggles[:-1]:  # objects indexed one by one, workers running between
        await indexed.drop_toggle(toggle)
        await asyncio.sleep(0)
    await asyncio.sleep(0.01)
    assert not any(w.done() for w in waiters), "a worker started before every object was indexed"
    await indexed.drop_toggle(toggles[-1])
    await asyncio.wait_for(asyncio.gather(*waiters), timeout=5)
    # Unpatched: every drop woke all 500 waiters (~250,000 checks); now each
    # drop checks the aggregate twice and the waiters wake once.
    assert wakeups < 4 * OBJECTS + OBJECTS, wakeups
