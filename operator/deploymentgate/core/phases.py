"""The rollout state machine: one handler per phase, each a pure status rewrite.

Handlers decide *what the status should say*; `plan` then derives the actions
that make the cluster match it. A handler makes at most the transitions its
inputs justify, so calling `decide` again with its own output and the same
inputs changes nothing and emits no event twice.
"""

from __future__ import annotations

from deploymentgate.core.actions import Reason
from deploymentgate.core.replicas import split
from deploymentgate.core.run import Run, clock, ready_of, rolled_out
from deploymentgate.core.signoff import sign_off_pending
from deploymentgate.core.templates import images
from deploymentgate.core.verification import (
    block,
    configured,
    failing_now,
    restart_unwatched,
    unconfirmed_since,
    verification_pending,
    watch_probes,
)
from deploymentgate.durations import format_duration
from deploymentgate.models import Phase, ProbesStatus, Trigger

# ------------------------------------------------------------------ overlays


def invalid(run: Run, error: str) -> None:
    """Spec unusable: say so, remember where we were, touch nothing."""
    st = run.status
    if st.phase is Phase.INVALID:
        if st.message != error:
            run.say(error)
            run.event(Reason.INVALID_SPEC, error, warning=True)
        return
    resume = st.resume_phase or st.phase or Phase.INITIALIZING
    run.set(resume_phase=resume)
    run.transition(Phase.INVALID, Reason.INVALID_SPEC, error)
    run.event(Reason.INVALID_SPEC, error, warning=True)


def target_missing(run: Run) -> None:
    st = run.status
    name = run.gate_spec.target_ref.name
    message = f"Deployment {name} not found; waiting for it (traffic left on the stable revision)"
    if st.phase is Phase.BLOCKED and st.resume_phase is not None:
        run.say(message)
        return
    run.set(resume_phase=st.phase or Phase.INITIALIZING)
    run.transition(Phase.BLOCKED, Reason.TARGET_MISSING, message)
    run.event(Reason.TARGET_MISSING, message, warning=True)


def resume(run: Run, reason: str, message: str) -> None:
    """Return to the phase an overlay interrupted, restarting its clocks.

    Time spent Invalid or without a Deployment counts against no deadline and
    no step: the resumed phase starts its wait afresh.
    """
    st = run.status
    phase = st.resume_phase or Phase.INITIALIZING
    run.set(
        resume_phase=None,
        step_since=run.now if st.step is not None else None,
        step_ready_since=None,
    )
    run.transition(phase, reason, message)


# -------------------------------------------------------------------- phases


def initializing(run: Run) -> None:
    """Adopt the Deployment: the primary takes over serving its template."""
    st, t, pr = run.status, run.obs.target, run.obs.primary
    name = run.gate_spec.target_ref.name
    if t.revision is None:
        run.say(f"waiting for Deployment {name} to report its template")
        return
    if st.stable_revision is None or (
        st.stable_revision != t.revision and not (pr.exists and pr.revision == st.stable_revision)
    ):
        # Nothing serves from the primary yet: take the Deployment as it is now.
        adopt = st.stable_revision is None
        run.set(
            stable_revision=t.revision,
            stable_images=images(t.template),
            replicas=t.replicas if adopt else max(run.replicas, t.replicas),
            revision=None,
        )
        if adopt:
            message = (
                f"adopting Deployment {name} at revision {t.revision} with {t.replicas}"
                f" replicas; {name}-primary will serve it"
            )
            run.transition(Phase.INITIALIZING, Reason.ADOPTED, message)
            run.event(Reason.ADOPTED, message)
    stable = run.status.stable_revision
    n = run.replicas
    if rolled_out(pr, stable, n) and t.replicas == 0:
        run.transition(
            Phase.IDLE,
            "Ready",
            f"revision {stable} serving from {name}-primary ({n} replicas);"
            " new revisions are verified before traffic moves",
        )
        return
    run.say(
        f"moving revision {stable} onto {name}-primary:"
        f" {ready_of(pr, stable)}/{n} ready, {t.replicas} left on {name}"
    )


def steady(run: Run) -> None:
    """Idle or Promoted: wait for the next revision."""
    t, st = run.obs.target, run.status
    if t.revision is not None and t.revision != st.stable_revision:
        if t.replicas > 0:
            run.set(replicas=t.replicas)  # the new manifest says how many
        start_rollout(run, t.revision)


def verifying(run: Run) -> None:
    """Verifying / AwaitingApproval: the new revision at 0% traffic."""
    unfolded = run.status.probes
    if _revision_changed(run) or watch_probes(run):
        return
    spec, st = run.gate_spec, run.status
    deadline = spec.traffic.progress_deadline
    if st.phase is Phase.VERIFYING:
        pending = verification_pending(run)
        if pending:
            if run.now - (st.phase_since or run.now) >= deadline:
                block(
                    run,
                    f"verification of revision {st.revision} did not finish within"
                    f" {format_duration(deadline)}; still waiting for: {'; '.join(pending)}",
                )
                return
            run.wake_at((st.phase_since or run.now) + deadline)
            if restart_unwatched(run, unfolded):
                return
            run.say(
                f"verifying revision {st.revision} at 0% traffic; waiting for: {'; '.join(pending)}"
            )
            return
        waiting = sign_off_pending(run)
        if waiting:
            message = (
                f"revision {st.revision} verified at 0% traffic; waiting for {'; '.join(waiting)}"
            )
            run.transition(Phase.AWAITING_APPROVAL, "Verified", message)
            run.event(Reason.AWAITING_APPROVAL, message)
            return
        _enter_step(run, 0, "Verified")
        return
    waiting = sign_off_pending(run)
    failing = failing_now(run)
    if waiting or failing:
        run.say(f"revision {st.revision} verified; waiting for {'; '.join(waiting + failing)}")
        return
    approvers = sorted(spec.approvals.required) if spec.approvals else []
    message = f"revision {st.revision} " + (
        f"approved by {', '.join(approvers)}" if approvers else "cleared by its required gates"
    )
    run.event(Reason.APPROVED, message)
    _enter_step(run, 0, "Approved")


def progressing(run: Run) -> None:
    """Stepping traffic; each step is observed for stepDuration."""
    if _revision_changed(run) or watch_probes(run):
        return
    spec, st, t = run.gate_spec, run.status, run.obs.target
    steps = spec.traffic.steps
    index = min(st.step or 0, len(steps) - 1)
    weight = steps[index]
    share = split(run.replicas, weight)
    deadline = spec.traffic.progress_deadline
    label = f"step {index + 1}/{len(steps)}: {weight}% to revision {st.revision}"
    if st.step_ready_since is None:
        started = st.step_since or run.now
        if t.replicas == share.canary and ready_of(t, st.revision) >= share.canary:
            message = (
                f"{weight}% of traffic on revision {st.revision}"
                f" ({share.canary} of {share.canary + share.primary} pods)"
            )
            run.set(step_ready_since=run.now, canary_weight=weight)
            run.remember(Reason.TRAFFIC_SHIFTED, message)
            run.event(Reason.TRAFFIC_SHIFTED, message)
            until = run.now + spec.traffic.step_duration
            run.wake_at(until)
            run.say(f"{label}; observing until {clock(until)}")
            return
        if run.now - started >= deadline:
            block(
                run,
                f"canary pods of revision {st.revision} not ready within"
                f" {format_duration(deadline)} ({ready_of(t, st.revision)}/{share.canary})",
            )
            return
        run.wake_at(started + deadline)
        ready = ready_of(t, st.revision)
        run.say(f"{label}; waiting for canary pods ({ready}/{share.canary} ready)")
        return
    until = st.step_ready_since + spec.traffic.step_duration
    if run.now < until:
        run.wake_at(until)
        run.say(f"{label}; observing until {clock(until)}")
        return
    holding = failing_now(run) + unconfirmed_since(run, st.step_ready_since)
    if not holding:
        if index + 1 < len(steps):
            _enter_step(run, index + 1, "StepPassed")
        else:
            _enter_promoting(run)
        return
    if run.now - until >= deadline:
        block(
            run,
            f"step {index + 1} held longer than {format_duration(deadline)}: {'; '.join(holding)}",
        )
        return
    run.wake_at(until + deadline)
    run.say(f"{label}; holding: {'; '.join(holding)}")


def promoting(run: Run) -> None:
    """The primary takes the verified template; then the canary steps aside."""
    st, t, pr = run.status, run.obs.target, run.obs.primary
    name = run.gate_spec.target_ref.name
    if t.revision is not None and t.revision != st.revision:
        # The revision passed every step; it becomes stable before the next one starts.
        run.set(stable_revision=st.revision, stable_images=list(st.images))
        run.event(
            Reason.SUPERSEDED,
            f"revision {st.revision} was being promoted when revision {t.revision} arrived;"
            f" {st.revision} stays stable and {t.revision} is verified next",
        )
        start_rollout(run, t.revision)
        return
    n = run.replicas
    deadline = run.gate_spec.traffic.progress_deadline
    if rolled_out(pr, st.revision, n):
        if t.replicas == 0:
            message = f"revision {st.revision} promoted: {name}-primary serves it ({n} replicas)"
            run.set(
                stable_revision=st.revision,
                stable_images=list(st.images),
                canary_weight=100,
                step=None,
                step_since=None,
                step_ready_since=None,
            )
            run.transition(Phase.PROMOTED, Reason.PROMOTED, message)
            run.event(Reason.PROMOTED, message)
            return
        run.say(f"{name}-primary serves revision {st.revision}; scaling {name} down")
        return
    started = st.phase_since or run.now
    if run.now - started >= deadline:
        reason = (
            f"{name}-primary not ready with revision {st.revision} within"
            f" {format_duration(deadline)} ({ready_of(pr, st.revision)}/{n});"
            f" traffic held on {name}"
        )
        # The primary already runs the verified template: it is the stable one now.
        run.set(
            stable_revision=st.revision,
            stable_images=list(st.images),
            frozen=True,
            rollback_reason=reason,
            rollback_trigger=Trigger.PROGRESS_DEADLINE,
        )
        run.transition(Phase.BLOCKED, Reason.BLOCKED, reason)
        run.event(Reason.BLOCKED, reason, warning=True)
        return
    run.wake_at(started + deadline)
    run.say(
        f"promoting revision {st.revision} to {name}-primary"
        f" ({ready_of(pr, st.revision)}/{n} ready)"
    )


def rejected(run: Run) -> None:
    """RolledBack / Blocked: hold until the Deployment gets another revision."""
    st, t = run.status, run.obs.target
    if t.revision is None:
        return
    if st.frozen and st.revision != st.stable_revision and t.revision == st.stable_revision:
        message = (
            f"Deployment {run.gate_spec.target_ref.name} reverted to stable revision"
            f" {st.stable_revision}; traffic back on stable"
        )
        run.set(frozen=False, canary_weight=0, step=None, step_since=None, step_ready_since=None)
        run.transition(Phase.ROLLED_BACK, Reason.ROLLED_BACK, message)
        run.event(Reason.ROLLED_BACK, message, warning=True)
        return
    if t.revision not in (st.revision, st.stable_revision):
        start_rollout(run, t.revision)


# ------------------------------------------------------------------ helpers


def start_rollout(run: Run, revision: str) -> None:
    st, t = run.status, run.obs.target
    name = run.gate_spec.target_ref.name
    run.set(
        revision=revision,
        images=images(t.template),
        step=None,
        canary_weight=0,
        step_since=None,
        step_ready_since=None,
        rollback_reason=None,
        rollback_trigger=None,
        frozen=False,
        probes=ProbesStatus(),
    )
    kinds = [k.value for k in configured(run, verification=True)] or ["pods ready"]
    message = f"verifying revision {revision} at 0% traffic: {', '.join(kinds)}"
    run.transition(Phase.VERIFYING, Reason.REVISION_DETECTED, message)
    run.event(
        Reason.REVISION_DETECTED,
        f"Deployment {name} has new revision {revision} (stable {st.stable_revision})",
    )
    run.event(Reason.VERIFICATION_STARTED, message)
    run.wake_at(run.now + run.gate_spec.traffic.progress_deadline)


def _revision_changed(run: Run) -> bool:
    """The Deployment moved on while a revision was under test."""
    st, t = run.status, run.obs.target
    if t.revision is None or t.revision == st.revision:
        return False
    name = run.gate_spec.target_ref.name
    if t.revision == st.stable_revision:
        message = (
            f"revision {st.revision} withdrawn: Deployment {name} is back on stable"
            f" revision {st.stable_revision}"
        )
        run.set(
            revision=None,
            images=[],
            step=None,
            canary_weight=0,
            step_since=None,
            step_ready_since=None,
            probes=ProbesStatus(),
        )
        run.transition(Phase.IDLE, Reason.SUPERSEDED, message)
        run.event(Reason.SUPERSEDED, message)
        return True
    run.event(
        Reason.SUPERSEDED,
        f"revision {st.revision} superseded by {t.revision} before promotion;"
        " traffic back on stable while the new one is verified",
    )
    start_rollout(run, t.revision)
    return True


def _enter_step(run: Run, index: int, reason: str) -> None:
    steps = run.gate_spec.traffic.steps
    share = split(run.replicas, steps[index])
    message = (
        f"step {index + 1}/{len(steps)}: shifting {steps[index]}% of traffic to revision"
        f" {run.status.revision} ({share.canary} of {share.canary + share.primary} pods)"
    )
    run.set(step=index, step_since=run.now, step_ready_since=None)
    if run.status.phase is Phase.PROGRESSING:
        run.say(message)
        run.remember(reason, message)
    else:
        run.transition(Phase.PROGRESSING, reason, message)
    run.wake_at(run.now + run.gate_spec.traffic.progress_deadline)


def _enter_promoting(run: Run) -> None:
    name = run.gate_spec.target_ref.name
    message = f"revision {run.status.revision} passed every step; promoting it to {name}-primary"
    run.transition(Phase.PROMOTING, "StepsPassed", message)
    run.wake_at(run.now + run.gate_spec.traffic.progress_deadline)
