"""Gate deleted: hand the Service and the Deployment back exactly as the team wrote them.

Order, one step per reconcile, so that the Service never has zero ready
endpoints: the team's Deployment is scaled back to the recorded replica count
(its template is left as written); once that many of its pods are ready, the
serving key leaves the Service's selector (which then selects the team's pods
and the gate's serving pods alike); once the Service is seen ungated, the
gate's serving Deployments go. Verification pods and probes stop at once.
A gate that never adopted anything (e.g. one held off by an older gate) hands
nothing back and completes at once.

One exception to "as written": when the team's template cannot serve, handing
it back would leave the Service with no endpoint (or wait forever). That is
the case when the gate rejected that revision (RolledBack, Blocked), or when
its pods are still not ready `progressDeadline` after the deletion began;
then the stable template is written back first (as `kubectl rollout undo`
would), with a Warning Event saying so.
"""

from __future__ import annotations

from deploymentgate.core.actions import (
    Action,
    GateService,
    Reason,
    RemoveAutoscaler,
    RemoveServing,
    RemoveVerification,
    RevertTarget,
    ScaleTarget,
    StopProbes,
)
from deploymentgate.core.routers import routers
from deploymentgate.core.run import Run, ready_of, rolled_out
from deploymentgate.core.smoke import remove_all as remove_smoke_jobs
from deploymentgate.core.templates import user_template
from deploymentgate.models import Phase


def hand_back(run: Run) -> tuple[list[Action], bool]:
    """Actions for this reconcile, and whether the finalizer may go."""
    obs, st = run.obs, run.status
    t, vf, service = obs.target, obs.verification, obs.service
    if obs.held_by is not None:
        run.say(f"gate deleted; it never held anything ({obs.held_by.describe()} does)")
        return [], True
    owned = sorted(r for r, w in obs.serving.items() if w.exists)
    actions: list[Action] = []
    if obs.probing is not None:
        actions.append(StopProbes())
    if vf.exists:
        actions.append(RemoveVerification())
    if obs.own_autoscaler is not None:
        # The team's HPA governs their Deployment again once it runs pods.
        actions.append(RemoveAutoscaler())
    actions += remove_smoke_jobs(run)  # owned: the GC would take them too, once the gate is gone
    # A revision kept for a revert after promotion goes first: its pods take no
    # traffic, and once the Service is given back its own selector would match them.
    kept = [
        r
        for r in owned
        if r != st.stable_revision and (r == st.previous_revision or obs.serving[r].pods_parked)
    ]
    actions += [RemoveServing(r) for r in kept]
    owned = [r for r in owned if r not in kept]
    for router in routers():
        # First of all the router gives its traffic objects back (e.g. HTTPRoutes
        # to the team's Service as written; the Service is gated meanwhile and
        # selects the gate's serving pods, which stay).
        first = router.hand_back(obs.router_state)
        if first is not None:
            actions += first.actions
            run.say(first.message)
            return actions, False
    held = [r for r in routers() if r.holds(obs.router_state)]
    if st.stable_revision is None and not owned and not service.gated and not held:
        run.say("gate deleted; it never adopted anything")
        return actions, not vf.exists
    n = st.replicas if st.replicas is not None else t.replicas
    if t.exists and (service.gated or owned):
        revert = _stable_template_instead(run, n)
        if revert is not None:
            actions.append(revert)
            return actions, False
        if t.replicas != n:
            actions.append(ScaleTarget(n))
            run.say(f"gate deleted: scaling Deployment {_target_name(run)} back to {n} replicas")
            return actions, False
        if not rolled_out(t, t.revision, n):
            run.say(
                f"gate deleted: waiting for Deployment {_target_name(run)}"
                f" ({ready_of(t, t.revision)}/{n} ready) before giving the Service back"
            )
            return actions, False
    if service.gated:
        actions.append(GateService(False))
        run.say("gate deleted: giving the Service its own selector back")
        return actions, False
    if owned or held:
        for router in held:
            actions += router.release(obs.router_state)
        actions += [RemoveServing(r) for r in owned]
        run.say("gate deleted: the Service selects the team's pods again; removing serving pods")
        return actions, False
    run.say("gate deleted: Service and Deployment handed back")
    return actions, not vf.exists


def _stable_template_instead(run: Run, n: int) -> RevertTarget | None:
    """Write the stable template back when the team's own cannot take the traffic."""
    obs, st = run.obs, run.status
    t, stable = obs.target, st.stable_revision
    source = obs.serving_of(stable)
    if stable is None or t.revision in (None, stable) or source.template is None:
        return None
    rejected = st.phase in (Phase.ROLLED_BACK, Phase.BLOCKED) and st.revision == t.revision
    deadline = run.spec.traffic.progress_deadline if run.spec else None
    stuck = (
        obs.deleting_since is not None
        and deadline is not None
        and run.now - obs.deleting_since >= deadline
        and not rolled_out(t, t.revision, n)
    )
    if not (rejected or stuck):
        return None
    why = (
        f"revision {t.revision} was rejected ({st.phase.value if st.phase else ''})"
        if rejected
        else f"its pods were not ready within {deadline} of the deletion"
    )
    message = (
        f"gate deleted: Deployment {_target_name(run)} gets stable revision {stable} back,"
        f" not its own template: {why}"
    )
    if st.message != message:  # once, however often the hand-back reconciles
        run.event(Reason.HANDED_BACK_STABLE, message, warning=True)
    run.say(message)
    return RevertTarget(revision=stable, template=user_template(source.template))


def _target_name(run: Run) -> str:
    """The team's Deployment's name (from the status: the spec may be unreadable)."""
    return run.status.target or (run.spec.target_ref.name if run.spec else "")
