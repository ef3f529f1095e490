"""The rollout state machine: one handler per phase, each a pure status rewrite.

Handlers decide *what the status should say*; `plan` then derives the actions
that make the cluster match it. A handler makes at most the transitions its
inputs justify, so calling `decide` again with its own output and the same
inputs changes nothing and emits no event twice.
"""

from __future__ import annotations

from typing import Literal

from deploymentgate.core.actions import Reason
from deploymentgate.core.config_checks import template_problems
from deploymentgate.core.inputs import Conflict, Holder
from deploymentgate.core.run import Run, clock
from deploymentgate.core.signoff import sign_off_pending
from deploymentgate.core.smoke import pending as smoke_pending
from deploymentgate.core.smoke import watch_smoke
from deploymentgate.core.templates import images
from deploymentgate.core.verification import (
    block,
    failing_now,
    restart_unwatched,
    unconfirmed_since,
    verification_pending,
    verified_by,
    watch_probes,
)
from deploymentgate.durations import format_duration
from deploymentgate.models import GateStatus, Interruption, Phase, ProbesStatus, Trigger

# ------------------------------------------------------------------ overlays


def invalid(run: Run, error: str, reason: Reason = Reason.INVALID_SPEC) -> None:
    """Spec unusable (or the Deployment is another gate's): say so, remember
    where we were, touch nothing."""
    st = run.status
    cause = (
        Interruption.ALREADY_GATED if reason is Reason.ALREADY_GATED else Interruption.INVALID_SPEC
    )
    if st.phase is Phase.INVALID:
        run.set(interrupted_by=cause)
        if st.message != error:
            run.say(error)
            run.event(reason, error, warning=True)
        return
    resume = st.resume_phase or st.phase or Phase.INITIALIZING
    run.set(resume_phase=resume, interrupted_by=cause)
    run.transition(Phase.INVALID, reason, error)
    run.event(reason, error, warning=True)


ALREADY_GATED = "already gated by "


def held(run: Run, holder: Holder) -> None:
    """Another, older gate holds this Deployment or Service: this one stays out."""
    what = ""
    if run.spec is not None:
        what = f" (Deployment {run.spec.target_ref.name}, Service {run.spec.service})"
    invalid(
        run,
        f"{ALREADY_GATED}{holder.describe()}{what}: one gate per Deployment and Service;"
        " this gate touches nothing (delete it, or delete the other gate first)",
        Reason.ALREADY_GATED,
    )


NAME_CONFLICT = "name conflict: "


def conflicted(run: Run, conflicts: tuple[Conflict, ...]) -> None:
    """A name the gate would use is taken by an object it does not own: touch nothing."""
    st = run.status
    listed = "; ".join(c.describe() for c in conflicts)
    message = f"{NAME_CONFLICT}{listed}; nothing is touched until it is resolved"
    if st.phase is Phase.BLOCKED and st.resume_phase is not None:
        run.set(interrupted_by=Interruption.NAME_CONFLICT)
        if st.message != message:
            run.say(message)
            run.event(Reason.NAME_CONFLICT, message, warning=True)
        return
    run.set(resume_phase=st.phase or Phase.INITIALIZING, interrupted_by=Interruption.NAME_CONFLICT)
    run.transition(Phase.BLOCKED, Reason.NAME_CONFLICT, message)
    run.event(Reason.NAME_CONFLICT, message, warning=True)


def interrupted_by(status: GateStatus) -> Reason | None:
    """What holds the gate Invalid, or Blocked until it can resume (status.interruptedBy).

    A status written before that field existed says nothing: such a gate is taken
    as invalid, or waiting for its Deployment, which only words the resume.
    """
    cause = status.interrupted_by
    if status.phase is Phase.INVALID:
        return Reason.ALREADY_GATED if cause is Interruption.ALREADY_GATED else Reason.INVALID_SPEC
    if status.phase is Phase.BLOCKED and status.resume_phase is not None:
        return (
            Reason.NAME_CONFLICT if cause is Interruption.NAME_CONFLICT else Reason.TARGET_MISSING
        )
    return None


def target_missing(run: Run) -> None:
    st = run.status
    name = run.gate_spec.target_ref.name
    message = f"Deployment {name} not found; waiting for it (traffic left on the stable revision)"
    if st.phase is Phase.BLOCKED and st.resume_phase is not None:
        run.set(interrupted_by=Interruption.TARGET_MISSING)
        run.say(message)
        return
    run.set(resume_phase=st.phase or Phase.INITIALIZING, interrupted_by=Interruption.TARGET_MISSING)
    run.transition(Phase.BLOCKED, Reason.TARGET_MISSING, message)
    run.event(Reason.TARGET_MISSING, message, warning=True)


def resume(run: Run, reason: Reason, message: str) -> None:
    """Return to the phase an overlay interrupted, restarting its clocks.

    Time spent Invalid or without a Deployment counts against no deadline and
    no step: the resumed phase starts its wait afresh.
    """
    st = run.status
    phase = st.resume_phase or Phase.INITIALIZING
    run.set(
        resume_phase=None,
        interrupted_by=None,
        step_since=run.now if st.step is not None else None,
        step_ready_since=None,
    )
    run.transition(phase, reason, message)


# -------------------------------------------------------------------- phases


def initializing(run: Run) -> None:
    """Adopt the Deployment: the gate's serving Deployment of its revision takes
    the Service's traffic (the Service is gated once those pods are ready)."""
    st, t, service = run.status, run.obs.target, run.obs.service
    name = run.gate_spec.target_ref.name
    if t.revision is None:
        run.say(f"waiting for Deployment {name} to report its template")
        return
    if st.stable_revision is None or (
        st.stable_revision != t.revision
        and not run.obs.serving_of(st.stable_revision).exists
        and not service.gated
    ):
        # Nothing of ours serves yet: take the Deployment as it is now.
        adopt = st.stable_revision is None
        run.set(
            stable_revision=t.revision,
            verified_revision=t.revision,
            stable_images=images(t.template),
            replicas=t.replicas if adopt else max(run.replicas, t.replicas),
            revision=None,
        )
        if adopt:
            message = (
                f"adopting Deployment {name} at revision {t.revision} with {t.replicas}"
                f" replicas; {run.serving_name(t.revision)} will serve it"
            )
            run.transition(Phase.INITIALIZING, Reason.ADOPTED, message)
            run.event(Reason.ADOPTED, message)
    stable = run.status.stable_revision
    n = run.replicas
    serving = run.serving_name(stable)
    layout = run.router.stable_only(run.fleet)
    if layout.in_effect and (service.gated or not service.exists):
        run.transition(
            Phase.IDLE,
            Reason.READY,
            f"revision {stable} serving from {serving} ({n} replicas);"
            " new revisions are verified before traffic moves",
        )
        return
    if layout.in_effect:
        # plan._service gates the Service now; Idle follows once that is seen.
        # The message stays ("... n/n ready"): a status write per adoption fewer,
        # which counts when 10,000 gates adopt at once on one API server.
        return
    run.say(f"moving revision {stable} onto {serving}: {layout.summary}")


def steady(run: Run) -> None:
    """Idle or Promoted: wait for the next revision (watching a promoted one first)."""
    if run.watching() and watch_after_promotion(run):
        return
    t, st = run.obs.target, run.status
    if t.revision is not None and t.revision != st.stable_revision:
        if t.replicas > 0 and run.obs.autoscaler is None:
            run.set(replicas=t.replicas)  # the new manifest says how many (an HPA would)
        start_rollout(run, t.revision)


def watch_after_promotion(run: Run) -> bool:
    """The seed's post-deployment watch: the promoted revision stays under the
    rollout's triggers until `watchUntil`, and a trigger reverts to the previous
    revision, whose pods ran on out of traffic. True when the gate moved on."""
    st, t = run.status, run.obs.target
    previous, until = st.previous_revision, st.watch_until
    assert previous is not None and until is not None
    if t.revision is not None and t.revision != st.stable_revision:
        end_watch(run, f"revision {t.revision} arrived")
        return False  # verified as usual, against the promoted revision
    if run.now >= until:
        end_watch(run, f"no trigger fired since its promotion ({clock(until)})")
        return True
    if watch_probes(run):
        return True
    run.wake_at(until)
    run.say(
        f"revision {st.revision} promoted; watched until {clock(until)}: revision {previous}'s"
        " pods run on out of traffic, and a rollback trigger reverts to them at once"
    )
    return False


def end_watch(run: Run, why: str) -> None:
    """The watch after promotion is over: the previous revision's pods go."""
    st = run.status
    message = (
        f"watch after promotion of revision {st.revision} ended: {why};"
        f" revision {st.previous_revision}'s pods, kept for a revert, go"
    )
    run.set(previous_revision=None, watch_until=None)
    run.say(f"revision {st.revision} promoted; {message}")
    run.remember(Reason.WATCH_ENDED, message)
    run.event(Reason.WATCH_ENDED, message)


def verifying(run: Run) -> None:
    """Verifying / AwaitingApproval: the new revision at 0% traffic."""
    unfolded = run.status.probes
    if _revision_changed(run) or watch_probes(run) or watch_smoke(run):
        return
    spec, st = run.gate_spec, run.status
    deadline = spec.traffic.progress_deadline
    if st.phase is Phase.VERIFYING:
        smoke = smoke_pending(run)
        pending = verification_pending(run) + ([smoke] if smoke else [])
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
        run.set(verified_revision=st.revision)  # the one record promotion trusts
        waiting = sign_off_pending(run)
        if waiting:
            message = (
                f"revision {st.revision} verified at 0% traffic; waiting for {'; '.join(waiting)}"
            )
            run.transition(Phase.AWAITING_APPROVAL, Reason.VERIFIED, message)
            run.event(Reason.AWAITING_APPROVAL, message)
            return
        enter_step(run, 0, Reason.VERIFIED)
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
    enter_step(run, 0, Reason.APPROVED)


def progressing(run: Run) -> None:
    """Stepping traffic; each step is observed for stepDuration."""
    if _revision_changed(run) or watch_probes(run):
        return
    spec, st = run.gate_spec, run.status
    steps = spec.traffic.steps
    index = min(st.step or 0, len(steps) - 1)
    weight = steps[index]
    deadline = spec.traffic.progress_deadline
    label = f"step {index + 1}/{len(steps)}: {weight}% to revision {st.revision}"
    if st.step_ready_since is None:
        previous = steps[index - 1] if index > 0 else 0
        layout = run.router.step(run.fleet, weight, previous, shifted=False)
        started = st.step_since or run.now
        if layout.in_effect:
            message = f"{weight}% of traffic on revision {st.revision} ({layout.summary})"
            run.set(step_ready_since=run.now, canary_weight=weight)
            run.remember(Reason.TRAFFIC_SHIFTED, message)
            run.event(Reason.TRAFFIC_SHIFTED, message)
            until = run.now + spec.traffic.step_duration
            run.wake_at(until)
            run.say(f"{label}; observing until {clock(until)}")
            return
        ready = f"{run.fleet.ready(st.revision)}/{layout.replicas.get(st.revision or '', 0)}"
        if run.now - started >= deadline:
            block(
                run,
                f"canary pods of revision {st.revision} not ready within"
                f" {format_duration(deadline)} ({ready})",
            )
            return
        run.wake_at(started + deadline)
        run.say(f"{label}; waiting for canary pods ({ready} ready)")
        return
    until = st.step_ready_since + spec.traffic.step_duration
    if run.now < until:
        run.wake_at(until)
        run.say(f"{label}; observing until {clock(until)}")
        return
    holding = failing_now(run) + unconfirmed_since(run, st.step_ready_since)
    if not holding:
        if index + 1 < len(steps):
            enter_step(run, index + 1, Reason.STEP_PASSED)
        else:
            enter_promoting(run)
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
    """The new revision's serving pods take every pod's place; none restarts."""
    st, t = run.status, run.obs.target
    if t.revision is not None and t.revision != st.revision:
        # It passed every step; it becomes stable before the next one starts.
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
    serving, old = run.serving_name(st.revision), run.serving_name(st.stable_revision)
    layout = run.router.promote(run.fleet)
    if layout.in_effect:
        message = f"revision {st.revision} promoted: {serving} serves it ({n} replicas)"
        window = run.gate_spec.rollback.watch_after_promotion
        kept = st.stable_revision if run.fleet.kept_warm(st.stable_revision) else None
        until = run.now + window if kept is not None else None
        if until is not None:
            message += (
                f"; watched until {clock(until)} with revision {kept}'s pods kept running"
                " out of traffic for an instant revert"
            )
            run.wake_at(until)
        run.set(
            stable_revision=st.revision,
            stable_images=list(st.images),
            canary_weight=100,
            step=None,
            step_since=None,
            step_ready_since=None,
            previous_revision=kept,
            watch_until=until,
        )
        run.transition(Phase.PROMOTED, Reason.PROMOTED, message)
        run.event(Reason.PROMOTED, message)
        return
    started = st.phase_since or run.now
    if run.now - started >= deadline:
        reason = (
            f"{serving} not serving revision {st.revision} at full size within"
            f" {format_duration(deadline)} ({layout.summary}); traffic held where it is"
        )
        run.set(frozen=True, rollback_reason=reason, rollback_trigger=Trigger.PROGRESS_DEADLINE)
        run.transition(Phase.BLOCKED, Reason.BLOCKED, reason)
        run.event(Reason.BLOCKED, reason, warning=True)
        return
    run.wake_at(started + deadline)
    run.say(f"promoting revision {st.revision}: {layout.summary} ({old})")


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


def start_rollout(run: Run, revision: str, *, retried: bool = False) -> None:
    """Verify `revision` from the start (`retried`: a rejected one, on request)."""
    if run.status.previous_revision is not None:
        # E.g. frozen in its watch after promotion: a new revision ends that watch.
        end_watch(run, f"revision {revision} arrived")
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
    if not retried:
        run.event(
            Reason.REVISION_DETECTED,
            f"Deployment {name} has new revision {revision} (stable {st.stable_revision})",
        )
    problems = template_problems(run.gate_spec.config, t.template)
    if problems:
        # Seed §7: refused before any pod of the revision starts; not retried
        # until the Deployment changes again.
        block(
            run,
            f"revision {revision} not verified: {'; '.join(problems)}",
            trigger=Trigger.CONFIG_INVALID,
        )
        return
    kinds = verified_by(run) or ["pods ready"]
    message = f"verifying revision {revision} at 0% traffic: {', '.join(kinds)}"
    run.transition(Phase.VERIFYING, Reason.REVISION_DETECTED, message)
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


def enter_step(run: Run, index: int, reason: Reason) -> None:
    steps = run.gate_spec.traffic.steps
    previous = steps[index - 1] if index > 0 else 0
    layout = run.router.step(run.fleet, steps[index], previous, shifted=False)
    message = (
        f"step {index + 1}/{len(steps)}: shifting {steps[index]}% of traffic to revision"
        f" {run.status.revision} ({layout.summary})"
    )
    run.set(step=index, step_since=run.now, step_ready_since=None)
    if run.status.phase is Phase.PROGRESSING:
        run.say(message)
        run.remember(reason, message)
    else:
        run.transition(Phase.PROGRESSING, reason, message)
    run.wake_at(run.now + run.gate_spec.traffic.progress_deadline)


# The two ways into promotion, and how the message says each.
PromotedBy = Literal[Reason.STEPS_PASSED, Reason.PROMOTE_REQUESTED]
_PROMOTED_HOW: dict[PromotedBy, str] = {
    Reason.STEPS_PASSED: "passed every step",
    Reason.PROMOTE_REQUESTED: "skips its remaining steps",
}


def enter_promoting(run: Run, reason: PromotedBy = Reason.STEPS_PASSED) -> None:
    revision = run.status.revision
    how = _PROMOTED_HOW[reason]
    message = (
        f"revision {revision} {how}; {run.serving_name(revision)} takes all"
        " traffic (no serving pod restarts)"
    )
    run.transition(Phase.PROMOTING, reason, message)
    run.wake_at(run.now + run.gate_spec.traffic.progress_deadline)


_VERIFIED_PHASES = (Phase.AWAITING_APPROVAL, Phase.PROGRESSING, Phase.PROMOTING)


def unverified(run: Run) -> bool:
    """A phase past verification for a revision whose pass is not on record
    (e.g. a hand-written `status.phase`): verify it again, at 0% traffic."""
    st = run.status
    if st.phase not in _VERIFIED_PHASES or st.revision is None:
        return False
    if st.verified_revision == st.revision:
        return False
    phase = st.phase.value if st.phase else ""
    message = (
        f"status says {phase} for revision {st.revision} but records no verification pass"
        f" for it (verifiedRevision {st.verified_revision or 'unset'}); verifying it at"
        " 0% traffic"
    )
    run.set(
        step=None,
        canary_weight=0,
        step_since=None,
        step_ready_since=None,
        frozen=False,
        probes=ProbesStatus(),
    )
    run.transition(Phase.VERIFYING, Reason.VERIFICATION_RESTARTED, message)
    run.event(Reason.VERIFICATION_RESTARTED, message, warning=True)
    run.wake_at(run.now + run.gate_spec.traffic.progress_deadline)
    return True
