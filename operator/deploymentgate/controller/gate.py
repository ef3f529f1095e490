"""The gate as one pass sees it, parsed once at the pass's entry.

`GateReconciler.reconcile` (and through it the deletion path) turns the raw
body into a `Gate`; everything below takes the `Gate` or the fields it needs,
never the body, so nothing parses the same gate twice or reads a field the
entry did not name.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from deploymentgate.controller.identity import GateIdentity
from deploymentgate.controller.routers import adapter_for
from deploymentgate.core import read_spec
from deploymentgate.core.commands import commands_of
from deploymentgate.models import GateSpec, GateStatus, parse_status
from deploymentgate.timestamps import read_timestamp

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Gate:
    """One pass's gate: who it is, its spec (or why it is invalid), its status,
    and the few raw pieces the pass still needs."""

    me: GateIdentity
    spec: GateSpec | None
    spec_error: str | None  # why `spec` is None: the first bad field
    status: GateStatus
    stored_status: Mapping[str, Any]  # status as stored: what the patch is computed against
    resource_version: str | None  # the status write's conflict check
    generation: int | None = None
    created: datetime | None = None
    deletion_timestamp: datetime | None = None
    commands: Mapping[str, str] = field(default_factory=dict)  # request annotations, raw
    api_version: str | None = None  # as the body says: the Events' involvedObject
    kind: str | None = None


def parse_gate(body: Mapping[str, Any]) -> Gate:
    """Parse a gate's body, read or handed over by kopf (a missing spec or status
    reads as empty, as a kopf body shows it)."""
    meta = dict(body.get("metadata") or {})
    raw_spec = dict(body.get("spec") or {})
    stored = dict(body.get("status") or {})
    spec, error = spec_error(raw_spec)
    version = meta.get("resourceVersion")
    return Gate(
        me=identity({"metadata": meta, "spec": raw_spec}),
        spec=spec,
        spec_error=error,
        status=parse_status_safe(stored),
        stored_status=stored,
        resource_version=str(version) if version is not None else None,
        generation=meta.get("generation"),
        created=read_timestamp(meta.get("creationTimestamp")),
        deletion_timestamp=read_timestamp(meta.get("deletionTimestamp")),
        commands=commands_of(meta.get("annotations")),
        api_version=body.get("apiVersion"),
        kind=body.get("kind"),
    )


def identity(gate: Mapping[str, Any]) -> GateIdentity:
    """Who the gate is, from its raw body (only `metadata` and `spec` are read)."""
    meta = gate.get("metadata") or {}
    spec = gate.get("spec") or {}
    ref = spec.get("targetRef") if isinstance(spec, Mapping) else None
    target = ref.get("name") if isinstance(ref, Mapping) else None
    service = spec.get("service") if isinstance(spec, Mapping) else None
    traffic = spec.get("traffic") if isinstance(spec, Mapping) else None
    traffic = traffic if isinstance(traffic, Mapping) else {}
    router = traffic.get("router")
    router = router if isinstance(router, str) else None
    namespace = str(meta.get("namespace") or "")
    service = service if isinstance(service, str) and service else None
    adapter = adapter_for(router)
    return GateIdentity(
        namespace=namespace,
        name=str(meta.get("name") or ""),
        uid=str(meta.get("uid") or ""),
        target=target if isinstance(target, str) and target else None,
        service=service,
        router=router,
        traffic=(
            adapter.identity(traffic, namespace=namespace, service=service) if adapter else None
        ),
    )


def spec_error(raw: Any) -> tuple[GateSpec | None, str | None]:
    """Validate the spec; on failure, a message naming the first bad field."""
    if not isinstance(raw, dict):
        return None, "spec: missing"
    return read_spec(raw)


def parse_status_safe(raw: Any) -> GateStatus:
    """A status we cannot read is treated as empty rather than crashing the loop."""
    try:
        return parse_status(raw if isinstance(raw, dict) else None)
    except ValidationError as exc:
        log.warning("ignoring unreadable status: %s", exc.errors()[:1])
        return GateStatus()


__all__ = ["Gate", "GateIdentity", "identity", "parse_gate", "parse_status_safe", "spec_error"]
