"""Verdicts on the revision under test: which probes run, what verification
still waits for, and what a failed probe does (roll back, freeze or block).

The phase handlers in `phases` ask these rules; they hold no state of their own.
"""

from __future__ import annotations

from datetime import datetime

from deploymentgate.core.actions import Reason
from deploymentgate.core.probe_state import fold, get, unwatched_startups
from deploymentgate.core.run import Run, ready_of
from deploymentgate.core.triggers import due, fired
from deploymentgate.models import Phase, ProbesStatus, ProbeStatus, RollbackAction
from deploymentgate.observations import ProbeKind

VERIFY_REPLICAS = 1
_GATED = (ProbeKind.HEALTH, ProbeKind.WEBSOCKET)  # must keep passing while traffic moves


def configured(run: Run, *, verification: bool) -> list[ProbeKind]:
    """Probes that run against the new pods; at 0% traffic a Prometheus
    error rate would measure the stable revision, so it waits for traffic."""
    spec = run.gate_spec
    kinds = []
    if spec.probes.startup:
        kinds.append(ProbeKind.STARTUP)
    if spec.probes.health:
        kinds.append(ProbeKind.HEALTH)
    if spec.probes.websocket:
        kinds.append(ProbeKind.WEBSOCKET)
    rate = spec.rollback.error_rate
    if rate and not (verification and rate.source == "prometheus"):
        kinds.append(ProbeKind.ERROR_RATE)
    return kinds


def watch_probes(run: Run) -> bool:
    """Fold new probe results; roll back (True) if a trigger fired."""
    st, spec = run.status, run.gate_spec
    revision = st.revision or ""
    folded = fold(st.probes, run.obs.probes, revision)
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
    reason = fired(spec, folded.probes, folded.finals, run.now)
    if reason is None:
        for when in due(spec, folded.probes):
            run.wake_at(when)
        return False
    reject(run, reason)
    return True


def restart_unwatched(run: Run, unfolded: ProbesStatus) -> bool:
    """Replace a verification pod that finished starting while nobody watched.

    E.g. the operator restarted mid-verification: that pod's phases can never
    be seen, so its startup probe reports no data until the deadline. A new
    pod is watched from its start. The deadline keeps running, so a pod that
    always starts too fast to be watched ends Blocked rather than in a loop.
    """
    st, spec = run.status, run.gate_spec
    startup = st.probes.startup
    if st.revision is None or not spec.probes.startup or (startup and startup.ok is True):
        return False
    pods = unwatched_startups(unfolded, run.obs.probes, st.revision)
    if not pods:
        return False
    message = (
        f"startup of {', '.join(pods)} (revision {st.revision}) finished before it was watched"
        f" (e.g. the operator restarted); replacing {spec.target_ref.name}-verify so that"
        " the new pod's phases are observed from its start"
    )
    run.replace_verification = True
    run.say(message)
    run.remember(Reason.VERIFICATION_RESTARTED, message)
    run.event(Reason.VERIFICATION_RESTARTED, message)
    return True


def reject(run: Run, reason: str) -> None:
    st, spec = run.status, run.gate_spec
    if spec.rollback.action is RollbackAction.FREEZE:
        message = (
            f"revision {st.revision} failed: {reason}; traffic frozen at {st.canary_weight}%"
            " (rollback.action=freeze)"
        )
        run.set(frozen=True, rollback_reason=reason)
        run.transition(Phase.BLOCKED, Reason.FROZEN, message)
        run.event(Reason.FROZEN, message, warning=True)
        return
    message = (
        f"revision {st.revision} rolled back: {reason};"
        f" all traffic back on stable revision {st.stable_revision}"
    )
    run.set(
        rollback_reason=reason, canary_weight=0, step=None, step_since=None, step_ready_since=None
    )
    run.transition(Phase.ROLLED_BACK, Reason.ROLLED_BACK, message)
    run.event(Reason.ROLLED_BACK, message, warning=True)


def block(run: Run, reason: str) -> None:
    """No progress in time: traffic back on stable, a human must look."""
    message = f"blocked: {reason}; traffic back on stable revision {run.status.stable_revision}"
    run.set(
        rollback_reason=reason, canary_weight=0, step=None, step_since=None, step_ready_since=None
    )
    run.transition(Phase.BLOCKED, Reason.BLOCKED, message)
    run.event(Reason.BLOCKED, message, warning=True)


def verification_pending(run: Run) -> list[str]:
    """What verification still waits for; empty when the revision is verified.

    Startup must pass first; health and WebSocket passes count only from
    then on (before it, the app answers 503 by design).
    """
    st, spec = run.status, run.gate_spec
    out = []
    ready = ready_of(run.obs.verification, st.revision)
    if ready < VERIFY_REPLICAS:
        out.append(f"verification pod ready ({ready}/{VERIFY_REPLICAS})")
    started = None
    if spec.probes.startup:
        startup = st.probes.startup
        if startup is None or startup.ok is not True:
            out.append(f"startup probe ({_last(startup)})")
        else:
            started = startup.last_success
    for kind in _GATED:
        if kind not in configured(run, verification=True):
            continue
        result = get(st.probes, kind)
        if result is None or result.ok is not True:
            out.append(f"{kind.value} probe ({_last(result)})")
        elif started and result.last_success and result.last_success < started:
            out.append(f"{kind.value} probe (a pass after startup completed)")
    return out


def failing_now(run: Run) -> list[str]:
    out = []
    for kind in _GATED:
        result = get(run.status.probes, kind)
        if kind in configured(run, verification=False) and result and result.ok is False:
            out.append(f"{kind.value} probe failing ({result.message})")
    return out


def unconfirmed_since(run: Run, since: datetime) -> list[str]:
    """Gated probes without a pass during this step: no data is not a pass."""
    out = []
    for kind in _GATED:
        if kind not in configured(run, verification=False):
            continue
        result = get(run.status.probes, kind)
        last = result.last_success if result else None
        if last is None or last < since:
            out.append(f"{kind.value} probe (no pass during this step yet)")
    return out


def _last(result: ProbeStatus | None) -> str:
    return (result.message if result else "") or "no result yet"
