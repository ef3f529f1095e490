"""A good revision: verified at 0%, stepped 10 -> 50 -> 100, promoted."""

from __future__ import annotations

from datetime import datetime

from gatesim import T0, Sim, adopted, gate_spec, minutes, obs_for, passing, rev, seconds, template

from deploymentgate.core import (
    EnsureVerification,
    ProbeRun,
    ProbeWorkload,
    PromotePrimary,
    RemoveVerification,
    ScaleCanary,
    ScalePrimary,
    StartProbes,
    StopProbes,
)
from deploymentgate.core.actions import Reason
from deploymentgate.models import HISTORY_LIMIT, Phase
from deploymentgate.observations import ProbeKind

GATED = (ProbeKind.HEALTH, ProbeKind.WEBSOCKET)
ALL_KINDS = frozenset(
    {ProbeKind.STARTUP, ProbeKind.HEALTH, ProbeKind.WEBSOCKET, ProbeKind.ERROR_RATE}
)


def test_new_revision_is_verified_at_zero_traffic_on_pods_no_service_selects() -> None:
    sim = adopted()
    new = sim.deploy("chat:2")

    decision = sim.tick(T0 + minutes(1))

    status = decision.status
    assert status.phase is Phase.VERIFYING
    assert status.revision == new and status.images == ["chat:2"]
    assert status.canary_weight == 0
    assert decision.operations == [
        EnsureVerification(revision=new, template=template("chat:2"), replicas=1),
        StartProbes(ProbeRun(revision=new, workload=ProbeWorkload.VERIFICATION, kinds=ALL_KINDS)),
    ]
    assert sim.reasons() == ["RevisionDetected", "VerificationStarted"]
    assert sim.target.replicas == 0 and sim.primary.replicas == 10


def test_verification_waits_for_pods_then_startup_then_health_and_websocket() -> None:
    sim = adopted()
    new = sim.deploy("chat:2")
    sim.hold.add("verification")
    t = T0 + minutes(1)
    sim.tick(t)

    # Probes pass but the verification pod is not ready: still verifying.
    decision = sim.tick(t + seconds(5), passing(t + seconds(5), new))
    assert decision.status.phase is Phase.VERIFYING
    assert "verification pod ready (0/1)" in decision.status.message

    sim.release("verification")
    # Health passed before startup completed: only a later pass counts.
    startup_done = t + seconds(30)
    decision = sim.tick(
        startup_done, [obs_for(ProbeKind.STARTUP, True, startup_done, revision=new)]
    )
    assert decision.status.phase is Phase.VERIFYING
    assert "health probe (a pass after startup completed)" in decision.status.message

    later = startup_done + seconds(5)
    decision = sim.tick(later, passing(later, new, GATED))
    assert decision.status.phase is Phase.PROGRESSING
    assert decision.status.step == 0


def test_missing_websocket_result_keeps_the_revision_at_zero() -> None:
    sim = adopted()
    new = sim.deploy("chat:2")
    t = T0 + minutes(1)
    sim.tick(t)

    decision = sim.tick(t, passing(t, new, (ProbeKind.STARTUP, ProbeKind.HEALTH)))

    assert decision.status.phase is Phase.VERIFYING
    assert "websocket probe (no result yet)" in decision.status.message
    assert sim.target.replicas == 0


def test_verified_revision_moves_to_first_step_canary_first_then_primary() -> None:
    sim = adopted()
    new = sim.deploy("chat:2")
    t = T0 + minutes(1)
    sim.tick(t)
    sim.hold.add("target")

    decision = sim.tick(t, passing(t, new))

    assert decision.status.phase is Phase.PROGRESSING
    assert decision.operations == [
        ScaleCanary(1),
        RemoveVerification(),
        StartProbes(ProbeRun(revision=new, workload=ProbeWorkload.CANARY, kinds=ALL_KINDS)),
    ]
    assert decision.status.canary_weight == 0  # not in effect until the canary pod is ready
    assert sim.primary.replicas == 10

    sim.release("target")
    decision = sim.tick(t + seconds(20))
    assert decision.operations == [ScalePrimary(9)]
    assert decision.status.canary_weight == 10
    assert decision.events[0].reason is Reason.TRAFFIC_SHIFTED
    assert "1 of 10 pods" in decision.events[0].message


def _at_first_step(sim: Sim, new: str) -> datetime:
    t = T0 + minutes(1)
    sim.tick(t)
    sim.tick(t, passing(t, new))
    sim.tick(t + seconds(10))
    assert sim.status.step_ready_since == t + seconds(10)
    return t + seconds(10)


def test_step_lasts_step_duration_and_needs_a_pass_during_the_step() -> None:
    sim = adopted()
    new = sim.deploy("chat:2")
    ready = _at_first_step(sim, new)

    almost = ready + minutes(2) - seconds(1)
    decision = sim.tick(almost, passing(almost, new, GATED))
    assert decision.status.step == 0
    assert decision.requeue_after == seconds(1)

    decision = sim.tick(ready + minutes(2))
    assert decision.status.step == 1
    assert decision.operations == [ScaleCanary(5)]


def test_step_does_not_end_without_fresh_probe_passes() -> None:
    sim = adopted()
    new = sim.deploy("chat:2")
    ready = _at_first_step(sim, new)

    decision = sim.tick(ready + minutes(3))

    assert decision.status.step == 0
    assert "holding" in decision.status.message
    assert "health probe (no pass during this step yet)" in decision.status.message


def test_good_revision_goes_all_the_way_to_promoted() -> None:
    sim = adopted()
    new = sim.deploy("chat:2")
    t = _at_first_step(sim, new)
    seen_splits = set()
    for _ in range(40):
        t += seconds(30)
        sim.tick(t, passing(t, new, GATED))
        seen_splits.add((sim.primary.replicas, sim.target.replicas))
        if sim.status.phase is Phase.PROMOTED:
            break

    assert sim.status.phase is Phase.PROMOTED
    assert sim.status.stable_revision == new
    assert sim.status.stable_images == ["chat:2"]
    assert sim.status.canary_weight == 100
    assert {(9, 1), (5, 5), (0, 10)} <= seen_splits
    assert sim.primary.revision == new and sim.primary.replicas == 10
    assert sim.target.replicas == 0 and sim.probing is None
    assert sim.reasons().count("TrafficShifted") == 3
    assert sim.reasons()[-1] == "Promoted"
    phases = [h.phase for h in sim.status.history]
    assert phases[-2:] == [Phase.PROMOTING, Phase.PROMOTED]


def test_promotion_gives_primary_the_new_template_and_drains_the_canary() -> None:
    sim = adopted(spec=gate_spec(traffic={"steps": [50]}))
    new = sim.deploy("chat:2")
    t = _at_first_step(sim, new)
    sim.hold.add("primary")

    t += minutes(2)
    decision = sim.tick(t, passing(t, new, GATED))
    assert decision.status.phase is Phase.PROMOTING
    assert decision.operations == [
        PromotePrimary(revision=new, template=template("chat:2"), replicas=10),
        StopProbes(),
    ]
    assert sim.target.replicas == 5  # the canary serves until the primary is ready

    sim.release("primary")
    assert sim.tick(t + seconds(30)).operations == [ScaleCanary(0)]
    decision = sim.tick(t + seconds(40))
    assert decision.status.phase is Phase.PROMOTED


def test_next_revision_after_promotion_is_verified_again() -> None:
    sim = adopted(spec=gate_spec(traffic={"steps": [100], "stepDuration": "30s"}))
    first = sim.deploy("chat:2")
    t = _at_first_step(sim, first)
    for _ in range(5):
        t += seconds(30)
        sim.tick(t, passing(t, first, GATED))
    assert sim.status.phase is Phase.PROMOTED

    second = sim.deploy("chat:3")
    decision = sim.tick(t + minutes(1))

    assert decision.status.phase is Phase.VERIFYING
    assert decision.status.revision == second
    assert decision.status.stable_revision == first
    assert decision.status.probes.health is None  # a fresh start for the new revision


def test_new_manifest_replica_count_is_taken_at_the_next_revision() -> None:
    sim = adopted(replicas=4)
    sim.deploy("chat:2", replicas=6)  # e.g. helm upgrade with replicas: 6

    decision = sim.tick(T0 + minutes(1))

    assert decision.status.replicas == 6
    assert decision.operations[:2] == [ScalePrimary(6), ScaleCanary(0)]


def test_small_deployment_keeps_a_stable_pod_until_the_last_step() -> None:
    sim = adopted(replicas=1)
    new = sim.deploy("chat:2")
    _at_first_step(sim, new)

    assert (sim.primary.replicas, sim.target.replicas) == (1, 1)
    assert rev("chat:1") == sim.primary.revision


def test_history_keeps_only_the_newest_entries() -> None:
    sim = adopted(spec=gate_spec(traffic={"steps": [100], "stepDuration": "10s"}))
    t = T0
    for n in range(2, 8):
        new = sim.deploy(f"chat:{n}")
        t += minutes(1)
        sim.tick(t)
        sim.tick(t, passing(t, new))
        for _ in range(4):
            t += seconds(15)
            sim.tick(t, passing(t, new, GATED))
        assert sim.status.phase is Phase.PROMOTED

    history = sim.status.history
    assert len(history) == HISTORY_LIMIT
    assert history[-1].reason == "Promoted" and history[-1].revision == rev("chat:7")
    assert history == sorted(history, key=lambda h: h.time)
