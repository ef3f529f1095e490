"""A newer revision arrives while one is under test."""

from __future__ import annotations

from gatesim import T0, adopted, gate_spec, minutes, passing, rev, seconds, template

from deploymentgate.core import EnsureVerification, RemoveServing, ScaleServing
from deploymentgate.core.actions import Reason
from deploymentgate.models import Phase
from deploymentgate.observations import ProbeKind

GATED = (ProbeKind.HEALTH, ProbeKind.WEBSOCKET)
STABLE = rev("chat:1")


def test_newer_revision_during_verification_is_verified_instead() -> None:
    sim = adopted()
    sim.deploy("chat:2")
    sim.tick(T0 + minutes(1))
    sim.events.clear()
    newest = sim.deploy("chat:3")

    decision = sim.tick(T0 + minutes(2))

    assert decision.status.phase is Phase.VERIFYING and decision.status.revision == newest
    assert [e.reason for e in decision.events] == [
        Reason.SUPERSEDED,
        Reason.REVISION_DETECTED,
        Reason.VERIFICATION_STARTED,
    ]
    assert EnsureVerification(newest, template("chat:3"), 1) in decision.operations


def test_newer_revision_during_steps_takes_traffic_back_to_stable() -> None:
    sim = adopted(spec=gate_spec(traffic={"steps": [10, 75, 100]}))
    new = sim.deploy("chat:2")
    t = T0 + minutes(1)
    sim.tick(t)
    sim.tick(t, passing(t, new))
    for _ in range(6):
        t += seconds(30)
        sim.tick(t, passing(t, new, GATED))
    assert sim.status.step == 1
    assert (sim.replicas_of(STABLE), sim.replicas_of(new)) == (3, 10)
    newest = sim.deploy("chat:3")
    sim.hold.add(STABLE)

    decision = sim.tick(t + seconds(30))

    assert decision.status.phase is Phase.VERIFYING and decision.status.revision == newest
    assert decision.status.canary_weight == 0
    assert decision.operations[0] == ScaleServing(STABLE, 10)
    # The superseded (verified) pods serve on, all of them, until the stable
    # serves at full size; the newest revision gets none.
    assert RemoveServing(new) not in decision.operations
    assert sim.replicas_of(new) == 10
    sim.set_ready(STABLE, 9)
    assert sim.tick(t + seconds(35)).operations == []
    sim.release(STABLE)
    assert sim.tick(t + seconds(40)).operations == [RemoveServing(new)]
    assert set(sim.serving) == {STABLE} and newest not in sim.serving
    assert min(s.total for s in sim.samples) >= 10


def test_deployment_reverted_to_stable_mid_rollout_ends_it() -> None:
    sim = adopted(spec=gate_spec(traffic={"steps": [75]}))
    new = sim.deploy("chat:2")
    t = T0 + minutes(1)
    sim.tick(t)
    sim.tick(t, passing(t, new))
    sim.tick(t + seconds(10))
    assert (sim.replicas_of(STABLE), sim.replicas_of(new)) == (3, 10)
    sim.hold.add(STABLE)
    sim.deploy("chat:1")

    decision = sim.tick(t + seconds(20))

    assert decision.status.phase is Phase.IDLE
    assert decision.status.revision is None
    assert [e.reason for e in decision.events] == [Reason.SUPERSEDED]
    assert "withdrawn" in decision.events[0].message
    # The canary's pods serve on until the stable's have grown back.
    assert decision.operations[0] == ScaleServing(STABLE, 10)
    assert sim.replicas_of(new) == 10
    sim.release(STABLE)
    sim.settle(t + seconds(30))
    assert set(sim.serving) == {STABLE} and sim.replicas_of(STABLE) == 10


def test_newer_revision_during_promotion_makes_the_promoted_one_stable() -> None:
    sim = adopted(spec=gate_spec(traffic={"steps": [25]}))
    new = sim.deploy("chat:2")
    t = T0 + minutes(1)
    sim.tick(t)
    sim.tick(t, passing(t, new))
    sim.tick(t + seconds(10))
    sim.hold.add(new)
    t += minutes(3)
    sim.tick(t, passing(t, new, GATED))
    assert sim.status.phase is Phase.PROMOTING
    newest = sim.deploy("chat:3")

    decision = sim.tick(t + seconds(30))

    assert decision.status.stable_revision == new
    assert decision.status.revision == newest
    assert decision.status.phase is Phase.VERIFYING
    assert STABLE not in (decision.status.stable_revision, decision.status.revision)
    # The old stable's pods go once the promoted revision serves at full size.
    assert RemoveServing(STABLE) not in decision.operations
    assert sim.replicas_of(STABLE) == 10
    sim.release(new)
    assert RemoveServing(STABLE) in sim.tick(t + seconds(40)).operations
    assert set(sim.serving) == {new}
