"""`decide`: the gate's every rule, as one pure function.

    decide(spec, status, observations, now) -> Decision(status, actions, ...)

No Kubernetes, no HTTP, no clock, no logging: the thin layer gathers
`Observations`, calls `decide`, writes `Decision.status` (with a conflict
check), performs the workload and probe actions in order, and records the
events once the status write has landed. The status is the only memory, so a
restarted operator continues from the stored status alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from deploymentgate.core import autoscaling, phases
from deploymentgate.core.actions import (
    Action,
    Reason,
    RecordEvent,
    RemoveVerification,
    StopProbes,
)
from deploymentgate.core.commands import apply_commands
from deploymentgate.core.conditions import derive
from deploymentgate.core.deletion import hand_back
from deploymentgate.core.inputs import Observations
from deploymentgate.core.plan import layout_for, plan, route_actions, serving_actions
from deploymentgate.core.routers import routers
from deploymentgate.core.run import Run
from deploymentgate.core.signoff import sign_offs_status
from deploymentgate.core.smoke import remove_all as remove_smoke_jobs
from deploymentgate.models import GateSpec, GateStatus, Phase


@dataclass(frozen=True)
class Decision:
    """The next status and what to do about it.

    `actions` holds workload and probe actions in execution order, then the
    `RecordEvent`s. `requeue_after` is when a time-based rule (step end,
    deadline, a failure lasting long enough) comes due if nothing else
    happens. `deletion_complete` (only while deleting) says the finalizer may
    be removed.
    """

    status: GateStatus
    actions: list[Action] = field(default_factory=list)
    requeue_after: timedelta | None = None
    deletion_complete: bool = False

    @property
    def events(self) -> list[RecordEvent]:
        return [a for a in self.actions if isinstance(a, RecordEvent)]

    @property
    def operations(self) -> list[Action]:
        """Everything but the events: what must happen in the cluster."""
        return [a for a in self.actions if not isinstance(a, RecordEvent)]


def decide(spec: GateSpec | None, status: GateStatus, obs: Observations, now: datetime) -> Decision:
    """The next status and actions for one gate.

    `spec` is None exactly when it failed validation; `obs.spec_error` then
    names the field (a spec_error with a spec also counts as invalid).
    """
    run = Run(spec, status, obs, now)
    if obs.deleting:
        actions, complete = hand_back(run)
        return _finish(run, actions, deletion_complete=complete)
    if obs.generation is not None:
        run.set(observed_generation=obs.generation)
    # The gate's own spec error comes first: several invalid gates naming one
    # Deployment each say what is wrong with their own spec, not who holds it.
    error = obs.spec_error
    if spec is None or error:
        phases.invalid(run, error or "spec: missing or unreadable")
        return _finish(run, _hands_off(run))
    if obs.held_by is not None:
        phases.held(run, obs.held_by)
        return _finish(run, _hands_off(run))
    if run.status.phase is Phase.INVALID:
        if phases.interrupted_by(run.status) is Reason.ALREADY_GATED:
            phases.resume(run, Reason.RELEASED, "no other gate holds the Deployment now; resuming")
        else:
            phases.resume(run, Reason.SPEC_VALID, "spec is valid again; resuming")
    run.set(target=spec.target_ref.name)
    if obs.conflicts:
        phases.conflicted(run, obs.conflicts)
        return _finish(run, _hands_off(run))
    if not obs.target.exists:
        phases.target_missing(run)
        return _finish(run, _target_missing_actions(run))
    if run.status.phase is Phase.BLOCKED and run.status.resume_phase is not None:
        if phases.interrupted_by(run.status) is Reason.NAME_CONFLICT:
            phases.resume(run, Reason.CONFLICT_RESOLVED, "name conflict resolved; resuming")
        else:
            name = spec.target_ref.name
            phases.resume(run, Reason.TARGET_FOUND, f"Deployment {name} found; resuming")
    apply_commands(run)
    autoscaling.follow(run, layout_for(run))
    _settle(run)
    return _finish(run, plan(run))


def _hands_off(run: Run) -> list[Action]:
    """Touch nothing; only probing stops (it acts on nothing)."""
    return [StopProbes()] if run.obs.probing is not None else []


MAX_TRANSITIONS = 4


def _settle(run: Run) -> None:
    """Make every transition the inputs already justify, not just the first.

    E.g. a step entered when its canary pods are already ready is in effect
    at once. Deciding again on the result then changes nothing.
    """
    for _ in range(MAX_TRANSITIONS):
        if phases.unverified(run):
            return  # this pass only says why: verification starts on the next one
        before = _position(run.status)
        _dispatch(run)
        if _position(run.status) == before:
            return


def _position(status: GateStatus) -> tuple[object, ...]:
    return (
        status.phase,
        status.revision,
        status.stable_revision,
        status.step,
        status.step_ready_since,
    )


def _dispatch(run: Run) -> None:
    phase = run.status.phase
    if phase in (None, Phase.INITIALIZING):
        phases.initializing(run)
    elif phase in (Phase.IDLE, Phase.PROMOTED):
        phases.steady(run)
    elif phase in (Phase.VERIFYING, Phase.AWAITING_APPROVAL):
        phases.verifying(run)
    elif phase is Phase.PROGRESSING:
        phases.progressing(run)
    elif phase is Phase.PROMOTING:
        phases.promoting(run)
    elif phase in (Phase.ROLLED_BACK, Phase.BLOCKED):
        phases.rejected(run)


def _target_missing_actions(run: Run) -> list[Action]:
    """No Deployment: everything on the stable revision at full size.

    Probes and verification pods stop; the stable's serving Deployment is
    scaled to the full replica count, and any other serving pods go once it
    serves at full size (none is created: there is no template to take).
    """
    obs = run.obs
    layout = run.router.stable_only(run.fleet)
    actions = [*route_actions(run, layout), *serving_actions(run, layout)]
    if obs.verification.exists:
        actions.append(RemoveVerification())
    actions += remove_smoke_jobs(run)
    if obs.probing is not None:
        actions.append(StopProbes())
    return actions


def _finish(run: Run, actions: list[Action], *, deletion_complete: bool = False) -> Decision:
    if run.spec is not None:
        run.set(sign_offs=sign_offs_status(run))
    for router in routers():  # each fills (or clears) its own status fields
        if fields := router.status_fields(run.obs.router_state, run.status):
            run.set(**fields)
    run.set(conditions=derive(run.status, run.now))
    return Decision(
        status=run.status,
        actions=[*actions, *run.events],
        requeue_after=run.requeue_after(),
        deletion_complete=deletion_complete,
    )
