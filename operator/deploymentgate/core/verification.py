"""Verdicts on the revision under test: which probes run, what verification
still waits for, and what a failed probe does (roll back, freeze or block).

The phase handlers in `phases` ask these rules; they hold no state of their own.
"""

from __future__ import annotations

from datetime import datetime

from deploymentgate.core.actions import Reason
from deploymentgate.core.probe_state import fold, get, unwatched_startups
from deploymentgate.core.run import Run, ready_of
from deploymentgate.core.templates import images
from deploymentgate.core.triggers import Fired, due, fired
from deploymentgate.models import Phase, ProbesStatus, ProbeStatus, RollbackAction, Trigger
from deploymentgate.observations import ProbeKind
from deploymentgate.probe_kinds import descriptor, kinds, runnable

VERIFY_REPLICAS = 1
# Verification pods replaced, per revision, because their first startup phases
# went unseen; then the gate blocks (startupUnobserved) instead of looping.
MAX_UNWATCHED_RESTARTS = 3
_AT_ZERO = (Phase.VERIFYING, Phase.AWAITING_APPROVAL)  # no user traffic on the revision


def configured(run: Run, *, verification: bool) -> list[ProbeKind]:
    """Probes that run against the new pods, in run order; during verification
    only those a kind runs at 0% traffic (a Prometheus error rate would measure
    the stable revision, so it waits for traffic)."""
    spec = run.gate_spec
    return [
        kind.kind for kind in runnable(spec) if not verification or kind.at_zero(kind.section(spec))
    ]


def verified_by(run: Run) -> list[str]:
    """What verification at 0% traffic checks, as the Verifying message names it:
    the probes that run then, and the kinds the operator runs itself (the smoke Job)."""
    spec, at_zero = run.gate_spec, set(configured(run, verification=True))
    return [
        kind.named
        for kind in kinds()
        if kind.kind in at_zero or (not kind.runs and kind.section(spec) is not None)
    ]


def _gated(run: Run, *, verification: bool) -> list[ProbeKind]:
    """Configured kinds that must pass (and keep passing while traffic moves)."""
    return [k for k in configured(run, verification=verification) if descriptor(k).gated]


def watch_probes(run: Run) -> bool:
    """Fold new probe results; roll back (True) if a trigger fired."""
    st, spec = run.status, run.gate_spec
    revision = st.revision or ""
    folded = fold(st.probes, run.obs.probes, revision, spec)
    run.set(probes=folded.probes)
    for flip in folded.flips:
        kind = flip.kind.value
        if flip.ok:
            run.event(
                Reason.PROBE_PASSED, f"{kind} probe passed for revision {revision}: {flip.message}"
            )
        else:
            run.event(
                Reason.PROBE_FAILED,
                f"{kind} probe failed for revision {revision}: {flip.message}",
                warning=True,
            )
    reason = fired(spec, folded.probes, folded.finals, run.now, at_zero=st.phase in _AT_ZERO)
    if reason is None:
        for when in due(spec, folded.probes):
            run.wake_at(when)
        return False
    reject(run, reason)
    return True


def restart_unwatched(run: Run, unfolded: ProbesStatus) -> bool:
    """Replace a verification pod whose first startup phases nobody watched.

    E.g. the operator restarted mid-verification, or its watch lagged: that
    pod's first phases can never be seen, and a sequence with unseen first
    phases is never a pass. A new pod is probed from the moment it has an
    address (before its app listens), so one replacement almost always
    suffices. Bounded: after MAX_UNWATCHED_RESTARTS replacements of one
    revision the gate blocks (trigger startupUnobserved) and says why, so an
    app that never reports its phases cannot loop until progressDeadline.
    """
    st, spec = run.status, run.gate_spec
    startup = st.probes.startup
    if st.revision is None or not spec.probes.startup or (startup and startup.ok is True):
        return False
    pods = unwatched_startups(unfolded, run.obs.probes, st.revision)
    if not pods:
        return False
    restarts = startup.restarts if startup else 0
    if restarts >= MAX_UNWATCHED_RESTARTS:
        block(
            run,
            f"startup phases of revision {st.revision} not observed from the first phase in"
            f" {restarts + 1} verification pods ({(startup.message if startup else '')});"
            " the app must answer 503 with startup_phase from its first phase",
            Trigger.STARTUP_UNOBSERVED,
        )
        return True
    counted = (startup or ProbeStatus()).model_copy(update={"restarts": restarts + 1})
    run.set(probes=st.probes.model_copy(update={"startup": counted}))
    message = (
        f"startup of {', '.join(pods)} (revision {st.revision}) was not watched from its first"
        f" phase (e.g. the operator restarted); replacing {spec.target_ref.name}-verify"
        f" ({restarts + 1}/{MAX_UNWATCHED_RESTARTS}) so that the new pod's phases are observed"
        " from its start"
    )
    run.replace_verification = True
    run.say(message)
    run.remember(Reason.VERIFICATION_RESTARTED, message)
    run.event(Reason.VERIFICATION_RESTARTED, message)
    return True


def reject(run: Run, fire: Fired) -> None:
    st, spec = run.status, run.gate_spec
    reason = fire.reason
    if spec.rollback.action is RollbackAction.FREEZE:
        message = (
            f"revision {st.revision} failed: {reason}; traffic frozen at {st.canary_weight}%"
            " (rollback.action=freeze)"
        )
        run.set(frozen=True, rollback_reason=reason, rollback_trigger=fire.trigger)
        run.transition(Phase.BLOCKED, Reason.FROZEN, message)
        run.event(Reason.FROZEN, message, warning=True)
        return
    roll_back(run, reason, fire.trigger)


def roll_back(run: Run, reason: str, trigger: Trigger, cause: Reason = Reason.ROLLED_BACK) -> None:
    """The revision under test leaves at once; all traffic back on the stable one
    (also out of a freeze: `cause` Aborted is a person's call)."""
    st = run.status
    if run.watching():
        revert_after_promotion(run, reason, trigger, cause)
        return
    message = (
        f"revision {st.revision} rolled back: {reason};"
        f" all traffic back on stable revision {st.stable_revision}"
    )
    run.set(
        rollback_reason=reason,
        rollback_trigger=trigger,
        frozen=False,
        canary_weight=0,
        step=None,
        step_since=None,
        step_ready_since=None,
    )
    run.transition(Phase.ROLLED_BACK, cause, message)
    run.event(Reason.ROLLED_BACK, message, warning=True)


def revert_after_promotion(run: Run, reason: str, trigger: Trigger, cause: Reason) -> None:
    """A trigger (or `kubectl gate abort`) during the watch after promotion: the
    previous revision, whose pods ran on out of traffic, is stable again and takes
    all traffic back; the promoted one leaves once those pods serve."""
    st = run.status
    previous = st.previous_revision
    template = run.obs.serving_of(previous).template
    message = (
        f"revision {st.revision} reverted after promotion: {reason}; all traffic back on"
        f" revision {previous}, whose pods ran on since the promotion"
    )
    run.set(
        stable_revision=previous,
        stable_images=images(template),
        previous_revision=None,
        watch_until=None,
        rollback_reason=reason,
        rollback_trigger=trigger,
        frozen=False,
        canary_weight=0,
        step=None,
        step_since=None,
        step_ready_since=None,
    )
    how = Reason.REVERTED_AFTER_PROMOTION if cause is Reason.ROLLED_BACK else cause
    run.transition(Phase.ROLLED_BACK, how, message)
    run.event(Reason.REVERTED_AFTER_PROMOTION, message, warning=True)


def block(run: Run, reason: str, trigger: Trigger = Trigger.PROGRESS_DEADLINE) -> None:
    """No progress in time: traffic back on stable, a human must look."""
    message = f"blocked: {reason}; traffic back on stable revision {run.status.stable_revision}"
    run.set(
        rollback_reason=reason,
        rollback_trigger=trigger,
        canary_weight=0,
        step=None,
        step_since=None,
        step_ready_since=None,
    )
    run.transition(Phase.BLOCKED, Reason.BLOCKED, message)
    run.event(Reason.BLOCKED, message, warning=True)


def verification_pending(run: Run) -> list[str]:
    """What verification still waits for; empty when the revision is verified.

    Startup must pass first; health and WebSocket passes count only from
    then on (before it, the app answers 503 by design).
    """
    st = run.status
    out = []
    ready = ready_of(run.obs.verification, st.revision)
    if ready < VERIFY_REPLICAS:
        out.append(f"verification pod ready ({ready}/{VERIFY_REPLICAS})")
    started = None
    for kind in configured(run, verification=True):
        if not descriptor(kind).first:
            continue
        result = get(st.probes, kind)
        if result is None or result.ok is not True:
            out.append(f"{kind.value} probe ({_last(result)})")
        else:
            started = result.last_success
    for kind in _gated(run, verification=True):
        result = get(st.probes, kind)
        if result is None or result.ok is not True:
            out.append(f"{kind.value} probe ({_last(result)})")
        elif started and result.last_success and result.last_success < started:
            out.append(f"{kind.value} probe (a pass after startup completed)")
    return out


def failing_now(run: Run) -> list[str]:
    out = []
    for kind in _gated(run, verification=False):
        result = get(run.status.probes, kind)
        if result and result.ok is False:
            out.append(f"{kind.value} probe failing ({result.message})")
    return out


def unconfirmed_since(run: Run, since: datetime) -> list[str]:
    """Gated probes without a pass during this step: no data is not a pass."""
    out = []
    for kind in _gated(run, verification=False):
        result = get(run.status.probes, kind)
        if result is not None and not descriptor(kind).judging(result):
            continue  # nothing to judge now (metric checks: each acting one skipped)
        last = result.last_success if result else None
        if last is None or last < since:
            # Without data, say why (a missing template, an empty query): it is what to fix.
            why = f": {result.message}" if result and result.ok is None and result.message else ""
            out.append(f"{kind.value} probe (no pass during this step yet){why}")
    return out


def _last(result: ProbeStatus | None) -> str:
    return (result.message if result else "") or "no result yet"
