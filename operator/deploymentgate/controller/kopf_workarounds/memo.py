"""A memo that kopf's per-object copies share.

kopf hands each watched object its own shallow copy of the operator's memo
(`copy.copy(memobase)` in kopf._core.reactor.inventory, kopf 1.45): one per
Deployment, Service, pod, Job, sign-off and gate. Ours is process-wide state
(the reconcilers, the wake-ups, the API's health), so every copy must be the
memo itself: a copy would not see the others' changes, and at 1,000 gates
there were 3,000 copies made for nothing.
"""

from __future__ import annotations

from typing import Self


class SharedMemo:
    """Mixed into the memo class: `copy.copy()` returns the memo itself."""

    def __copy__(self) -> Self:
        return self
