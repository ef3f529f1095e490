"""A good revision: verified at 0%, stepped 10 -> 50 -> 100, promoted."""

from __future__ import annotations

from datetime import datetime

from gatesim import T0, Sim, adopted, gate_spec, minutes, obs_for, passing, rev, seconds, template

from deploymentgate.core import (
    EnsureServing,
    EnsureVerification,
    ProbeRun,
    ProbeWorkload,
    RemoveServing,
    RemoveVerification,
    ScaleServing,
    ScaleTarget,
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
STABLE = rev("chat:1")


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
    assert sim.target.replicas == 0 and sim.replicas_of(STABLE) == 10
    assert new not in sim.serving
    assert sim.samples
    assert all(set(s.serving) == {STABLE} and s.verification == 0 for s in sim.samples)


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
    assert sim.target.replicas == 0 and new not in sim.serving


def test_verified_revision_moves_to_first_step_beside_a_full_stable() -> None:
    sim = adopted()
    new = sim.deploy("chat:2")
    t = T0 + minutes(1)
    sim.tick(t)
    sim.hold.add(new)

    decision = sim.tick(t, passing(t, new))

    assert decision.status.phase is Phase.PROGRESSING
    assert decision.status.verified_revision == new
    assert decision.operations == [
        EnsureServing(revision=new, template=template("chat:2"), replicas=1),
        RemoveVerification(),
        StartProbes(ProbeRun(revision=new, workload=ProbeWorkload.CANARY, kinds=ALL_KINDS)),
    ]
    assert decision.status.canary_weight == 0  # not in effect until the canary pod is ready
    assert sim.replicas_of(STABLE) == 10

    sim.release(new)
    decision = sim.tick(t + seconds(20))
    assert decision.operations == []  # up to 50% the stable keeps every pod
    assert decision.status.canary_weight == 10
    assert decision.events[0].reason is Reason.TRAFFIC_SHIFTED
    assert "1 of 11 pods" in decision.events[0].message
    assert sim.replicas_of(STABLE) == 10 and sim.replicas_of(new) == 1


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
    assert decision.operations == [ScaleServing(new, 10)]


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
        seen_splits.add((sim.replicas_of(STABLE), sim.replicas_of(new)))
        if sim.status.phase is Phase.PROMOTED:
            break

    assert sim.status.phase is Phase.PROMOTED
    assert sim.status.stable_revision == new
    assert sim.status.stable_images == ["chat:2"]
    assert sim.status.canary_weight == 100
    assert {(10, 1), (10, 10), (0, 10)} <= seen_splits
    # The stable never shrank before the 100% step: it went from 10 to 0 at once.
    assert {stable for stable, _ in seen_splits} == {10, 0}
    assert set(sim.serving) == {new} and sim.replicas_of(new) == 10
    assert sim.target.replicas == 0 and sim.probing is None
    assert sim.reasons().count("TrafficShifted") == 3
    assert sim.reasons()[-1] == "Promoted"
    phases = [h.phase for h in sim.status.history]
    assert phases[-2:] == [Phase.PROMOTING, Phase.PROMOTED]
    # Ready capacity behind the Service never dipped below 10 pods, all of them serving pods.
    assert min(s.total for s in sim.samples) >= 10
    assert all(s.gated and s.target == 0 and s.verification == 0 for s in sim.samples)


def test_promotion_moves_no_serving_pod_stable_goes_in_one_scale_once_canary_is_full() -> None:
    sim = adopted(spec=gate_spec(traffic={"steps": [25]}))
    new = sim.deploy("chat:2")
    t = _at_first_step(sim, new)
    assert (sim.replicas_of(STABLE), sim.replicas_of(new)) == (10, 3)
    sim.hold.add(new)

    t += minutes(2)
    decision = sim.tick(t, passing(t, new, GATED))
    assert decision.status.phase is Phase.PROMOTING
    assert decision.operations == [ScaleServing(new, 10), StopProbes()]
    assert sim.replicas_of(STABLE) == 10  # the stable serves until the canary is full

    sim.set_ready(new, 7)
    assert sim.tick(t + seconds(10)).operations == []  # no stable pod goes one by one
    sim.release(new)
    assert sim.tick(t + seconds(20)).operations == [ScaleServing(STABLE, 0)]
    decision = sim.tick(t + seconds(30))
    assert decision.status.phase is Phase.PROMOTED
    assert decision.status.stable_revision == new
    assert decision.operations == [RemoveServing(STABLE)]
    assert sim.tick(t + seconds(40)).operations == []

    promoting = [c for c in sim.calls if c.decision.status.phase in (Phase.PROMOTING,)]
    since = sim.calls.index(promoting[0])
    for call in sim.calls[since:]:
        for action in call.decision.operations:
            # No serving Deployment is created or re-templated, the canary never removed.
            assert not isinstance(action, EnsureServing), action
            assert action != RemoveServing(new)
    assert min(s.total for s in sim.samples) >= 10


def test_steps_ending_at_100_promote_at_once_and_remove_the_old_stable() -> None:
    sim = adopted(spec=gate_spec(traffic={"steps": [50, 100]}))
    new = sim.deploy("chat:2")
    t = _at_first_step(sim, new)
    t += minutes(2)
    sim.tick(t, passing(t, new, GATED))
    assert sim.status.step == 1
    t += seconds(10)
    sim.tick(t)  # canary at 10 ready, the stable scaled to 0
    assert (sim.replicas_of(STABLE), sim.replicas_of(new)) == (0, 10)

    t += minutes(2)
    decision = sim.tick(t, passing(t, new, GATED))

    assert decision.status.phase is Phase.PROMOTED
    assert decision.operations == [RemoveServing(STABLE), StopProbes()]
    assert [h.phase for h in decision.status.history[-2:]] == [Phase.PROMOTING, Phase.PROMOTED]


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
    assert decision.operations[:2] == [ScaleServing(STABLE, 6), ScaleTarget(0)]


def test_small_deployment_keeps_a_stable_pod_until_the_last_step() -> None:
    sim = adopted(replicas=1)
    new = sim.deploy("chat:2")
    _at_first_step(sim, new)

    assert (sim.replicas_of(STABLE), sim.replicas_of(new)) == (1, 1)


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
