"""A fix to kopf's start-up with many objects (kopf 1.45, private `kopf._cogs`).

Before any handler runs, kopf waits until every watched object is indexed: one
toggle per object in a ToggleSet, and every object's worker waiting on the
set's Condition. Each toggle added or dropped called `notify_all()`, waking
every waiting worker to re-check and wait again: O(objects²) task wake-ups.
Profiled at 10,000 gates (40,000 watched objects): over half of the event
loop's time in ToggleSet.make_toggle/drop_toggle/wait_for, and not one gate
adopted after 9 minutes. Waiters only wait for the set's aggregate state
(`is_on()`), so adding or dropping a toggle need wake them only when that
state flips; a toggle that turns itself on or off still notifies as before.

It replaces two methods of a private kopf class and reads its private fields
(`_condition`, `_toggles`): tests/controller/test_controller_kopf_internals.py fails
when kopf's ToggleSet or Toggle no longer has the shape this fix expects.
"""

from __future__ import annotations

import logging
from typing import Any

from kopf._cogs.aiokits.aiotoggles import Toggle, ToggleSet

log = logging.getLogger(__name__)
PATCHED = ("make_toggle", "drop_toggle")
# kopf's own methods, as imported (before `apply()`): what the fix replaces.
ORIGINALS: dict[str, Any] = {name: getattr(ToggleSet, name, None) for name in PATCHED}


async def _make_toggle(self: ToggleSet, __val: bool = False, *, name: str | None = None) -> Toggle:
    toggle = Toggle(__val, name=name, condition=self._condition)
    async with self._condition:
        before = self.is_on()
        self._toggles.add(toggle)
        if self.is_on() != before:
            self._condition.notify_all()
    return toggle


async def _drop_toggle(self: ToggleSet, toggle: Toggle) -> None:
    async with self._condition:
        before = self.is_on()
        self._toggles.discard(toggle)
        if self.is_on() != before:
            self._condition.notify_all()


def apply() -> None:
    """Patch kopf's ToggleSet, only if it still looks as this fix expects."""
    if not all(hasattr(ToggleSet, a) for a in (*PATCHED, "is_on")):
        log.warning("kopf's ToggleSet changed; its start-up fix is not applied")
        return
    ToggleSet.make_toggle = _make_toggle  # type: ignore[method-assign]
    ToggleSet.drop_toggle = _drop_toggle  # type: ignore[method-assign]
