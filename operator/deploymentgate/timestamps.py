"""Kubernetes timestamps (RFC 3339, ``2026-11-29T21:00:00Z``) as datetimes.

The API server, the status and the apps' own messages write times this way;
one parser here serves the controller, the core, the probes and the plugin.
Pure: no I/O.
"""

from __future__ import annotations

from datetime import datetime


def parse_timestamp(text: str) -> datetime:
    """The time `text` says (``Z`` is UTC); ValueError when it says none."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def read_timestamp(value: object) -> datetime | None:
    """A field that should hold a time: a datetime as it is, a string parsed, and
    None for anything else (absent, not a string, unreadable)."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        return None
    try:
        return parse_timestamp(value)
    except ValueError:
        return None
