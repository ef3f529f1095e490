"""Conditions and the bounded history.

Conditions are derived from the phase on every reconcile; a condition's
lastTransitionTime moves only when its status flips, so tools that wait on
conditions (`kubectl wait --for=condition=Ready`) see real transitions.

Ready / Progressing / Verified / Degraded say where the rollout stands.
Reconciling and Stalled follow kstatus' conventions (abnormal-true), which
Flux's health checks read: Reconciling while a revision is adopted,
verified, signed off, stepped or promoted (in progress), Stalled once it is
rolled back, blocked or the gate is invalid (failed: no waiting will help).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from deploymentgate.models import HISTORY_LIMIT, Condition, GateStatus, HistoryEntry, Phase

ConditionStatus = Literal["True", "False", "Unknown"]

_ROLLING = {
    Phase.INITIALIZING,
    Phase.VERIFYING,
    Phase.AWAITING_APPROVAL,
    Phase.PROGRESSING,
    Phase.PROMOTING,
}
_FAILED = {Phase.ROLLED_BACK, Phase.BLOCKED, Phase.INVALID}
_VERIFIED = {Phase.AWAITING_APPROVAL, Phase.PROGRESSING, Phase.PROMOTING, Phase.PROMOTED}


def derive(status: GateStatus, now: datetime) -> list[Condition]:
    phase = status.phase
    reason = phase.value if phase else "Unknown"
    message = status.message
    wanted: list[tuple[str, ConditionStatus, str]] = [
        ("Ready", _flag(phase in (Phase.IDLE, Phase.PROMOTED)), reason),
        ("Progressing", _flag(phase in _ROLLING), reason),
        _verified(status),
        ("Degraded", _flag(phase in _FAILED), reason),
        ("Reconciling", _flag(phase in _ROLLING), reason),
        ("Stalled", _flag(phase in _FAILED), reason),
    ]
    old = {c.type: c for c in status.conditions}
    out = []
    for kind, value, why in wanted:
        previous = old.get(kind)
        since = previous.last_transition_time if previous and previous.status == value else now
        out.append(
            Condition(
                type=kind, status=value, reason=why, message=message, last_transition_time=since
            )
        )
    return out


def _flag(value: bool) -> ConditionStatus:
    return "True" if value else "False"


def _verified(status: GateStatus) -> tuple[str, ConditionStatus, str]:
    phase = status.phase
    if phase in _VERIFIED:
        return ("Verified", "True", "Verified")
    if phase is Phase.IDLE:
        return ("Verified", "True", "StableRevision")
    if phase is Phase.VERIFYING:
        return ("Verified", "Unknown", "Verifying")
    if phase in (Phase.ROLLED_BACK, Phase.BLOCKED) and status.rollback_reason:
        return ("Verified", "False", phase.value)
    return ("Verified", "Unknown", phase.value if phase else "Unknown")


def appended(history: list[HistoryEntry], entry: HistoryEntry) -> list[HistoryEntry]:
    """`history` plus `entry`, keeping the newest HISTORY_LIMIT entries."""
    return [*history, entry][-HISTORY_LIMIT:]
