"""Gate deleted: hand the traffic back to the user's Deployment, on the stable revision.

The user's Deployment is made to run what the primary runs (the last
verified template; an unverified template it holds is replaced) at the full
replica count. Only once its pods are ready does the primary go, so deleting
a gate neither drops traffic nor lets an unverified revision serve.
Verification pods and probes stop at once.
"""

from __future__ import annotations

from deploymentgate.core.actions import (
    Action,
    RemovePrimary,
    RemoveVerification,
    RevertTarget,
    ScaleCanary,
    StopProbes,
)
from deploymentgate.core.run import Run, ready_of, rolled_out
from deploymentgate.core.templates import user_template


def hand_back(run: Run) -> tuple[list[Action], bool]:
    """Actions for this reconcile, and whether the finalizer may go."""
    obs = run.obs
    t, pr, vf = obs.target, obs.primary, obs.verification
    n = run.replicas or t.replicas
    actions: list[Action] = []
    if obs.probing is not None:
        actions.append(StopProbes())
    if vf.exists:
        actions.append(RemoveVerification())
    if not pr.exists:
        run.say("gate deleted; nothing left to hand back")
        return actions, not vf.exists
    if not t.exists or pr.template is None or pr.revision is None:
        actions.append(RemovePrimary())
        run.say("gate deleted and its Deployment is gone; removing the primary")
        return actions, False
    if t.revision != pr.revision:
        # Template first; the scale-up waits until no unverified pod could start.
        actions.append(RevertTarget(revision=pr.revision, template=user_template(pr.template)))
    elif t.replicas != n:
        actions.append(ScaleCanary(n))
    elif rolled_out(t, pr.revision, n):
        actions.append(RemovePrimary())
        run.say(f"gate deleted: the Deployment serves revision {pr.revision} again")
        return actions, False
    run.say(
        f"gate deleted: handing traffic back to the Deployment on revision {pr.revision}"
        f" ({ready_of(t, pr.revision)}/{n} ready)"
    )
    return actions, False
