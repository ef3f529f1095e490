"""First sight of a gate: its own serving Deployment takes over the Service's traffic."""

from __future__ import annotations

from gatesim import T0, Sim, deployment, gate_spec, minutes, rev, template

from deploymentgate.core import (
    Decision,
    EnsureServing,
    GateService,
    ScaleTarget,
    ServiceState,
    decide,
)
from deploymentgate.core.actions import Reason
from deploymentgate.core.status_patch import status_patch
from deploymentgate.models import Phase


def test_first_sight_adopts_the_deployment_as_stable_and_creates_its_serving_deployment() -> None:
    sim = Sim(spec=gate_spec(), target=deployment("chat:1", 4))
    sim.hold.add("serving")

    decision = sim.tick(T0)

    status = decision.status
    assert status.phase is Phase.INITIALIZING
    assert status.stable_revision == rev("chat:1")
    assert status.verified_revision == rev("chat:1")
    assert status.replicas == 4
    assert status.stable_images == ["chat:1"]
    assert status.target == "chat"
    assert decision.operations == [
        EnsureServing(revision=rev("chat:1"), template=template("chat:1"), replicas=4)
    ]
    assert [(e.reason, e.type.value) for e in decision.events] == [(Reason.ADOPTED, "Normal")]
    assert f"chat-{rev('chat:1')} will serve it" in decision.events[0].message


def test_adoption_order_serving_ready_then_service_gated_then_team_deployment_scaled_down() -> None:
    sim = Sim(spec=gate_spec(), target=deployment("chat:1", 4))
    stable = rev("chat:1")
    sim.hold.add(stable)
    sim.tick(T0)
    assert sim.replicas_of(stable) == 4 and not sim.service.gated

    # Not all serving pods ready: the Service stays as the team wrote it.
    sim.set_ready(stable, 3)
    decision = sim.tick(T0 + minutes(1))
    assert decision.operations == []
    assert decision.status.phase is Phase.INITIALIZING

    sim.release(stable)
    assert sim.tick(T0 + minutes(2)).operations == [GateService(True)]
    decision = sim.tick(T0 + minutes(3))
    assert decision.status.phase is Phase.IDLE
    assert decision.operations == [ScaleTarget(0)]
    assert f"serving from chat-{stable}" in decision.status.message
    assert sim.tick(T0 + minutes(4)).operations == []
    # Never fewer than 4 ready pods behind the Service, and never the team's once gated.
    assert min(s.total for s in sim.samples) >= 4
    gated = [s for s in sim.samples if s.gated]
    assert gated and all(s.target == 0 for s in gated)


def test_deployment_at_zero_replicas_is_adopted_without_a_serving_pod() -> None:
    sim = Sim(spec=gate_spec(), target=deployment("chat:1", 0))

    sim.settle(T0)

    assert sim.status.phase is Phase.IDLE and sim.status.replicas == 0
    assert sim.service.gated and sim.serving == {}


def test_adoption_writes_the_status_twice_initializing_then_idle() -> None:
    """Each write of 10,000 gates adopted at once queues on the API server: the
    pass that gates the Service writes no status of its own."""
    sim = Sim(spec=gate_spec(), target=deployment("chat:1", 2))
    sim.settle(T0)

    written = [
        (new.phase, new.message)
        for old, new in zip([sim.calls[0].status, *sim.statuses], sim.statuses, strict=False)
        if status_patch(old, new) is not None
    ]
    assert [phase for phase, _ in written] == [Phase.INITIALIZING, Phase.IDLE], written
    assert sim.status.phase is Phase.IDLE and sim.service.gated and sim.target.replicas == 0


def test_missing_service_does_not_hold_adoption_and_is_gated_once_it_exists() -> None:
    sim = Sim(spec=gate_spec(), target=deployment("chat:1", 2))
    sim.service = ServiceState(exists=False)
    sim.settle(T0)
    assert sim.status.phase is Phase.IDLE and sim.target.replicas == 2

    sim.service = ServiceState(exists=True)
    assert sim.tick(T0 + minutes(1)).operations == [GateService(True)]
    assert sim.tick(T0 + minutes(2)).operations == [ScaleTarget(0)]


def test_idle_gate_is_settled_and_ready() -> None:
    sim = Sim(spec=gate_spec(), target=deployment("chat:1", 3))
    sim.settle(T0)

    decision = sim.tick(T0 + minutes(30))
    assert decision.operations == [] and decision.events == []
    conditions = {c.type: c.status for c in decision.status.conditions}
    assert conditions == {
        "Ready": "True",
        "Progressing": "False",
        "Verified": "True",
        "Degraded": "False",
        "Reconciling": "False",
        "Stalled": "False",
    }


def test_template_change_before_the_serving_deployment_exists_is_adopted_instead() -> None:
    sim = Sim(spec=gate_spec(), target=deployment("chat:1", 2))
    decision = decide_without_applying(sim)
    assert decision.status.stable_revision == rev("chat:1")
    sim.status = decision.status  # the EnsureServing never landed
    sim.deploy("chat:2")

    decision = sim.tick(T0 + minutes(1))

    assert decision.status.stable_revision == rev("chat:2")
    assert decision.status.verified_revision == rev("chat:2")
    assert decision.status.phase is Phase.INITIALIZING
    assert decision.operations == [
        EnsureServing(revision=rev("chat:2"), template=template("chat:2"), replicas=2)
    ]


def decide_without_applying(sim: Sim) -> Decision:
    return decide(sim.spec, sim.status, sim.observe(), T0)


def test_condition_transition_time_moves_only_when_its_status_flips() -> None:
    sim = Sim(spec=gate_spec(), target=deployment("chat:1", 3))
    sim.settle(T0)
    ready_since = {c.type: c.last_transition_time for c in sim.status.conditions}

    sim.tick(T0 + minutes(5))  # still Idle: nothing flips
    assert {c.type: c.last_transition_time for c in sim.status.conditions} == ready_since

    sim.deploy("chat:2")
    sim.tick(T0 + minutes(6))  # Verifying: Ready and Progressing flip, Degraded does not
    after = {c.type: (c.status, c.last_transition_time) for c in sim.status.conditions}
    assert after["Ready"] == ("False", T0 + minutes(6))
    assert after["Progressing"] == ("True", T0 + minutes(6))
    assert after["Degraded"] == ("False", ready_since["Degraded"])
