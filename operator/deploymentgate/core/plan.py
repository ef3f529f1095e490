"""From the decided status to actions: what must change for the cluster to match.

Each phase implies a desired world (the gate's serving Deployments and their
replicas, the Service's gated selector, the team's Deployment at 0, the
verification pods, the probe run). An action is emitted only where the
observed world differs, and again on every reconcile until it does not: a
failed or lost action heals itself, and a settled gate emits nothing.

Traffic rules (the router lays them out, see `routers`):
- Only the gate's serving Deployments are selected by the gated Service, and a
  serving Deployment is only ever created from a trusted template: the
  revision recorded as verified (`status.verifiedRevision`), or at adoption the
  template the team's pods were serving anyway.
- While the stable revision takes traffic back, other verified serving pods
  stay until the stable serves at full size and then go together; a rejected
  canary leaves at once (unless no stable pod is ready at all).
- The team's Deployment is kept at 0 once the Service is gated (hygiene: its
  pods are never selected either way).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from deploymentgate.core.actions import (
    Action,
    EnsureServing,
    EnsureVerification,
    GateService,
    ParkServing,
    RemoveServing,
    RemoveVerification,
    RevertTarget,
    ScaleServing,
    ScaleTarget,
    StartProbes,
    StopProbes,
)
from deploymentgate.core.autoscaling import autoscaler_actions
from deploymentgate.core.inputs import ProbeRun, ProbeWorkload
from deploymentgate.core.routers import Layout
from deploymentgate.core.run import Run
from deploymentgate.core.smoke import smoke_actions
from deploymentgate.core.templates import user_template
from deploymentgate.core.verification import VERIFY_REPLICAS, configured
from deploymentgate.models import Phase

AT_ZERO = {Phase.VERIFYING, Phase.AWAITING_APPROVAL}
_REJECTED = {Phase.ROLLED_BACK, Phase.BLOCKED}


def plan(run: Run) -> list[Action]:
    """Actions for a valid spec and an existing target Deployment."""
    st = run.status
    layout = layout_for(run)
    if st.phase is Phase.BLOCKED and st.frozen:
        # Frozen: serving pods stay as they are; only the Service stays gated
        # and the team's Deployment empty, which moves no traffic between them.
        return [*_service(run, layout), *_target(run), *_probes(run, None), *smoke_actions(run)]
    traffic = route_actions(run, layout)
    if run.replace_verification:
        # Probing stops first, or the error-rate probe counts requests to the
        # dying pod; later passes recreate the pod and probe it afresh.
        return [
            StopProbes(),
            *traffic,
            *serving_actions(run, layout),
            *autoscaler_actions(run, layout),
            *_service(run, layout),
            *_target(run),
            *smoke_actions(run),
            RemoveVerification(),
        ]
    # Route weights first: a rejected canary gets weight 0 before its pods go.
    actions: list[Action] = list(traffic)
    actions += serving_actions(run, layout)
    actions += autoscaler_actions(run, layout)
    actions += _service(run, layout)
    actions += _target(run)
    actions += _verification(run)
    actions += smoke_actions(run)
    actions += _revert(run)
    actions += _probes(run, _probe_run(run))
    return actions


def layout_for(run: Run) -> Layout:
    """What the router says the serving side must look like in this phase."""
    st, router, fleet = run.status, run.router, run.fleet
    phase = st.phase
    if phase is Phase.PROGRESSING and st.step is not None:
        steps = run.gate_spec.traffic.steps
        index = min(st.step, len(steps) - 1)
        previous = steps[index - 1] if index > 0 else 0
        return router.step(fleet, steps[index], previous, shifted=st.step_ready_since is not None)
    if phase is Phase.PROMOTING:
        return router.promote(fleet)
    if phase in AT_ZERO or phase in _REJECTED:
        # An unverified or rejected revision never serves: out at once.
        under_test = st.revision
        evict = frozenset({under_test}) if under_test not in (None, st.stable_revision) else None
        return router.stable_only(fleet, evict=evict or frozenset())
    return router.stable_only(fleet)


def route_actions(run: Run, layout: Layout) -> list[Action]:
    """The router's writes of its own traffic objects for `layout` (none for a
    router whose pods alone split the traffic)."""
    return run.router.actions(run.fleet, layout)


def serving_actions(run: Run, layout: Layout) -> list[Action]:
    """Converge the gate's serving Deployments on `layout`.

    A serving Deployment that exists is only ever scaled or removed, never
    given another template: promotion restarts no serving pod.
    """
    obs = run.obs
    # The stable's parked pods (a revert) rejoin the Service before anything
    # shrinks; no other parked pod ever rejoins (they go with their Deployment).
    # Pods are parked once what takes their place serves (the layout says when).
    stable = run.status.stable_revision
    actions: list[Action] = []
    if stable is not None and obs.serving_of(stable).pods_parked and stable not in layout.parked:
        actions.append(ParkServing(stable, False))
    actions += [
        ParkServing(r, True) for r in sorted(layout.parked) if obs.serving_of(r).pods_serving
    ]
    missing: list[str] = []
    for revision in _ordered(run, layout.replicas):
        wanted = layout.replicas[revision]
        current = obs.serving_of(revision)
        if current.exists:
            if current.replicas != wanted:
                actions.append(ScaleServing(revision, wanted))
            continue
        if wanted == 0:
            continue
        template = trusted_template(run, revision)
        if template is None:
            missing.append(revision)
            continue
        actions.append(EnsureServing(revision=revision, template=template, replicas=wanted))
    actions += [RemoveServing(r) for r in layout.remove if obs.serving_of(r).exists]
    if missing and run.spec is not None:
        name = run.gate_spec.target_ref.name
        note = (
            " (cannot create "
            + ", ".join(run.serving_name(r) for r in missing)
            + (f": Deployment {name} no longer has that verified template)")
        )
        if note not in run.status.message:
            run.say(run.status.message + note)
    return actions


def trusted_template(run: Run, revision: str) -> Mapping[str, Any] | None:
    """The team's template, when it may run in a serving Deployment of `revision`.

    Only the recorded verified revision qualifies, or, while adopting with the
    Service not yet gated, the stable revision (the team's pods serve it anyway).
    """
    st, t = run.status, run.obs.target
    if t.revision != revision or t.template is None:
        return None
    if revision == st.verified_revision:
        return t.template
    adopting = st.phase in (None, Phase.INITIALIZING) and not run.obs.service.gated
    if adopting and revision == st.stable_revision:
        return t.template
    return None


def _ordered(run: Run, revisions: Mapping[str, int]) -> list[str]:
    """Stable first, then the revision under test, then the rest: capacity first."""
    st = run.status
    first = [r for r in (st.stable_revision, st.revision) if r is not None and r in revisions]
    return list(dict.fromkeys(first)) + sorted(r for r in revisions if r not in first)


def _service(run: Run, layout: Layout) -> list[Action]:
    """Gate the Service once the stable serving pods can take its traffic.

    At adoption that waits for them; afterwards a missing key is put back at
    once (without it the team's Deployment's pods would be selected).
    """
    service = run.obs.service
    if not service.exists or service.gated:
        return []
    if run.status.phase in (None, Phase.INITIALIZING) and not layout.in_effect:
        return []
    return [GateService(True)]


def _target(run: Run) -> list[Action]:
    """The team's Deployment runs no pods while the Service is gated."""
    t = run.obs.target
    if run.obs.service.gated and t.exists and t.replicas != 0:
        return [ScaleTarget(0)]
    return []


def _verification(run: Run) -> list[Action]:
    st, t, vf = run.status, run.obs.target, run.obs.verification
    if st.phase in AT_ZERO and st.revision is not None:
        current = vf.exists and vf.revision == st.revision and vf.replicas == VERIFY_REPLICAS
        if current or t.template is None or t.revision != st.revision:
            return []
        return [EnsureVerification(st.revision, t.template, VERIFY_REPLICAS)]
    return [RemoveVerification()] if vf.exists else []


def _revert(run: Run) -> list[Action]:
    st, t = run.status, run.obs.target
    stable = st.stable_revision
    serving = run.obs.serving_of(stable)
    if (
        st.phase is not Phase.ROLLED_BACK
        or not run.gate_spec.rollback.revert_target
        or stable is None
        or st.revision in (None, stable)
        or t.revision != st.revision
        or not serving.exists
        or serving.revision != stable
        or serving.template is None
    ):
        return []
    return [RevertTarget(revision=stable, template=user_template(serving.template))]


def _probe_run(run: Run) -> ProbeRun | None:
    st = run.status
    if st.revision is None:
        return None
    if st.phase in AT_ZERO:
        workload, verification = ProbeWorkload.VERIFICATION, True
    elif st.phase is Phase.PROGRESSING or (st.phase is Phase.PROMOTED and run.watching()):
        workload, verification = ProbeWorkload.CANARY, False
    else:
        return None
    kinds = frozenset(configured(run, verification=verification))
    return ProbeRun(revision=st.revision, workload=workload, kinds=kinds) if kinds else None


def _probes(run: Run, wanted: ProbeRun | None) -> list[Action]:
    if run.obs.probing == wanted:
        return []
    return [StartProbes(wanted)] if wanted else [StopProbes()]
