"""Rollback triggers (seed §9): when a revision under test must be reverted.

- startup failed (rollback.onStartupFailure)
- at 0% traffic (Verifying, AwaitingApproval): `failureThreshold` consecutive
  failed runs of the health or WebSocket probe. Nobody is served by such a
  revision, so waiting minutes would only keep the team waiting; like Argo
  Rollouts' analysis, a deterministic failure is rejected after a few runs.
- under user traffic: health failing continuously for rollback.healthFailingFor,
  WebSocket events not flowing for rollback.websocketSilentFor (the durations
  also stay a backstop at 0%)
- error rate over rollback.errorRate.threshold (the probe says so only with
  enough requests; "no data" never fires and never passes)
- any result marked `final`: waiting cannot cure it

`fired` returns a typed `Fired`: the `Trigger` goes into `status.rollbackTrigger`
(metric label, Event reason), the text into the message.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from deploymentgate.core.probe_state import FinalFailure
from deploymentgate.durations import format_duration
from deploymentgate.models import GateSpec, ProbesStatus, ProbeStatus, Trigger
from deploymentgate.observations import ProbeKind

_KIND_TRIGGER = {
    ProbeKind.STARTUP: Trigger.STARTUP_FAILED,
    ProbeKind.HEALTH: Trigger.HEALTH_FAILING,
    ProbeKind.WEBSOCKET: Trigger.WEBSOCKET_FAILING,
    ProbeKind.ERROR_RATE: Trigger.ERROR_RATE,
}


@dataclass(frozen=True)
class Fired:
    """A trigger that fired, and why in words."""

    trigger: Trigger
    reason: str

    def __str__(self) -> str:
        return self.reason


def fired(
    spec: GateSpec,
    probes: ProbesStatus,
    finals: Sequence[FinalFailure],
    now: datetime,
    *,
    at_zero: bool = False,
) -> Fired | None:
    """The trigger to act on now, or None. `at_zero`: no user traffic on the revision."""
    rollback = spec.rollback
    for final in finals:
        if final.kind is ProbeKind.STARTUP and not rollback.on_startup_failure:
            continue
        return Fired(_KIND_TRIGGER[final.kind], f"{final.kind.value} probe failed: {final.message}")
    startup, health, websocket = probes.startup, probes.health, probes.websocket
    if spec.probes.startup and rollback.on_startup_failure and startup and startup.ok is False:
        return Fired(Trigger.STARTUP_FAILED, f"startup failed: {startup.message}")
    if at_zero:
        for kind, cfg, result in (
            (ProbeKind.HEALTH, spec.probes.health, health),
            (ProbeKind.WEBSOCKET, spec.probes.websocket, websocket),
        ):
            if cfg is not None and _failed_runs(result) >= cfg.failure_threshold:
                assert result is not None
                return Fired(
                    _KIND_TRIGGER[kind],
                    f"{kind.value} probe failed {result.consecutive_failures} consecutive runs"
                    f" at 0% traffic (failureThreshold {cfg.failure_threshold}): {result.message}",
                )
    if (
        spec.probes.health
        and health
        and health.failing_since
        and now - health.failing_since >= rollback.health_failing_for
    ):
        return Fired(
            Trigger.HEALTH_FAILING,
            f"health failing for {format_duration(rollback.health_failing_for)}"
            f" or longer: {health.message}",
        )
    if (
        spec.probes.websocket
        and websocket
        and websocket.failing_since
        and now - websocket.failing_since >= rollback.websocket_silent_for
    ):
        return Fired(
            Trigger.WEBSOCKET_FAILING,
            "WebSocket events not flowing for"
            f" {format_duration(rollback.websocket_silent_for)} or longer: {websocket.message}",
        )
    if rollback.error_rate and probes.error_rate and probes.error_rate.ok is False:
        return Fired(
            Trigger.ERROR_RATE,
            f"error rate over {rollback.error_rate.threshold:g}%: {probes.error_rate.message}",
        )
    return None


def _failed_runs(result: ProbeStatus | None) -> int:
    return result.consecutive_failures if result is not None and result.ok is False else 0


def due(spec: GateSpec, probes: ProbesStatus) -> list[datetime]:
    """When a failure already under way will fire if nothing changes."""
    out: list[datetime] = []
    if spec.probes.health and probes.health and probes.health.failing_since:
        out.append(probes.health.failing_since + spec.rollback.health_failing_for)
    if spec.probes.websocket and probes.websocket and probes.websocket.failing_since:
        out.append(probes.websocket.failing_since + spec.rollback.websocket_silent_for)
    return out
