"""Specs the gate cannot act on, and a Deployment that is not there."""

from __future__ import annotations

import dataclasses

from gatesim import T0, Sim, adopted, deployment, gate_spec, minutes, passing, rev, seconds

from deploymentgate.core import RemoveServing, RemoveVerification, ScaleServing, StopProbes, decide
from deploymentgate.core.actions import Reason
from deploymentgate.core.inputs import ABSENT, Conflict, ConflictCause, Holder
from deploymentgate.core.phases import interrupted_by
from deploymentgate.models import Interruption, Phase
from deploymentgate.observations import ProbeKind

STABLE = rev("chat:1")
ERROR = "spec.traffic.steps: steps must be strictly ascending, got [50, 10]"


def test_invalid_spec_is_marked_with_the_field_and_touches_nothing() -> None:
    sim = adopted()
    sim.spec_error = ERROR

    decision = sim.tick(T0 + minutes(1))

    assert decision.status.phase is Phase.INVALID
    assert decision.status.message == ERROR
    assert decision.operations == []
    assert [(e.reason, e.type.value) for e in decision.events] == [(Reason.INVALID_SPEC, "Warning")]
    conditions = {c.type: c.status for c in decision.status.conditions}
    assert conditions["Degraded"] == "True" and conditions["Ready"] == "False"


def test_invalid_spec_mid_rollout_keeps_traffic_and_only_stops_probes() -> None:
    sim = adopted()
    new = sim.deploy("chat:2")
    t = T0 + minutes(1)
    sim.tick(t)
    sim.tick(t, passing(t, new))
    sim.tick(t + seconds(10))
    before = (sim.replicas_of(STABLE), sim.replicas_of(new))
    sim.spec_error = ERROR

    decision = sim.tick(t + minutes(1))

    assert decision.operations == [StopProbes()]
    assert (sim.replicas_of(STABLE), sim.replicas_of(new)) == before
    assert decision.status.resume_phase is Phase.PROGRESSING
    assert decision.status.step == 0 and decision.status.canary_weight == 10


def test_invalid_is_reported_once_and_again_when_the_error_changes() -> None:
    sim = adopted()
    sim.spec_error = ERROR
    sim.tick(T0)

    assert sim.tick(T0 + minutes(1)).events == []
    sim.spec_error = "spec.service: field required"
    decision = sim.tick(T0 + minutes(2))
    assert [e.message for e in decision.events] == ["spec.service: field required"]


def test_fixed_spec_resumes_the_interrupted_step_with_fresh_clocks() -> None:
    sim = adopted()
    new = sim.deploy("chat:2")
    t = T0 + minutes(1)
    sim.tick(t)
    sim.tick(t, passing(t, new))
    sim.tick(t + seconds(10))
    sim.spec_error = ERROR
    sim.tick(t + minutes(1))
    sim.spec_error = None

    fixed_at = t + minutes(30)
    decision = sim.tick(fixed_at)

    status = decision.status
    assert status.phase is Phase.PROGRESSING and status.step == 0
    assert status.resume_phase is None
    # Thirty minutes Invalid count as neither step time nor deadline: the
    # step's observation starts again now (its canary pod is still ready).
    assert status.step_since == fixed_at and status.step_ready_since == fixed_at
    assert [h.reason for h in status.history[-2:]] == ["SpecValid", "TrafficShifted"]


def test_gate_invalid_from_the_start_adopts_once_fixed() -> None:
    sim = Sim(spec=gate_spec(), target=deployment("chat:1", 3), spec_error=ERROR)
    assert sim.tick(T0).status.phase is Phase.INVALID
    assert sim.serving == {} and not sim.service.gated

    sim.spec_error = None
    decision = sim.tick(T0 + minutes(1))

    assert decision.status.phase is Phase.INITIALIZING
    assert Reason.ADOPTED in [e.reason for e in decision.events]


def test_spec_none_without_error_text_is_still_invalid() -> None:
    sim = adopted()
    decision = decide(None, sim.status, sim.observe(), T0 + minutes(1))
    assert decision.status.phase is Phase.INVALID


def test_missing_deployment_on_first_sight_waits_without_actions() -> None:
    sim = Sim(spec=gate_spec(), target=ABSENT)

    decision = sim.tick(T0)

    assert decision.status.phase is Phase.BLOCKED
    assert "Deployment chat not found" in decision.status.message
    assert decision.operations == []
    assert [e.reason for e in decision.events] == [Reason.TARGET_MISSING]
    assert sim.tick(T0 + minutes(1)).events == []


def test_deployment_created_later_is_adopted() -> None:
    sim = Sim(spec=gate_spec(), target=ABSENT)
    sim.tick(T0)
    sim.target = deployment("chat:1", 3)

    sim.settle(T0 + minutes(1))

    assert sim.status.phase is Phase.IDLE
    assert (sim.replicas_of(STABLE), sim.target.replicas) == (3, 0)


def test_deployment_deleted_mid_rollout_leaves_all_traffic_on_a_full_stable() -> None:
    sim = adopted(spec=gate_spec(traffic={"steps": [10, 75, 100]}))
    new = sim.deploy("chat:2")
    t = T0 + minutes(1)
    sim.tick(t)
    sim.tick(t, passing(t, new))
    for _ in range(6):
        t += seconds(30)
        sim.tick(t, passing(t, new, (ProbeKind.HEALTH, ProbeKind.WEBSOCKET)))
    # At 75% the stable has shrunk (above half the canary runs in full).
    assert (sim.replicas_of(STABLE), sim.replicas_of(new)) == (3, 10)
    sim.verification = dataclasses.replace(deployment("chat:2", 1), exists=True)
    sim.target = ABSENT

    decision = sim.tick(t + seconds(30))

    assert decision.status.phase is Phase.BLOCKED
    assert decision.status.resume_phase is Phase.PROGRESSING
    assert decision.operations == [ScaleServing(STABLE, 10), RemoveVerification(), StopProbes()]
    # The canary's verified pods give way once the stable serves at full size.
    assert sim.tick(t + seconds(40)).operations == [RemoveServing(new)]
    assert min(s.total for s in sim.samples) >= 10


def test_deployment_back_after_missing_resumes_and_spots_a_new_revision() -> None:
    sim = adopted()
    sim.target = ABSENT
    sim.tick(T0 + minutes(1))
    sim.target = deployment("chat:2", 10)

    decision = sim.tick(T0 + minutes(2))

    assert decision.status.phase is Phase.VERIFYING
    assert decision.status.replicas == 10
    assert [h.reason for h in decision.status.history[-2:]] == ["TargetFound", "RevisionDetected"]


# The status records why the gate is interrupted only in its message: a cause that
# changes while the gate stays Invalid (or Blocked) is remembered in
# status.interruptedBy, and the resumption names the cause that held it last.

HOLDER = Holder("default", "chat-a", "uid-chat-a")
CONFLICT = Conflict(ConflictCause.NOT_OWNED, "Deployment", "default", "chat-verify", "chat")


def test_a_gate_invalid_then_held_resumes_as_released() -> None:
    sim = adopted()
    sim.spec_error = ERROR
    assert sim.tick(T0 + minutes(1)).status.history[-1].reason == Reason.INVALID_SPEC
    sim.spec_error, sim.held_by = None, HOLDER
    held = sim.tick(T0 + minutes(2)).status
    assert held.phase is Phase.INVALID and held.message.startswith("already gated by gate chat-a")
    sim.held_by = None

    resumed = sim.tick(T0 + minutes(3)).status

    assert resumed.phase is Phase.IDLE
    assert (resumed.history[-1].reason, resumed.history[-1].message) == (
        "Released",
        "no other gate holds the Deployment now; resuming",
    )


def test_a_gate_held_then_invalid_resumes_as_spec_valid() -> None:
    sim = adopted()
    sim.held_by = HOLDER
    assert sim.tick(T0 + minutes(1)).status.history[-1].reason == Reason.ALREADY_GATED
    sim.held_by, sim.spec_error = None, ERROR
    assert sim.tick(T0 + minutes(2)).status.message == ERROR
    sim.spec_error = None

    resumed = sim.tick(T0 + minutes(3)).status

    assert resumed.phase is Phase.IDLE
    assert (resumed.history[-1].reason, resumed.history[-1].message) == (
        "SpecValid",
        "spec is valid again; resuming",
    )


def test_a_conflict_then_a_missing_deployment_resumes_as_target_found() -> None:
    sim = adopted()
    sim.conflicts = (CONFLICT,)
    assert sim.tick(T0 + minutes(1)).status.history[-1].reason == Reason.NAME_CONFLICT
    target, sim.conflicts, sim.target = sim.target, (), ABSENT
    assert sim.tick(T0 + minutes(2)).status.message.startswith("Deployment chat not found")
    sim.target = target

    resumed = sim.tick(T0 + minutes(3)).status

    assert resumed.phase is Phase.IDLE
    assert (resumed.history[-1].reason, resumed.history[-1].message) == (
        "TargetFound",
        "Deployment chat found; resuming",
    )


def test_the_interruption_read_back_is_the_one_each_overlay_wrote() -> None:
    cases = [
        (dataclasses.replace(adopted(), spec_error=ERROR), Reason.INVALID_SPEC),
        (dataclasses.replace(adopted(), held_by=HOLDER), Reason.ALREADY_GATED),
        (dataclasses.replace(adopted(), conflicts=(CONFLICT,)), Reason.NAME_CONFLICT),
        (dataclasses.replace(adopted(), target=ABSENT), Reason.TARGET_MISSING),
    ]
    for sim, cause in cases:
        status = sim.tick(T0 + minutes(1)).status
        assert status.history[-1].reason == cause
        assert status.interrupted_by is not None and status.interrupted_by.value == cause.value
        assert interrupted_by(status) is cause
        # The status field decides, not the message's wording.
        reworded = status.model_copy(update={"message": "reworded"})
        assert interrupted_by(reworded) is cause
    assert interrupted_by(adopted().status) is None
    assert adopted().status.interrupted_by is None


def test_the_cause_is_cleared_on_resume_and_follows_a_change_in_between() -> None:
    sim = adopted()
    sim.spec_error = ERROR
    assert sim.tick(T0 + minutes(1)).status.interrupted_by is Interruption.INVALID_SPEC
    sim.spec_error, sim.held_by = None, HOLDER
    assert sim.tick(T0 + minutes(2)).status.interrupted_by is Interruption.ALREADY_GATED
    sim.held_by = None
    resumed = sim.tick(T0 + minutes(3)).status
    assert resumed.phase is Phase.IDLE and resumed.interrupted_by is None
