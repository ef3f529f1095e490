"""Rollback triggers (seed §9): when a revision under test must be reverted.

- startup failed (rollback.onStartupFailure)
- health failing continuously for rollback.healthFailingFor
- WebSocket events not flowing (probe failing) for rollback.websocketSilentFor
- error rate over rollback.errorRate.threshold (the probe says so only with
  enough requests; "no data" never fires and never passes)
- any result marked `final`: waiting cannot cure it
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from deploymentgate.core.probe_state import FinalFailure
from deploymentgate.durations import format_duration
from deploymentgate.models import GateSpec, ProbesStatus
from deploymentgate.observations import ProbeKind


def fired(
    spec: GateSpec, probes: ProbesStatus, finals: Sequence[FinalFailure], now: datetime
) -> str | None:
    """The reason to roll back now, or None."""
    rollback = spec.rollback
    for final in finals:
        if final.kind is ProbeKind.STARTUP and not rollback.on_startup_failure:
            continue
        return f"{final.kind.value} probe failed: {final.message}"
    startup, health, websocket = probes.startup, probes.health, probes.websocket
    if spec.probes.startup and rollback.on_startup_failure and startup and startup.ok is False:
        return f"startup failed: {startup.message}"
    if (
        spec.probes.health
        and health
        and health.failing_since
        and now - health.failing_since >= rollback.health_failing_for
    ):
        return (
            f"health failing for {format_duration(rollback.health_failing_for)}"
            f" or longer: {health.message}"
        )
    if (
        spec.probes.websocket
        and websocket
        and websocket.failing_since
        and now - websocket.failing_since >= rollback.websocket_silent_for
    ):
        return (
            "WebSocket events not flowing for"
            f" {format_duration(rollback.websocket_silent_for)} or longer: {websocket.message}"
        )
    if rollback.error_rate and probes.error_rate and probes.error_rate.ok is False:
        return f"error rate over {rollback.error_rate.threshold:g}%: {probes.error_rate.message}"
    return None


def due(spec: GateSpec, probes: ProbesStatus) -> list[datetime]:
    """When a failure already under way will fire if nothing changes."""
    out: list[datetime] = []
    if spec.probes.health and probes.health and probes.health.failing_since:
        out.append(probes.health.failing_since + spec.rollback.health_failing_for)
    if spec.probes.websocket and probes.websocket and probes.websocket.failing_since:
        out.append(probes.websocket.failing_since + spec.rollback.websocket_silent_for)
    return out
