"""The object shape's promises (issues 9 and 10), as tables over the in-memory sim.

- unverified pods never run in a serving Deployment, whatever scales the team's one;
- a forged `status.phase` past verification does not promote (status.verifiedRevision);
- a name taken by an object the gate does not own blocks it, touching nothing;
- a second gate for a gated Deployment is Invalid, touching nothing;
- a WebSocket session is moved at most once over a rollout: the stable keeps
  every pod up to the 100% step (or promotion) and then goes in one scale, once
  the canary serves at full size; the canary never shrinks on the way;
- a rollback evicts the canary at once, unless no stable pod is ready (from a
  100% step): then it serves until one is.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from gatesim import (
    T0,
    Call,
    Sim,
    adopted,
    approvals,
    deployment,
    gate_spec,
    minutes,
    obs_for,
    passing,
    rev,
    seconds,
    sign_off,
    template,
)

from deploymentgate.core import (
    EnsureServing,
    GateService,
    RemoveServing,
    ScaleServing,
    ScaleTarget,
    ServiceState,
    StopProbes,
    read_spec,
)
from deploymentgate.core.actions import Reason
from deploymentgate.core.inputs import Conflict, ConflictCause, Holder
from deploymentgate.models import Phase
from deploymentgate.observations import ProbeKind

GATED = (ProbeKind.HEALTH, ProbeKind.WEBSOCKET)
STABLE = rev("chat:1")
NEW = rev("chat:2")
CONFLICT = Conflict(ConflictCause.NOT_OWNED, "Deployment", "default", "chat-verify", "chat")
HOLDER = Holder("default", "chat-a", "uid-chat-a")


def _idle(sim: Sim) -> datetime:
    return T0 + minutes(1)


def _verifying(sim: Sim) -> datetime:
    sim.deploy("chat:2")
    sim.tick(T0 + minutes(1))
    assert sim.status.phase is Phase.VERIFYING
    return T0 + minutes(2)


def _progressing(sim: Sim) -> datetime:
    t = _verifying(sim)
    sim.tick(t, passing(t, NEW))
    sim.tick(t + seconds(10))
    assert sim.status.phase is Phase.PROGRESSING and sim.status.step_ready_since is not None
    return t + seconds(20)


def _awaiting(sim: Sim) -> datetime:
    sim.spec = gate_spec(approvals=approvals("qa"))
    t = _verifying(sim)
    sim.tick(t, passing(t, NEW))
    assert sim.status.phase is Phase.AWAITING_APPROVAL
    return t + seconds(10)


SETUPS: dict[str, Callable[[Sim], datetime]] = {
    "Idle": _idle,
    "Verifying": _verifying,
    "AwaitingApproval": _awaiting,
    "Progressing": _progressing,
}


def _serving_revisions_created(calls: list[Call]) -> list[str]:
    return [
        op.revision
        for call in calls
        for op in call.decision.operations
        if isinstance(op, EnsureServing)
    ]


# ------------------------------------------- the team's pods never serve


@pytest.mark.parametrize("phase", ["Idle", "Verifying", "AwaitingApproval"])
def test_team_deployment_scaled_up_gets_no_traffic_and_is_scaled_back(phase: str) -> None:
    sim = adopted()
    t = SETUPS[phase](sim)
    sim.samples.clear()

    sim.scale_target(4)  # kubectl scale / an HPA / a GitOps sync of `replicas: 4`
    decision = sim.tick(t)

    assert decision.operations[0] == ScaleTarget(0)
    assert not any(isinstance(op, EnsureServing | ScaleServing) for op in decision.operations)
    assert NEW not in sim.serving
    assert sim.samples
    assert all(s.gated and s.target == 0 for s in sim.samples)
    assert sim.status.phase.value == phase if sim.status.phase else False


def test_team_manifest_applied_while_the_operator_is_down_reaches_no_user() -> None:
    sim = adopted()
    sim.samples.clear()

    # No reconcile at all: a new image with replicas: 4 lands in the team's Deployment.
    sim.deploy("chat:2", replicas=4)
    sim.scale_target(4)

    assert sim.target.ready == 4
    assert sim.samples
    assert all(s.gated and s.target == 0 and set(s.serving) == {STABLE} for s in sim.samples)
    # The operator comes back: it verifies the revision at 0% as usual.
    decision = sim.tick(T0 + minutes(5))
    assert decision.status.phase is Phase.VERIFYING and decision.status.revision == NEW
    assert ScaleTarget(0) in decision.operations and NEW not in sim.serving


def test_only_verified_or_adopted_revisions_ever_get_a_serving_deployment() -> None:
    sim = adopted(spec=gate_spec(approvals=approvals("qa")))
    adoption = len(sim.calls)
    t = _awaiting(sim)
    bad = sim.deploy("chat:3")  # superseded before any sign-off: never verified
    sim.tick(t)
    broken = [obs_for(ProbeKind.STARTUP, False, t, revision=bad, final=True)]
    sim.tick(t + seconds(5), broken)
    assert sim.status.phase is Phase.ROLLED_BACK
    sim.deploy("chat:2")
    sim.tick(t + seconds(10))
    sim.tick(t + seconds(10), passing(t + seconds(10), NEW))
    sim.sign_offs = [sign_off("qa", NEW, t + seconds(10))]
    for i in range(30):
        now = t + seconds(20 + 30 * i)
        sim.tick(now, passing(now, NEW, GATED))
    assert sim.phase() is Phase.PROMOTED

    assert _serving_revisions_created(sim.calls[:adoption]) == [STABLE]
    assert _serving_revisions_created(sim.calls[adoption:]) == [NEW]
    for call in sim.calls:
        for op in call.decision.operations:
            if isinstance(op, EnsureServing):
                assert call.decision.status.verified_revision == op.revision


# ------------------------------------------------------- forged status

FORGED_PHASES = [Phase.AWAITING_APPROVAL, Phase.PROGRESSING, Phase.PROMOTING]


@pytest.mark.parametrize("forged", FORGED_PHASES)
def test_forged_phase_past_verification_goes_back_to_verifying(forged: Phase) -> None:
    sim = adopted()
    _verifying(sim)
    # Someone with write access to deploymentgates/status skips verification.
    sim.status = sim.status.model_copy(
        update={"phase": forged, "step": 2, "step_ready_since": T0, "canary_weight": 100}
    )
    t = T0 + minutes(3)

    decision = sim.tick(t)

    status = decision.status
    assert status.phase is Phase.VERIFYING and status.revision == NEW
    assert status.stable_revision == STABLE and status.step is None
    assert status.canary_weight == 0
    assert "records no verification pass" in status.message
    assert status.history[-1].reason == Reason.VERIFICATION_RESTARTED
    assert [(e.reason, e.type.value) for e in decision.events] == [
        (Reason.VERIFICATION_RESTARTED, "Warning")
    ]
    assert NEW not in sim.serving and sim.replicas_of(STABLE) == 10
    sim.settle(t + seconds(5))
    assert sim.status.phase is Phase.VERIFYING and NEW not in sim.serving


def test_forged_probe_passes_are_dropped_with_the_forged_phase() -> None:
    sim = adopted()
    _verifying(sim)
    faked = sim.status.model_copy(update={"phase": Phase.PROMOTING})
    t = T0 + minutes(3)
    sim.tick(t, passing(t, NEW))  # passes fold in while Verifying...
    assert sim.status.phase is Phase.PROGRESSING  # (a real verification pass)
    real = sim.status.verified_revision
    assert real == NEW

    # ...but a status claiming Promoting with passes and no record of the pass:
    sim.status = faked.model_copy(update={"probes": sim.status.probes})
    decision = sim.tick(t + seconds(5))

    assert decision.status.phase is Phase.VERIFYING
    assert decision.status.probes.health is None  # verification starts from nothing
    assert not any(isinstance(op, ScaleServing) and op.replicas == 10 for op in decision.operations)


def test_recorded_verification_lets_the_phase_stand() -> None:
    sim = adopted()
    _progressing(sim)
    recorded = sim.status

    decision = sim.tick(T0 + minutes(2) + seconds(30))

    assert decision.status.phase is Phase.PROGRESSING
    assert decision.status.verified_revision == recorded.revision == NEW


# --------------------------------------------------- name conflicts


@pytest.mark.parametrize("phase", list(SETUPS))
def test_name_conflict_blocks_and_touches_nothing(phase: str) -> None:
    sim = adopted()
    t = SETUPS[phase](sim)
    before = (dict(sim.serving), sim.target, sim.service, sim.verification)
    sim.conflicts = (CONFLICT,)
    sim.events.clear()

    decision = sim.tick(t)

    assert decision.status.phase is Phase.BLOCKED
    assert decision.status.message.startswith(
        "name conflict: Deployment chat-verify exists and is not owned by gate chat"
    )
    assert decision.operations == ([StopProbes()] if sim.calls[-1].obs.probing else [])
    assert (dict(sim.serving), sim.target, sim.service, sim.verification) == before
    assert [(e.reason, e.type.value) for e in decision.events] == [
        (Reason.NAME_CONFLICT, "Warning")
    ]
    assert sim.tick(t + minutes(30)).operations == [] and sim.events[-1:] == decision.events
    conditions = {c.type: c.status for c in decision.status.conditions}
    assert conditions["Degraded"] == "True"

    sim.conflicts = ()
    resumed = sim.tick(t + minutes(31))
    assert resumed.status.phase.value == phase if resumed.status.phase else False
    assert "ConflictResolved" in [h.reason for h in resumed.status.history]


def test_name_conflict_on_first_sight_adopts_nothing() -> None:
    sim = Sim(spec=gate_spec(), target=deployment("chat:1", 4), conflicts=(CONFLICT,))

    decision = sim.tick(T0)

    assert decision.status.phase is Phase.BLOCKED and decision.operations == []
    assert sim.serving == {} and not sim.service.gated and sim.target.replicas == 4
    sim.conflicts = ()
    sim.settle(T0 + minutes(1))
    assert sim.status.phase is Phase.IDLE and sim.service.gated


# ------------------------------------------------------- one gate per Deployment


def test_second_gate_for_a_gated_deployment_is_invalid_and_touches_nothing() -> None:
    sim = Sim(spec=gate_spec(), target=deployment("chat:1", 4), held_by=HOLDER)

    decision = sim.tick(T0)

    status = decision.status
    assert status.phase is Phase.INVALID
    assert "already gated by gate chat-a" in status.message
    assert "Deployment chat" in status.message
    assert decision.operations == []
    assert [(e.reason, e.type.value) for e in decision.events] == [
        (Reason.ALREADY_GATED, "Warning")
    ]
    assert sim.serving == {} and not sim.service.gated and sim.target.replicas == 4
    assert status.stable_revision is None  # it never adopted anything
    assert sim.tick(T0 + minutes(10)).events == []


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"traffic": {"steps": [50, 10]}}, "spec.traffic.steps: "),
        ({"traffic": {"stepDuration": "2 minutes"}}, "spec.traffic.stepDuration: "),
        ({"probes": {"health": {"interval": "0s"}}}, "spec.probes.health.interval: "),
        ({"traffic": {"router": "gatewayAPI"}}, "spec.traffic: "),
    ],
)
def test_invalid_gates_held_off_by_another_each_name_their_own_field(
    raw: dict[str, Any], field: str
) -> None:
    """Several broken gates naming one Deployment: each says what is wrong with its
    own spec (fixing it is the next step either way), not who holds the Deployment."""
    spec, error = read_spec({"targetRef": {"name": "chat"}, "service": "chat", **raw})
    sim = Sim(spec=spec or gate_spec(), target=deployment("chat:1", 4), held_by=HOLDER)
    sim.spec_error = error
    assert spec is None

    decision = sim.tick(T0)

    assert decision.status.phase is Phase.INVALID
    assert decision.status.message.startswith(field), decision.status.message
    assert [e.reason for e in decision.events] == [Reason.INVALID_SPEC]
    assert decision.operations == []
    assert sim.serving == {} and not sim.service.gated and sim.target.replicas == 4

    # Once its spec is fixed it is still held off, and now says by whom.
    sim.spec, sim.spec_error = gate_spec(), None
    decision = sim.tick(T0 + minutes(1))
    assert decision.status.phase is Phase.INVALID
    assert decision.status.message.startswith("already gated by gate chat-a")
    assert [e.reason for e in decision.events] == [Reason.ALREADY_GATED]
    assert decision.operations == []


def test_gate_held_off_adopts_once_the_holder_is_gone() -> None:
    sim = Sim(spec=gate_spec(), target=deployment("chat:1", 4), held_by=HOLDER)
    sim.tick(T0)
    sim.held_by = None

    decision = sim.tick(T0 + minutes(1))

    assert decision.status.phase is Phase.INITIALIZING
    assert decision.operations == [EnsureServing(STABLE, template("chat:1"), 4)]
    assert [h.reason for h in decision.status.history[-2:]] == ["Released", "Adopted"]


def test_held_gate_mid_rollout_stops_probing_and_nothing_else() -> None:
    sim = adopted()
    _progressing(sim)
    before = (dict(sim.serving), sim.target, sim.service)
    sim.held_by = HOLDER

    decision = sim.tick(T0 + minutes(3))

    assert decision.status.phase is Phase.INVALID
    assert decision.operations == [StopProbes()]
    assert (dict(sim.serving), sim.target, sim.service) == before
    assert GateService(False) not in decision.operations


def test_frozen_gate_keeps_the_service_gated_and_the_team_deployment_empty() -> None:
    sim = adopted(spec=gate_spec(rollback={"action": "freeze"}))
    t = _progressing(sim)
    sim.tick(t, [obs_for(ProbeKind.ERROR_RATE, False, t, revision=NEW)])
    assert sim.status.phase is Phase.BLOCKED and sim.status.frozen
    serving = dict(sim.serving)
    sim.service = ServiceState(exists=True, gated=False)  # someone edits the selector
    sim.scale_target(3)

    assert sim.tick(t + minutes(1)).operations == [GateService(True)]
    assert sim.tick(t + minutes(2)).operations == [ScaleTarget(0)]
    assert sim.tick(t + minutes(3)).operations == []
    assert sim.serving == serving


# ------------------------------------------------------------- rollback


@pytest.mark.parametrize("step", [0, 1])  # 10% and 50%: the stable serves in full
def test_rollback_takes_every_canary_pod_out_of_the_service_at_once(step: int) -> None:
    sim = adopted()
    t = _progressing(sim)
    while sim.status.step != step or sim.status.step_ready_since is None:
        t += seconds(30)
        sim.tick(t, passing(t, NEW, GATED))
    assert sim.status.phase is Phase.PROGRESSING and sim.replicas_of(NEW) > 0
    sim.samples.clear()

    decision = sim.tick(t, [obs_for(ProbeKind.ERROR_RATE, False, t, revision=NEW)])

    assert decision.status.phase is Phase.ROLLED_BACK
    assert ScaleServing(NEW, 0) in decision.operations
    assert NEW not in sim.samples[-1].serving  # no ready canary endpoint left
    assert RemoveServing(NEW) in sim.tick(t + seconds(1)).operations
    assert set(sim.serving) == {STABLE} and sim.replicas_of(STABLE) == 10


@pytest.mark.parametrize("replicas", [1, 3, 10])
def test_rollback_from_a_100_step_keeps_the_canary_until_a_stable_pod_is_ready(
    replicas: int,
) -> None:
    sim = adopted(spec=gate_spec(traffic={"steps": [50, 100]}), replicas=replicas)
    t = _progressing(sim)
    while sim.status.step != 1 or sim.status.step_ready_since is None:
        t += seconds(30)
        sim.tick(t, passing(t, NEW, GATED))
    sim.tick(t)
    assert (sim.replicas_of(STABLE), sim.replicas_of(NEW)) == (0, replicas)
    sim.hold.add(STABLE)
    sim.samples.clear()

    decision = sim.tick(t, [obs_for(ProbeKind.ERROR_RATE, False, t, revision=NEW)])

    assert decision.status.phase is Phase.ROLLED_BACK
    # No stable pod is ready: the canary serves on rather than leave no endpoint.
    assert decision.operations == [ScaleServing(STABLE, replicas), StopProbes()]
    assert sim.tick(t + seconds(1)).operations == []
    assert sim.replicas_of(NEW) == replicas

    sim.set_ready(STABLE, 1)
    assert sim.tick(t + seconds(2)).operations == [ScaleServing(NEW, 0)]
    assert NEW not in sim.samples[-1].serving
    assert sim.tick(t + seconds(3)).operations == [RemoveServing(NEW)]
    sim.release(STABLE)
    assert sim.tick(t + seconds(4)).operations == []
    assert set(sim.serving) == {STABLE} and sim.replicas_of(STABLE) == replicas
    assert min(s.total for s in sim.samples) >= 1  # never zero ready endpoints


@pytest.mark.parametrize(
    ("steps", "step"),
    [([25, 50, 100], 0), ([25, 50, 100], 1), ([50], 0), ([10, 50, 100], 1)],
)
def test_rollback_at_a_step_up_to_half_evicts_the_canary_at_once(
    steps: list[int], step: int
) -> None:
    sim = adopted(spec=gate_spec(traffic={"steps": steps}))
    t = _progressing(sim)
    while sim.status.step != step or sim.status.step_ready_since is None:
        t += seconds(30)
        sim.tick(t, passing(t, NEW, GATED))
    canary = sim.replicas_of(NEW)
    assert sim.replicas_of(STABLE) == 10 and canary > 0
    sim.samples.clear()

    decision = sim.tick(t, [obs_for(ProbeKind.ERROR_RATE, False, t, revision=NEW)])

    assert decision.status.phase is Phase.ROLLED_BACK
    assert decision.operations == [ScaleServing(NEW, 0), StopProbes()]
    assert sim.samples[-1].serving == {STABLE: 10}
    assert sim.tick(t + seconds(1)).operations == [RemoveServing(NEW)]


# ------------------------------------------- each session moved at most once


def _roll_out_slowly(sim: Sim, new: str) -> None:
    """Drive `new` to Promoted with its serving pods becoming ready one a tick."""
    sim.hold.add(new)
    t = T0 + minutes(1)
    sim.tick(t)
    sim.tick(t, passing(t, new))
    for _ in range(200):
        t += seconds(15)
        canary = sim.serving.get(new)
        if canary is not None and canary.ready < canary.replicas:
            sim.set_ready(new, canary.ready + 1)
        sim.tick(t, passing(t, new, GATED))
        if sim.status.phase is Phase.PROMOTED:
            break
    assert sim.status.phase is Phase.PROMOTED, sim.status.message
    sim.settle(t + seconds(15))


@pytest.mark.parametrize("replicas", [1, 2, 4, 10])
@pytest.mark.parametrize(
    "steps",
    [[25, 50, 100], [10, 50, 100], [50, 100], [100], [25], [25, 50], [1, 50]],
    ids=str,
)
def test_stable_keeps_every_pod_until_the_canary_serves_in_full_then_goes_at_once(
    steps: list[int], replicas: int
) -> None:
    sim = adopted(spec=gate_spec(traffic={"steps": steps}), replicas=replicas)
    new = sim.deploy("chat:2")
    adoption = len(sim.calls)

    _roll_out_slowly(sim, new)

    calls = sim.calls[adoption:]
    stable_scales = [
        (call, op)
        for call in calls
        for op in call.decision.operations
        if isinstance(op, ScaleServing) and op.revision == STABLE
    ]
    # One action only takes the stable from its full size to 0 ...
    assert [op.replicas for _, op in stable_scales] == [0]
    call, _ = stable_scales[0]
    # ... and only once the canary ran every pod, all of them ready.
    canary = call.obs.serving[new]
    assert (canary.replicas, canary.ready) == (replicas, replicas)
    assert call.obs.serving[STABLE].replicas == replicas
    # Before it, every sample had the full stable behind the Service.
    before = calls[: calls.index(call)]
    assert before
    assert all(c.obs.serving[STABLE].ready == replicas for c in before)
    # The canary never shrank (its sessions never move) and nothing restarted.
    sizes = [
        op.replicas
        for c in calls
        for op in c.decision.operations
        if isinstance(op, EnsureServing | ScaleServing) and op.revision == new
    ]
    assert sizes == sorted(sizes) and sizes[-1] == replicas
    assert _serving_revisions_created(calls) == [new]
    assert sim.status.stable_revision == new and set(sim.serving) == {new}
    assert min(s.total for s in sim.samples) >= replicas
