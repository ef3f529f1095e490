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
from deploymentgate.models import GateSpec, ProbesStatus, Trigger
from deploymentgate.probe_kinds import Stage, descriptor, kinds, result


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
    """The trigger to act on now, or None. `at_zero`: no user traffic on the revision.

    Each kind's rules (deploymentgate.probe_kinds) are checked stage by stage, and within
    a stage in run order: the first that fires wins.
    """
    for final in finals:
        kind = descriptor(final.kind)
        if not kind.final_fires(spec):
            continue
        assert kind.trigger is not None, f"{kind.kind.value} has final failures but no trigger"
        return Fired(kind.trigger, f"{final.kind.value} probe failed: {final.message}")
    rules = sorted(
        (
            (rule.stage, order, kind, rule)
            for order, kind in enumerate(kinds())
            for rule in kind.rules
        ),
        key=lambda item: (item[0], item[1]),
    )
    for stage, _, kind, rule in rules:
        if stage is Stage.AT_ZERO and not at_zero:
            continue
        section, last = kind.section(spec), result(probes, kind.kind)
        if section is None or last is None:
            continue
        reason = rule.fire(spec, section, last, now)
        if reason is not None:
            assert kind.trigger is not None, f"{kind.kind.value} has rules but no trigger"
            return Fired(kind.trigger, reason)
    return None


def due(spec: GateSpec, probes: ProbesStatus) -> list[datetime]:
    """When a failure already under way will fire if nothing changes."""
    out: list[datetime] = []
    for kind in kinds():
        section, last = kind.section(spec), result(probes, kind.kind)
        if section is None or last is None:
            continue
        for rule in kind.rules:
            when = rule.due(spec, last) if rule.due else None
            if when is not None:
                out.append(when)
    return out
