"""A newer revision arrives while one is under test."""

from __future__ import annotations

from gatesim import T0, adopted, minutes, passing, rev, seconds, template

from deploymentgate.core import EnsureVerification, ScaleCanary, ScalePrimary
from deploymentgate.core.actions import Reason
from deploymentgate.models import Phase
from deploymentgate.observations import ProbeKind

GATED = (ProbeKind.HEALTH, ProbeKind.WEBSOCKET)


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


def test_newer_revision_during_steps_takes_traffic_back_at_once() -> None:
    sim = adopted()
    new = sim.deploy("chat:2")
    t = T0 + minutes(1)
    sim.tick(t)
    sim.tick(t, passing(t, new))
    for _ in range(6):
        t += seconds(30)
        sim.tick(t, passing(t, new, GATED))
    assert sim.status.step == 1 and sim.target.replicas == 5
    newest = sim.deploy("chat:3")

    decision = sim.tick(t + seconds(30))

    assert decision.status.phase is Phase.VERIFYING and decision.status.revision == newest
    assert decision.status.canary_weight == 0
    # Unverified pods must not serve: the canary goes to 0 without waiting.
    assert decision.operations[:2] == [ScalePrimary(10), ScaleCanary(0)]


def test_deployment_reverted_to_stable_mid_rollout_ends_it() -> None:
    sim = adopted()
    new = sim.deploy("chat:2")
    t = T0 + minutes(1)
    sim.tick(t)
    sim.tick(t, passing(t, new))
    sim.tick(t + seconds(10))
    sim.hold.add("primary")
    sim.deploy("chat:1")

    decision = sim.tick(t + seconds(20))

    assert decision.status.phase is Phase.IDLE
    assert decision.status.revision is None
    assert [e.reason for e in decision.events] == [Reason.SUPERSEDED]
    assert "withdrawn" in decision.events[0].message
    # The Deployment's pods run the stable template now: they drain as the primary grows.
    assert decision.operations[0] == ScalePrimary(10)
    assert sim.target.replicas == 1
    sim.release("primary")
    sim.settle(t + seconds(30))
    assert (sim.primary.replicas, sim.target.replicas) == (10, 0)


def test_newer_revision_during_promotion_makes_the_promoted_one_stable() -> None:
    sim = adopted()
    new = sim.deploy("chat:2")
    t = T0 + minutes(1)
    sim.tick(t)
    sim.tick(t, passing(t, new))
    sim.hold.add("primary")
    for _ in range(20):
        t += seconds(30)
        sim.tick(t, passing(t, new, GATED))
        if sim.status.phase is Phase.PROMOTING:
            break
    assert sim.status.phase is Phase.PROMOTING
    newest = sim.deploy("chat:3")

    decision = sim.tick(t + seconds(30))

    assert decision.status.stable_revision == new
    assert decision.status.revision == newest
    assert decision.status.phase is Phase.VERIFYING
    assert rev("chat:1") not in (decision.status.stable_revision, decision.status.revision)
