"""Turn a spec that fails validation into the one-line answer a user needs.

The thin layer passes the result to `decide` as `Observations.spec_error`;
it becomes the gate's status message and an InvalidSpec Event, so it must
name the field as the user wrote it (camelCase, from `spec.`).
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from deploymentgate.models import GateSpec, parse_spec

MAX_ERRORS = 3


def read_spec(raw: dict[str, Any] | None) -> tuple[GateSpec | None, str | None]:
    """(spec, None) when valid, else (None, message naming the field)."""
    try:
        return parse_spec(raw or {}), None
    except ValidationError as exc:
        return None, describe(exc)


def describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:MAX_ERRORS]:
        where = "spec" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        parts.append(f"{where}: {message}")
    more = len(exc.errors()) - MAX_ERRORS
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts)
