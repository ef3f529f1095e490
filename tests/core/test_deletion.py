"""Gate deleted: the Service and the Deployment go back exactly as the team wrote them."""

from __future__ import annotations

from gatesim import (
    T0,
    Sim,
    adopted,
    deployment,
    gate_spec,
    minutes,
    obs_for,
    passing,
    rev,
    seconds,
    template,
)

from deploymentgate.core import (
    GateService,
    RemoveServing,
    RemoveVerification,
    RevertTarget,
    ScaleTarget,
    StopProbes,
)
from deploymentgate.core.actions import Reason
from deploymentgate.core.inputs import ABSENT, Holder
from deploymentgate.models import Phase
from deploymentgate.observations import ProbeKind

STABLE = rev("chat:1")


def delete(sim: Sim) -> None:
    sim.deleting = True
    sim.events.clear()
    sim.samples.clear()


def test_hand_back_order_target_scaled_then_service_ungated_then_serving_removed() -> None:
    sim = adopted(replicas=4)
    delete(sim)
    sim.hold.add("target")

    first = sim.tick(T0 + minutes(1))
    assert first.operations == [ScaleTarget(4)]
    assert not first.deletion_complete
    # The Service keeps its gated selector until the team's pods are ready.
    assert sim.tick(T0 + minutes(2)).operations == []
    sim.target = deployment("chat:1", 4, ready=3)
    assert sim.tick(T0 + minutes(2) + seconds(5)).operations == []

    sim.release("target")
    assert sim.tick(T0 + minutes(3)).operations == [GateService(False)]
    assert sim.tick(T0 + minutes(4)).operations == [RemoveServing(STABLE)]
    final = sim.tick(T0 + minutes(5))
    assert final.deletion_complete and final.operations == []
    assert (sim.target.revision, sim.target.replicas, sim.target.template) == (
        STABLE,
        4,
        template("chat:1"),
    )
    assert not sim.service.gated and sim.serving == {}
    assert sim.events == []
    # Every moment of the hand-back had at least the full count of ready endpoints.
    assert min(s.total for s in sim.samples) >= 4


def test_deleting_mid_verification_gives_the_team_its_deployment_as_written() -> None:
    sim = adopted(replicas=4)
    new = sim.deploy("chat:2")
    t = T0 + minutes(1)
    sim.tick(t)
    assert sim.verification.exists and sim.probing is not None
    delete(sim)

    first = sim.tick(t + seconds(10))

    assert first.operations == [StopProbes(), RemoveVerification(), ScaleTarget(4)]
    assert sim.tick(t + seconds(20)).operations == [GateService(False)]
    assert sim.tick(t + seconds(30)).operations == [RemoveServing(STABLE)]
    assert sim.tick(t + seconds(40)).deletion_complete
    # No template is written back: the team's Deployment runs what the team wrote.
    assert (sim.target.revision, sim.target.replicas) == (new, 4)
    assert sim.target.template == template("chat:2")
    assert min(s.total for s in sim.samples) >= 4


def test_deleting_while_progressing_never_drops_to_zero_ready_endpoints() -> None:
    sim = adopted(replicas=4)
    new = sim.deploy("chat:2")
    t = T0 + minutes(1)
    sim.tick(t)
    sim.tick(t, passing(t, new))
    sim.tick(t + seconds(10), passing(t + seconds(10), new, (ProbeKind.HEALTH,)))
    assert (sim.replicas_of(STABLE), sim.replicas_of(new)) == (4, 1)
    delete(sim)

    for i in range(6):
        sim.tick(t + seconds(10 * (i + 2)))
    assert sim.calls[-1].decision.deletion_complete
    operations = [op for call in sim.calls[-6:] for op in call.decision.operations]
    assert operations == [
        StopProbes(),
        ScaleTarget(4),
        GateService(False),
        *[RemoveServing(r) for r in sorted((STABLE, new))],
    ]
    assert min(s.total for s in sim.samples) >= 4
    assert sim.status.phase is Phase.PROGRESSING  # the status is not rewritten on the way out


def test_deleting_when_the_deployment_is_gone_ungates_then_removes_serving() -> None:
    sim = adopted()
    sim.target = ABSENT
    delete(sim)

    assert sim.tick(T0 + minutes(1)).operations == [GateService(False)]
    assert sim.tick(T0 + minutes(2)).operations == [RemoveServing(STABLE)]
    assert sim.tick(T0 + minutes(3)).deletion_complete


def test_deleting_a_gate_that_never_adopted_is_immediate() -> None:
    sim = Sim(spec=gate_spec(), target=ABSENT, deleting=True)

    decision = sim.tick(T0)

    assert decision.deletion_complete and decision.operations == []


def test_deleting_a_gate_held_off_by_another_hands_nothing_back() -> None:
    sim = Sim(spec=gate_spec(), target=deployment("chat:1", 4), held_by=Holder("default", "chat-a"))
    sim.tick(T0)
    sim.deleting = True

    decision = sim.tick(T0 + minutes(1))

    assert decision.deletion_complete and decision.operations == []
    assert sim.target.replicas == 4 and not sim.service.gated
    assert decision.status.message == "gate deleted; it never held anything (gate chat-a does)"


def test_deleting_an_invalid_gate_needs_no_spec() -> None:
    sim = adopted(replicas=2)
    sim.spec_error = "spec.service: field required"
    sim.tick(T0 + minutes(1))
    delete(sim)

    decision = sim.tick(T0 + minutes(2))

    assert decision.operations == [ScaleTarget(2)]


def test_deleting_keeps_the_replica_count_from_status() -> None:
    sim = adopted(replicas=5)
    sim.target = deployment("chat:1", 0)
    delete(sim)

    assert sim.tick(T0 + minutes(1)).operations == [ScaleTarget(5)]


def test_deleting_after_a_rollback_hands_back_the_stable_template_not_the_rejected_one() -> None:
    sim = adopted(replicas=4)
    bad = sim.deploy("chat:bad")
    t = T0 + minutes(1)
    sim.tick(t)
    failing = [obs_for(ProbeKind.STARTUP, False, t, revision=bad, final=True)]
    assert sim.tick(t + seconds(5), failing).status.phase is Phase.ROLLED_BACK
    sim.settle(t + seconds(6))
    delete(sim)

    first = sim.tick(t + seconds(10))

    assert first.operations == [RevertTarget(revision=STABLE, template=template("chat:1"))]
    assert [e.reason for e in first.events] == [Reason.HANDED_BACK_STABLE]
    assert "rejected" in first.events[0].message
    for i in range(5):
        sim.tick(t + seconds(20 + 10 * i))
    assert sim.calls[-1].decision.deletion_complete
    assert (sim.target.revision, sim.target.replicas) == (STABLE, 4)
    assert [e.reason for e in sim.events] == [Reason.HANDED_BACK_STABLE]  # said once
    assert min(s.total for s in sim.samples) >= 4


def test_a_hand_back_stuck_on_unready_pods_gets_the_stable_template_after_the_deadline() -> None:
    sim = adopted(replicas=4)
    new = sim.deploy("chat:2")
    t = T0 + minutes(1)
    sim.tick(t)
    delete(sim)
    sim.deleting_since = t
    sim.hold.add("target")  # the team's own pods never get ready

    sim.tick(t + seconds(10))
    assert sim.tick(t + minutes(9)).operations == []  # waiting, as written
    assert (sim.target.revision, sim.target.replicas) == (new, 4)

    late = sim.tick(t + minutes(10))

    assert late.operations == [RevertTarget(revision=STABLE, template=template("chat:1"))]
    assert "not ready within" in late.events[0].message
    sim.release("target")
    for i in range(4):
        sim.tick(t + minutes(11) + seconds(10 * i))
    assert sim.calls[-1].decision.deletion_complete
    assert min(s.total for s in sim.samples) >= 4
