"""traffic.progressDeadline: a rollout that stops making progress blocks."""

from __future__ import annotations

import dataclasses

from gatesim import T0, adopted, approvals, gate_spec, minutes, passing, rev, seconds

from deploymentgate.core import RemoveVerification, ScaleServing, StopProbes
from deploymentgate.core.actions import Reason
from deploymentgate.models import Phase
from deploymentgate.observations import ProbeKind

GATED = (ProbeKind.HEALTH, ProbeKind.WEBSOCKET)
STABLE = rev("chat:1")


def test_verification_pods_never_ready_block_after_the_deadline() -> None:
    sim = adopted()
    sim.hold.add("verification")
    sim.deploy("chat:2")
    t = T0 + minutes(1)
    first = sim.tick(t)
    assert first.requeue_after == minutes(10)

    assert sim.tick(t + minutes(10) - seconds(1)).status.phase is Phase.VERIFYING
    decision = sim.tick(t + minutes(10))

    status = decision.status
    assert status.phase is Phase.BLOCKED
    assert status.frozen is False
    assert status.rollback_reason is not None
    assert "did not finish within 10m" in status.rollback_reason
    assert "verification pod ready (0/1)" in status.rollback_reason
    assert decision.operations == [RemoveVerification(), StopProbes()]
    assert [e.reason for e in decision.events] == [Reason.BLOCKED]
    assert sim.replicas_of(STABLE) == 10 and sim.target.replicas == 0
    assert set(sim.serving) == {STABLE}


def test_blocked_revision_is_not_retried_but_the_next_one_is() -> None:
    sim = adopted()
    sim.hold.add("verification")
    blocked = sim.deploy("chat:2")
    sim.tick(T0 + minutes(1))
    sim.tick(T0 + minutes(11))
    assert sim.status.phase is Phase.BLOCKED

    assert sim.tick(T0 + minutes(30)).status.revision == blocked
    assert sim.status.phase is Phase.BLOCKED
    sim.deploy("chat:3")
    assert sim.tick(T0 + minutes(31)).status.phase is Phase.VERIFYING


def test_canary_pods_never_ready_block_and_traffic_returns_to_stable() -> None:
    sim = adopted()
    new = sim.deploy("chat:2")
    t = T0 + minutes(1)
    sim.tick(t)
    sim.hold.add(new)
    sim.tick(t, passing(t, new))
    assert sim.status.phase is Phase.PROGRESSING and sim.replicas_of(new) == 1

    decision = sim.tick(t + minutes(10))

    assert decision.status.phase is Phase.BLOCKED
    assert "canary pods of revision" in (decision.status.rollback_reason or "")
    assert decision.status.canary_weight == 0
    # The stable never shrank (canary never ready); the canary goes at once.
    assert decision.operations == [ScaleServing(new, 0), StopProbes()]
    assert sim.replicas_of(STABLE) == 10


def test_step_held_by_missing_probe_results_blocks_after_the_deadline() -> None:
    sim = adopted()
    new = sim.deploy("chat:2")
    t = T0 + minutes(1)
    sim.tick(t)
    sim.tick(t, passing(t, new))
    ready = t + seconds(10)
    sim.tick(ready)

    end_of_step = ready + minutes(2)
    held = sim.tick(end_of_step)
    assert held.status.phase is Phase.PROGRESSING
    assert held.requeue_after == minutes(10)

    decision = sim.tick(end_of_step + minutes(10))
    assert decision.status.phase is Phase.BLOCKED
    assert "step 1 held longer than 10m" in (decision.status.rollback_reason or "")
    # The stable kept its 10 pods through the step; the canary leaves at once.
    assert decision.operations == [ScaleServing(new, 0), StopProbes()]
    assert sim.replicas_of(STABLE) == 10


def test_promotion_that_never_becomes_ready_blocks_with_traffic_held() -> None:
    sim = adopted(spec=gate_spec(traffic={"steps": [25]}))
    new = sim.deploy("chat:2")
    t = T0 + minutes(1)
    sim.tick(t)
    sim.tick(t, passing(t, new))
    sim.tick(t + seconds(10))
    assert (sim.replicas_of(STABLE), sim.replicas_of(new)) == (10, 3)
    sim.hold.add(new)  # no canary pod beyond the three it has becomes ready
    t += minutes(3)
    sim.tick(t, passing(t, new, GATED))
    assert sim.status.phase is Phase.PROMOTING

    decision = sim.tick(t + minutes(10))

    status = decision.status
    assert status.phase is Phase.BLOCKED and status.frozen is True
    assert status.stable_revision == STABLE  # not promoted: the canary never served alone
    assert "not serving revision" in (status.rollback_reason or "")
    assert decision.operations == []
    # Traffic held where it is: 3 ready canary pods beside the 10 stable ones.
    assert (sim.replicas_of(STABLE), sim.serving[new].ready) == (10, 3)
    assert sim.tick(t + minutes(20)).operations == []


def test_waiting_for_approval_has_no_deadline() -> None:
    sim = adopted(spec=gate_spec(approvals=approvals("qa")))
    new = sim.deploy("chat:2")
    t = T0 + minutes(1)
    sim.tick(t)
    sim.tick(t, passing(t, new))
    assert sim.status.phase is Phase.AWAITING_APPROVAL

    decision = sim.tick(t + minutes(600))

    assert decision.status.phase is Phase.AWAITING_APPROVAL


def test_serving_deployment_scaled_away_by_someone_is_scaled_back() -> None:
    sim = adopted()
    sim.serving[STABLE] = dataclasses.replace(sim.serving[STABLE], replicas=3, ready=3, updated=3)

    decision = sim.tick(T0 + minutes(5))

    assert decision.operations == [ScaleServing(STABLE, 10)]
