"""Every way the operator works around kopf's behaviour, in one place.

Written for and tested with kopf 1.45 (pyproject.toml allows 1.45.x only);
tests/controller/test_controller_kopf_internals.py fails, naming the kopf internal,
when one they rely on changes shape. Each module says why it exists:

- `toggles`: kopf's start-up barrier woke every waiting worker per indexed
  object (O(objects²)); patches the private `kopf._cogs...ToggleSet`.
- `diffbase`: no diff-base annotation written on every gate (`NoDiffBase`).
- `memo`: kopf's per-object copies of the memo are the memo itself (`SharedMemo`).
- `session`: kopf's HTTP session over a bounded connection pool (`bounded`).
- `log_filters`: kopf's per-attempt retry lines during an API outage, and its
  per-object success lines, left out of the log (`KopfRetryFilter`,
  `KopfSuccessFilter`).
"""

from __future__ import annotations

from deploymentgate.controller.kopf_workarounds import toggles
from deploymentgate.controller.kopf_workarounds.diffbase import NoDiffBase
from deploymentgate.controller.kopf_workarounds.log_filters import (
    KopfRetryFilter,
    KopfSuccessFilter,
)
from deploymentgate.controller.kopf_workarounds.memo import SharedMemo
from deploymentgate.controller.kopf_workarounds.session import bounded, connection_limit

KOPF_SERIES = "1.45"  # the kopf release series these were written for and tested with

__all__ = [
    "KOPF_SERIES",
    "KopfRetryFilter",
    "KopfSuccessFilter",
    "NoDiffBase",
    "SharedMemo",
    "apply",
    "bounded",
    "connection_limit",
]


def apply() -> None:
    """Patch kopf in place (its start-up barrier): once, before `kopf.operator()`."""
    toggles.apply()
