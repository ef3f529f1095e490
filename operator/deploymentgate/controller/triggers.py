"""A short, fixed label for the trigger behind a rollback (metric cardinality)."""

from __future__ import annotations

TRIGGER_LABELS = (
    ("startup", "startupFailed"),
    ("health", "healthFailing"),
    ("websocket", "websocketFailing"),
    ("error rate", "errorRate"),
    ("errorrate", "errorRate"),
)


def trigger_label(reason: str | None) -> str:
    text = (reason or "").lower()
    for needle, label in TRIGGER_LABELS:
        if needle in text:
            return label
    return "other"
