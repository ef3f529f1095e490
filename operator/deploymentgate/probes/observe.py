"""Small helpers every probe uses to build its ProbeObservation."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from deploymentgate.observations import ProbeKind, ProbeObservation
from deploymentgate.probes.urls import redact


def now_utc() -> datetime:
    return datetime.now(UTC)


def observation(
    kind: ProbeKind,
    ok: bool | None,
    message: str,
    *,
    target: str,
    revision: str | None,
    final: bool = False,
    values: dict[str, float] | None = None,
    details: dict[str, Any] | None = None,
) -> ProbeObservation:
    """Every message and detail leaves through here, so all of it is redacted."""
    return ProbeObservation(
        kind=kind,
        ok=ok,
        message=redact(message),
        at=now_utc(),
        target=redact(target),
        revision=revision,
        final=final,
        values={k: round(float(v), 3) for k, v in (values or {}).items()},
        details=_redact_tree(details or {}),
    )


def _redact_tree(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {str(k): _redact_tree(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_tree(v) for v in value]
    return value


def parse_json_object(body: bytes) -> tuple[dict[str, Any] | None, str]:
    """(object, "") or (None, why not) — never raises on hostile bytes."""
    try:
        parsed = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        return None, "body is not UTF-8 text"
    except ValueError as exc:
        return None, f"body is not valid JSON ({exc})"
    if not isinstance(parsed, dict):
        return None, f"body is JSON but not an object (got {type(parsed).__name__})"
    return parsed, ""


def clip(text: str, limit: int = 160) -> str:
    """Server-provided text quoted in a message: one line, bounded, redacted."""
    flat = " ".join(str(text).split())
    flat = redact(flat)
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
