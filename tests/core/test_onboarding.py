"""First sight of a gate: the primary takes over the Deployment's pods."""

from __future__ import annotations

from gatesim import T0, Sim, deployment, gate_spec, minutes, rev, template

from deploymentgate.core import Decision, EnsurePrimary, ScaleCanary, decide
from deploymentgate.core.actions import Reason
from deploymentgate.models import Phase


def test_first_sight_adopts_the_deployment_as_stable_and_creates_the_primary() -> None:
    sim = Sim(spec=gate_spec(), target=deployment("chat:1", 4))
    sim.hold.add("primary")

    decision = sim.tick(T0)

    status = decision.status
    assert status.phase is Phase.INITIALIZING
    assert status.stable_revision == rev("chat:1")
    assert status.replicas == 4
    assert status.stable_images == ["chat:1"]
    assert status.target == "chat"
    assert decision.operations == [
        EnsurePrimary(revision=rev("chat:1"), template=template("chat:1"), replicas=4)
    ]
    assert [(e.reason, e.type.value) for e in decision.events] == [(Reason.ADOPTED, "Normal")]


def test_deployment_pods_leave_one_for_one_as_primary_pods_become_ready() -> None:
    sim = Sim(spec=gate_spec(), target=deployment("chat:1", 4))
    sim.hold.add("primary")
    sim.tick(T0)
    assert sim.primary.replicas == 4 and sim.target.replicas == 4

    sim.primary = deployment("chat:1", 4, ready=3)
    decision = sim.tick(T0 + minutes(1))
    assert decision.operations == [ScaleCanary(1)]
    assert decision.status.phase is Phase.INITIALIZING

    sim.release("primary")
    assert sim.tick(T0 + minutes(2)).operations == [ScaleCanary(0)]
    decision = sim.tick(T0 + minutes(3))
    assert decision.status.phase is Phase.IDLE
    assert decision.operations == []
    assert "serving from chat-primary" in decision.status.message


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
    }


def test_template_change_before_the_primary_exists_is_adopted_instead() -> None:
    sim = Sim(spec=gate_spec(), target=deployment("chat:1", 2))
    decision = decide_without_applying(sim)
    assert decision.status.stable_revision == rev("chat:1")
    sim.status = decision.status  # the EnsurePrimary never landed
    sim.deploy("chat:2")

    decision = sim.tick(T0 + minutes(1))

    assert decision.status.stable_revision == rev("chat:2")
    assert decision.status.phase is Phase.INITIALIZING
    assert decision.operations[0] == EnsurePrimary(
        revision=rev("chat:2"), template=template("chat:2"), replicas=2
    )


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
