"""What a notification says: the transitions worth telling someone about,
and the two wire forms (a Slack-compatible message and a plain JSON record).

Pure: no I/O, no clock. Built from the status before and after one
reconcile pass, so a transition is found the same way however the pass got
there, and a pass that changes nothing yields nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from deploymentgate.core.actions import Reason
from deploymentgate.models import GateStatus, HistoryEntry, Phase, ProbeStatus
from deploymentgate.probe_kinds import kinds, result

# Phases someone should hear about: a human is needed, or a rollout ended.
NOTIFY_PHASES = frozenset(
    {Phase.AWAITING_APPROVAL, Phase.PROMOTED, Phase.ROLLED_BACK, Phase.BLOCKED}
)
# Phases whose status.rollbackReason says why (a trigger, a deadline, a freeze).
REJECTED = frozenset({Phase.ROLLED_BACK, Phase.BLOCKED})
PAYLOAD_KIND = "DeploymentGateTransition"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # a phase with no recorded start (none today)
# Slack refuses a section text over 3000 characters and a field over 2000.
SLACK_TEXT_LIMIT, SLACK_FIELD_LIMIT = 2900, 1900
EMOJI = {
    Phase.AWAITING_APPROVAL: ":raised_hand:",
    Phase.PROMOTED: ":white_check_mark:",
    Phase.ROLLED_BACK: ":rewind:",
    Phase.BLOCKED: ":no_entry:",
}


@dataclass(frozen=True)
class Transition:
    """One phase entered by one gate, with what the status knew at that moment."""

    namespace: str
    gate: str
    phase: Phase
    previous_phase: Phase | None
    reason: str
    message: str
    time: datetime
    revision: str | None = None
    stable_revision: str | None = None
    images: tuple[str, ...] = ()
    canary_weight: int = 0
    rollback_reason: str | None = None
    probes: dict[str, ProbeStatus] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.gate}"


@dataclass(frozen=True)
class Step:
    """A history entry that is not a phase change (a traffic step, a restart)."""

    namespace: str
    gate: str
    phase: Phase
    reason: str
    message: str
    revision: str | None
    time: datetime


def _new_entries(before: GateStatus, after: GateStatus) -> list[HistoryEntry]:
    """History entries this pass added (the history is bounded, so compare values)."""
    old = before.history
    return [entry for entry in after.history if entry not in old]


def _probes(status: GateStatus) -> dict[str, ProbeStatus]:
    out: dict[str, ProbeStatus] = {}
    for kind in kinds():
        probe = result(status.probes, kind.kind)
        if probe is not None:
            out[kind.kind.value] = probe
    return out


def changes(
    namespace: str, gate: str, before: GateStatus, after: GateStatus
) -> list[Transition | Step]:
    """Every phase change and step one pass made, in order.

    Read off the history the pass appended; a phase set without a history
    entry (none today) still counts, from the status itself.
    """
    out: list[Transition | Step] = []
    current = before.phase
    for entry in _new_entries(before, after):
        if entry.phase != current:
            out.append(_transition(namespace, gate, after, entry, current))
            current = entry.phase
        else:
            out.append(
                Step(
                    namespace,
                    gate,
                    entry.phase,
                    entry.reason,
                    entry.message,
                    entry.revision,
                    entry.time,
                )
            )
    if after.phase is not None and after.phase != current:
        entry = HistoryEntry(
            time=after.phase_since or EPOCH,
            revision=after.revision,
            phase=after.phase,
            reason=after.phase.value,
            message=after.message,
        )
        out.append(_transition(namespace, gate, after, entry, current))
    return out


def _transition(
    namespace: str, gate: str, after: GateStatus, entry: HistoryEntry, previous: Phase | None
) -> Transition:
    return Transition(
        namespace=namespace,
        gate=gate,
        phase=entry.phase,
        previous_phase=previous,
        reason=entry.reason,
        message=entry.message,
        time=entry.time,
        revision=entry.revision or after.revision,
        stable_revision=after.stable_revision,
        images=tuple(after.images),
        canary_weight=after.canary_weight,
        rollback_reason=after.rollback_reason if entry.phase in REJECTED else None,
        probes=_probes(after),
    )


def notifications(
    namespace: str, gate: str, before: GateStatus, after: GateStatus
) -> list[Transition]:
    """The transitions of one pass that are worth a message."""
    return [
        c
        for c in changes(namespace, gate, before, after)
        if isinstance(c, Transition) and c.phase in NOTIFY_PHASES
    ]


# ------------------------------------------------------------- wire forms


def _probe_json(probe: ProbeStatus) -> dict[str, Any]:
    return {"ok": probe.ok, "message": probe.message, "values": dict(probe.values)}


def json_payload(t: Transition) -> dict[str, Any]:
    """The generic webhook body: flat, stable field names, the probe numbers as measured."""
    return {
        "kind": PAYLOAD_KIND,
        "gate": t.gate,
        "namespace": t.namespace,
        "phase": t.phase.value,
        "previousPhase": t.previous_phase.value if t.previous_phase else None,
        "reason": t.reason,
        "message": t.message,
        "rollbackReason": t.rollback_reason,
        "revision": t.revision,
        "stableRevision": t.stable_revision,
        "images": list(t.images),
        "canaryWeight": t.canary_weight,
        "time": t.time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "probes": {name: _probe_json(p) for name, p in t.probes.items()},
    }


def phase_text(t: Transition) -> str:
    """The phase entered, saying so when a rollback came after the promotion (the
    revision had served every user: a worse news than a rollback mid-rollout)."""
    if t.reason == Reason.REVERTED_AFTER_PROMOTION.value:
        return f"{t.phase.value} (reverted after promotion)"
    return t.phase.value


def headline(t: Transition) -> str:
    """One line a human reads first (Slack's notification text, the log)."""
    revision = f" revision {t.revision}" if t.revision else ""
    why = t.rollback_reason or t.message
    return f"DeploymentGate {t.key}: {phase_text(t)}{revision}" + (f": {why}" if why else "")


def _number(value: float) -> str:
    return f"{value:g}"


def probe_line(name: str, probe: ProbeStatus) -> str:
    verdict = "no data" if probe.ok is None else ("passed" if probe.ok else "failed")
    numbers = ", ".join(f"{k} {_number(v)}" for k, v in sorted(probe.values.items()))
    return f"{name}: {verdict}" + (f" ({numbers})" if numbers else "")


def _clip(text: str, limit: int = SLACK_TEXT_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def slack_payload(t: Transition) -> dict[str, Any]:
    """A Slack incoming-webhook message: `text` for notifications, `blocks` for the channel."""
    fields = [
        f"*Gate*\n{t.key}",
        f"*Phase*\n{t.previous_phase.value if t.previous_phase else '-'} → {phase_text(t)}",
        f"*Revision*\n{t.revision or '-'}",
        f"*Traffic on it*\n{t.canary_weight}%",
    ]
    if t.images:
        fields.append("*Images*\n" + ", ".join(t.images))
    if t.rollback_reason:
        fields.append(f"*Rollback reason*\n{t.rollback_reason}")
    blocks: list[dict[str, Any]] = [
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": _clip(f"{EMOJI.get(t.phase, '')} *{t.key}: {phase_text(t)}*\n{t.message}"),
            },
        },
        {
            "type": "section",
            "fields": [{"type": "mrkdwn", "text": _clip(f, SLACK_FIELD_LIMIT)} for f in fields],
        },
    ]
    if t.probes:
        lines = "\n".join(probe_line(name, p) for name, p in t.probes.items())
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": _clip(lines)}]})
    return {"text": headline(t), "blocks": blocks}
