"""Gate deleted: traffic goes back to the user's Deployment on the stable revision."""

from __future__ import annotations

import dataclasses

from gatesim import (
    T0,
    Sim,
    adopted,
    deployment,
    gate_spec,
    minutes,
    passing,
    rev,
    seconds,
    template,
)

from deploymentgate.core import (
    RemovePrimary,
    RemoveVerification,
    RevertTarget,
    ScaleCanary,
    StopProbes,
)
from deploymentgate.core.inputs import ABSENT


def delete(sim: Sim) -> None:
    sim.deleting = True
    sim.events.clear()


def test_deleting_an_idle_gate_hands_pods_back_then_removes_the_primary() -> None:
    sim = adopted(replicas=4)
    delete(sim)
    sim.hold.add("target")

    first = sim.tick(T0 + minutes(1))
    assert first.operations == [ScaleCanary(4)]
    assert not first.deletion_complete
    assert sim.tick(T0 + minutes(2)).operations == []  # primary stays until pods are ready

    sim.release("target")
    assert sim.tick(T0 + minutes(3)).operations == [RemovePrimary()]
    final = sim.tick(T0 + minutes(4))
    assert final.deletion_complete and final.operations == []
    assert sim.target.replicas == 4 and sim.target.revision == rev("chat:1")
    assert sim.events == []


def test_deleting_mid_rollout_restores_the_verified_template_before_scaling() -> None:
    sim = adopted(replicas=4)
    sim.deploy("chat:2")
    t = T0 + minutes(1)
    sim.tick(t)
    assert sim.verification.exists and sim.probing is not None
    delete(sim)

    first = sim.tick(t + seconds(10))

    assert first.operations == [
        StopProbes(),
        RemoveVerification(),
        RevertTarget(revision=rev("chat:1"), template=template("chat:1")),
    ]
    second = sim.tick(t + seconds(20))
    assert second.operations == [ScaleCanary(4)]
    sim.settle(t + seconds(30))
    assert sim.primary == ABSENT
    assert (sim.target.revision, sim.target.replicas) == (rev("chat:1"), 4)


def test_deleting_while_progressing_never_gives_the_unverified_revision_more_pods() -> None:
    sim = adopted(replicas=4)
    new = sim.deploy("chat:2")
    t = T0 + minutes(1)
    sim.tick(t)
    sim.tick(t, passing(t, new))
    assert (sim.target.revision, sim.target.replicas) == (new, 1)
    delete(sim)

    for i in range(6):
        sim.tick(t + seconds(10 * (i + 1)))
        if sim.target.revision == new:
            assert sim.target.replicas <= 1 and sim.primary.replicas >= 3
    assert sim.calls[-1].decision.deletion_complete
    assert (sim.target.revision, sim.target.replicas) == (rev("chat:1"), 4)


def test_deleting_when_the_deployment_is_gone_removes_the_primary() -> None:
    sim = adopted()
    sim.target = ABSENT
    delete(sim)

    assert sim.tick(T0 + minutes(1)).operations == [RemovePrimary()]
    assert sim.tick(T0 + minutes(2)).deletion_complete


def test_deleting_a_gate_that_never_adopted_is_immediate() -> None:
    sim = Sim(spec=gate_spec(), target=ABSENT, deleting=True)

    decision = sim.tick(T0)

    assert decision.deletion_complete and decision.operations == []


def test_deleting_an_invalid_gate_needs_no_spec() -> None:
    sim = adopted(replicas=2)
    sim.spec_error = "spec.service: field required"
    sim.tick(T0 + minutes(1))
    delete(sim)

    decision = sim.tick(T0 + minutes(2))

    assert decision.operations == [ScaleCanary(2)]


def test_deleting_keeps_the_replica_count_from_status() -> None:
    sim = adopted(replicas=5)
    sim.primary = dataclasses.replace(sim.primary, replicas=5)
    sim.target = dataclasses.replace(deployment("chat:1", 0))
    delete(sim)

    assert sim.tick(T0 + minutes(1)).operations == [ScaleCanary(5)]
