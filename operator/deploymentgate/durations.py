"""Durations (``30s``, ``5m``, ``1h30m``, ``250ms``) and percentages (``"5%"``).

Kubernetes users write these as strings; the rules of the gate want numbers.
One parser here keeps the CRD pattern, the models and the CLI in agreement.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta

# Also used verbatim as the CRD's `pattern` for duration fields.
DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"
PERCENT_PATTERN = r"^[0-9]+(\.[0-9]+)?%$"

_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
# Longer than any field allows (each has its own maximum), short enough that
# `timedelta` and date arithmetic on it never overflow: a value past it is a
# ValueError (so a validation message), never an OverflowError.
LONGEST_SECONDS = 10 * 365 * 24 * 3600.0


def parse_duration(value: object) -> timedelta:
    """Accept ``"1m30s"``, a number of seconds, or a timedelta.

    Anything unusable, however large, is a ValueError naming the value.
    """
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"not a duration: {value!r} (a number of seconds, at least 0)")
        return _bounded(float(value), value)
    if not isinstance(value, str) or not re.fullmatch(DURATION_PATTERN, value.strip()):
        raise ValueError(
            f"not a duration: {value!r} (use a number with a unit, e.g. 250ms, 30s, 5m, 1h)"
        )
    seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in _PART.findall(value.strip()))
    return _bounded(seconds, value)


def _bounded(seconds: float, written: object) -> timedelta:
    if not seconds <= LONGEST_SECONDS:  # also catches inf and nan
        raise DurationTooLong(written)
    return timedelta(seconds=seconds)


class DurationTooLong(ValueError):
    """Longer than any field allows; the field's own maximum names the limit."""

    def __init__(self, written: object) -> None:
        super().__init__(f"duration too long: {written}")
        self.written = written


def format_duration(value: timedelta) -> str:
    """Shortest exact spelling: ``timedelta(seconds=90)`` -> ``"1m30s"``."""
    total_ms = round(value.total_seconds() * 1000)
    if total_ms == 0:
        return "0s"
    if total_ms % 1000:
        return f"{total_ms}ms"
    seconds = total_ms // 1000
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    out = ""
    if hours:
        out += f"{hours}h"
    if minutes:
        out += f"{minutes}m"
    if secs:
        out += f"{secs}s"
    return out


def parse_percent(value: object) -> float:
    """Accept ``"5%"`` or a plain number of percent; return percent (0..100)."""
    if isinstance(value, bool):
        raise ValueError(f"not a percentage: {value!r}")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str) and re.fullmatch(PERCENT_PATTERN, value.strip()):
        number = float(value.strip()[:-1])
    else:
        raise ValueError(f'not a percentage: {value!r} (write it like "5%")')
    if not 0.0 <= number <= 100.0:
        raise ValueError(f"percentage out of range 0-100: {value!r}")
    return number


def format_percent(value: float) -> str:
    return f"{value:g}%"
