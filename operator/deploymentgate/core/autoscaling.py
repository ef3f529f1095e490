"""A team's HorizontalPodAutoscaler keeps governing what serves users.

The gate holds the team's Deployment at 0 and serves from its own Deployments,
so an HPA on the team's Deployment stops ("scaling is disabled since the
replica count of the target is zero"). The gate therefore keeps a copy of it,
the team's spec as written, on the serving Deployment that runs the rollout's
full size: the stable's up to a 50% step, the new revision's above that (the
replicas router shrinks the stable there), through promotion and after. The
rollout's size (`status.replicas`) follows what that HPA decides, so each
step's canary is sized from the stable's current replicas, and promotion
hands the HPA a Deployment that already runs them: no dip below minReplicas.
The team's own HPA is never written; at hand-back it governs their Deployment
again, which gets the size the gate's copy last had.
"""

from __future__ import annotations

from deploymentgate.core.actions import Action, EnsureAutoscaler, RemoveAutoscaler
from deploymentgate.core.routers import Layout
from deploymentgate.core.run import Run


def full_revision(run: Run, layout: Layout) -> str | None:
    """The revision whose serving Deployment runs the full size in `layout`
    (the stable's while it does; ties go to the stable)."""
    total = run.replicas
    stable = run.status.stable_revision
    if stable is not None and layout.replicas.get(stable, 0) >= total:
        return stable
    sized = [(n, r) for r, n in layout.replicas.items() if n > 0]
    return max(sized)[1] if sized else None


def follow(run: Run, layout: Layout) -> None:
    """The rollout's size becomes what the gate's HPA last decided, once it has
    decided on the current target (the Deployment `layout` runs at full size)."""
    team, own = run.obs.autoscaler, run.obs.own_autoscaler
    if team is None or own is None or not own.current or own.desired < 1:
        return
    revision = full_revision(run, layout)
    if revision is None or own.revision != revision:
        return
    if own.spec != team.spec:
        return  # the team changed their HPA: the copy follows first
    if own.desired != run.replicas:
        run.set(replicas=own.desired)


def autoscaler_actions(run: Run, layout: Layout) -> list[Action]:
    """Keep the gate's copy of the team's HPA on the full-size serving Deployment
    (once it exists); remove it when the team has none."""
    team, own = run.obs.autoscaler, run.obs.own_autoscaler
    if team is None:
        return [RemoveAutoscaler()] if own is not None else []
    revision = full_revision(run, layout)
    if revision is None or not run.obs.serving_of(revision).exists:
        return []
    if own is not None and own.revision == revision and own.spec == team.spec:
        return []
    return [EnsureAutoscaler(revision=revision, spec=team.spec)]
