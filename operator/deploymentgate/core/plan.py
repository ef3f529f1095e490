"""From the decided status to actions: what must change for the cluster to match.

Each phase implies a desired world (primary template and replicas, canary
replicas, verification pods, probe run). An action is emitted only where the
observed world differs, and again on every reconcile until it does not: a
failed or lost action heals itself, and a settled gate emits nothing.

Capacity rules:
- While the stable revision takes traffic back (adoption, rollback, blocked,
  promotion), the canary gives up a pod for each ready primary pod
  (`replicas.drain`), so ready capacity never drops below N.
- A new, unverified revision gets no traffic: the canary goes to 0 at once
  (the Deployment controller would otherwise roll its pods to that revision).
- Stepping up, the primary shrinks only after the canary's pods are ready.
"""

from __future__ import annotations

from deploymentgate.core.actions import (
    Action,
    EnsurePrimary,
    EnsureVerification,
    PromotePrimary,
    RemoveVerification,
    RevertTarget,
    ScaleCanary,
    ScalePrimary,
    StartProbes,
    StopProbes,
)
from deploymentgate.core.inputs import ProbeRun, ProbeWorkload
from deploymentgate.core.replicas import drain, split
from deploymentgate.core.run import Run, ready_of
from deploymentgate.core.templates import user_template
from deploymentgate.core.verification import VERIFY_REPLICAS, configured
from deploymentgate.models import Phase

_STABLE_SERVES = {Phase.INITIALIZING, Phase.IDLE, Phase.PROMOTED, Phase.ROLLED_BACK, Phase.BLOCKED}
_AT_ZERO = {Phase.VERIFYING, Phase.AWAITING_APPROVAL}


def plan(run: Run) -> list[Action]:
    """Actions for a valid spec and an existing target Deployment."""
    st = run.status
    phase = st.phase
    if phase is Phase.BLOCKED and st.frozen:
        return _probes(run, None)  # frozen: hands off everything else
    if run.replace_verification:
        # Probing stops first, or the error-rate probe counts requests to the
        # dying pod; later passes recreate the pod and probe it afresh.
        return [StopProbes(), *_primary(run), *_canary(run), RemoveVerification()]
    actions: list[Action] = []
    actions += _primary(run)
    actions += _canary(run)
    actions += _verification(run)
    actions += _revert(run)
    actions += _probes(run, _probe_run(run))
    return actions


def _primary(run: Run) -> list[Action]:
    st, t, pr = run.status, run.obs.target, run.obs.primary
    n = run.replicas
    if st.phase is Phase.PROMOTING and st.revision is not None:
        if not pr.exists or pr.revision != st.revision:
            if t.template is None:
                return []
            return [PromotePrimary(revision=st.revision, template=t.template, replicas=n)]
        return [ScalePrimary(n)] if pr.replicas != n else []
    replicas = _primary_replicas(run)
    stable = st.stable_revision
    if stable is None:
        return []
    if not pr.exists or pr.revision != stable:
        if t.revision == stable and t.template is not None:
            return [EnsurePrimary(revision=stable, template=t.template, replicas=replicas)]
        name = run.gate_spec.target_ref.name
        note = (
            f" (cannot restore {name}-primary: it no longer runs stable revision {stable}"
            f" and {name} has another template)"
        )
        if note not in st.message:
            run.say(st.message + note)
        return []
    return [ScalePrimary(replicas)] if pr.replicas != replicas else []


def _primary_replicas(run: Run) -> int:
    st, n = run.status, run.replicas
    if st.phase is not Phase.PROGRESSING or st.step is None:
        return n
    steps = run.gate_spec.traffic.steps
    index = min(st.step, len(steps) - 1)
    current = split(n, steps[index]).primary
    if st.step_ready_since is not None:
        return current
    before = n if index == 0 else split(n, steps[index - 1]).primary
    return max(before, current)


def _canary(run: Run) -> list[Action]:
    st, t, pr = run.status, run.obs.target, run.obs.primary
    n = run.replicas
    phase = st.phase
    if phase in _AT_ZERO:
        wanted = 0
    elif phase is Phase.PROGRESSING and st.step is not None:
        steps = run.gate_spec.traffic.steps
        wanted = split(n, steps[min(st.step, len(steps) - 1)]).canary
    elif phase is Phase.PROMOTING:
        wanted = drain(n, ready_of(pr, st.revision), t.replicas)
    elif phase in _STABLE_SERVES:
        wanted = drain(n, ready_of(pr, st.stable_revision), t.replicas)
    else:
        return []
    return [ScaleCanary(wanted)] if t.replicas != wanted else []


def _verification(run: Run) -> list[Action]:
    st, t, vf = run.status, run.obs.target, run.obs.verification
    if st.phase in _AT_ZERO and st.revision is not None:
        current = vf.exists and vf.revision == st.revision and vf.replicas == VERIFY_REPLICAS
        if current or t.template is None:
            return []
        return [EnsureVerification(st.revision, t.template, VERIFY_REPLICAS)]
    return [RemoveVerification()] if vf.exists else []


def _revert(run: Run) -> list[Action]:
    st, t, pr = run.status, run.obs.target, run.obs.primary
    stable = st.stable_revision
    if (
        st.phase is not Phase.ROLLED_BACK
        or not run.gate_spec.rollback.revert_target
        or stable is None
        or st.revision in (None, stable)
        or t.revision != st.revision
        or not pr.exists
        or pr.revision != stable
        or pr.template is None
    ):
        return []
    return [RevertTarget(revision=stable, template=user_template(pr.template))]


def _probe_run(run: Run) -> ProbeRun | None:
    st = run.status
    if st.revision is None:
        return None
    if st.phase in _AT_ZERO:
        workload, verification = ProbeWorkload.VERIFICATION, True
    elif st.phase is Phase.PROGRESSING:
        workload, verification = ProbeWorkload.CANARY, False
    else:
        return None
    kinds = frozenset(configured(run, verification=verification))
    return ProbeRun(revision=st.revision, workload=workload, kinds=kinds) if kinds else None


def _probes(run: Run, wanted: ProbeRun | None) -> list[Action]:
    if run.obs.probing == wanted:
        return []
    return [StartProbes(wanted)] if wanted else [StopProbes()]
