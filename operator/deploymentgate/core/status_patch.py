"""The status write as a JSON merge patch (RFC 7386).

A merge patch leaves keys it does not mention alone, and the wire form drops
None values: without explicit nulls, a cleared `failingSince` or
`rollbackReason` would silently survive the write and fire a rollback later.
"""

from __future__ import annotations

from typing import Any

from deploymentgate.models import GateStatus, dump


def status_patch(old: GateStatus, new: GateStatus) -> dict[str, Any] | None:
    """The merge patch turning `old`'s wire form into `new`'s; None if equal."""
    diff = _diff(dump(old), dump(new))
    return diff or None


def _diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {key: None for key in old if key not in new}
    for key, value in new.items():
        before = old.get(key)
        if isinstance(value, dict) and isinstance(before, dict):
            nested = _diff(before, value)
            if nested:
                out[key] = nested
        elif value != before or key not in old:
            out[key] = value
    return out
