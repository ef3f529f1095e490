"""Rollback triggers (seed §9) and what a rollback does to traffic."""

from __future__ import annotations

from datetime import datetime

import pytest
from gatesim import T0, Sim, adopted, gate_spec, minutes, obs_for, passing, rev, seconds, template

from deploymentgate.core import (
    RemoveServing,
    RemoveVerification,
    RevertTarget,
    ScaleServing,
    StopProbes,
)
from deploymentgate.core.actions import Reason
from deploymentgate.models import Phase
from deploymentgate.observations import ProbeKind, ProbeObservation

GATED = (ProbeKind.HEALTH, ProbeKind.WEBSOCKET)
STABLE = rev("chat:1")


def at_step(sim: Sim, index: int) -> tuple[str, datetime]:
    """Deploy chat:2 and drive it to step `index` with traffic in effect."""
    new = sim.deploy("chat:2")
    t = T0 + minutes(1)
    sim.tick(t)
    sim.tick(t, passing(t, new))
    sim.tick(t + seconds(10))
    t += seconds(10)
    while sim.status.step != index or sim.status.step_ready_since is None:
        t += seconds(30)
        sim.tick(t, passing(t, new, GATED))
        assert sim.status.phase is Phase.PROGRESSING
    sim.events.clear()
    return new, t + seconds(5)  # after the last results folded in


def health(
    ok: bool | None, at: datetime, revision: str, message: str = ""
) -> list[ProbeObservation]:
    return [obs_for(ProbeKind.HEALTH, ok, at, revision=revision, message=message)]


def test_health_failing_less_than_the_limit_does_not_roll_back() -> None:
    sim = adopted()
    new, t = at_step(sim, 1)

    sim.tick(t, health(False, t, new))
    decision = sim.tick(t + minutes(4), health(False, t + minutes(4), new))

    assert decision.status.phase is Phase.PROGRESSING
    assert decision.status.probes.health is not None
    assert decision.status.probes.health.failing_since == t
    assert decision.requeue_after == minutes(1)  # when the 5 minutes are up
    assert sim.reasons() == ["ProbeFailed"]


def test_health_failing_for_five_minutes_rolls_back_to_stable() -> None:
    sim = adopted(spec=gate_spec(traffic={"steps": [10, 75, 100]}))
    new, t = at_step(sim, 1)
    assert (sim.replicas_of(STABLE), sim.replicas_of(new)) == (3, 10)  # above half
    sim.tick(t, health(False, t, new, message="503 Service Unavailable"))
    sim.hold.add(STABLE)
    sim.samples.clear()

    decision = sim.tick(t + minutes(5))

    status = decision.status
    assert status.phase is Phase.ROLLED_BACK
    assert status.rollback_reason is not None
    assert "health failing for 5m" in status.rollback_reason
    assert "503 Service Unavailable" in status.rollback_reason
    assert status.canary_weight == 0 and status.step is None
    assert status.stable_revision == STABLE
    # The canary's pods leave the Service at once; the stable goes back to full size.
    assert decision.operations == [ScaleServing(STABLE, 10), ScaleServing(new, 0), StopProbes()]
    assert [(e.reason, e.type.value) for e in decision.events] == [(Reason.ROLLED_BACK, "Warning")]
    conditions = {c.type: (c.status, c.reason) for c in status.conditions}
    assert conditions["Degraded"] == ("True", "RolledBack")
    assert conditions["Verified"] == ("False", "RolledBack")
    assert new not in sim.samples[-1].serving  # no ready canary pod behind the Service

    assert sim.tick(t + minutes(5) + seconds(5)).operations == [RemoveServing(new)]
    sim.release(STABLE)
    assert sim.tick(t + minutes(6)).operations == []
    assert set(sim.serving) == {STABLE} and sim.replicas_of(STABLE) == 10


def test_health_recovering_resets_the_clock() -> None:
    sim = adopted()
    new, t = at_step(sim, 0)
    sim.tick(t, health(False, t, new))
    sim.tick(t + minutes(3), health(True, t + minutes(3), new))
    later = t + minutes(4)
    sim.tick(later, health(False, later, new))

    decision = sim.tick(t + minutes(6))

    assert decision.status.phase is Phase.PROGRESSING
    assert decision.status.probes.health is not None
    assert decision.status.probes.health.failing_since == later
    assert sim.reasons() == ["ProbeFailed", "ProbePassed", "ProbeFailed"]


def test_no_data_neither_passes_nor_resets_the_failure_clock() -> None:
    sim = adopted()
    new, t = at_step(sim, 0)
    sim.tick(t, health(False, t, new))
    sim.tick(t + minutes(2), health(None, t + minutes(2), new, message="no data"))

    decision = sim.tick(t + minutes(5))

    assert decision.status.phase is Phase.ROLLED_BACK


def test_websocket_silent_for_two_minutes_rolls_back() -> None:
    sim = adopted()
    new, t = at_step(sim, 0)
    silent = [obs_for(ProbeKind.WEBSOCKET, False, t, revision=new, message="no agent_started")]
    sim.tick(t, silent)

    assert sim.tick(t + minutes(2) - seconds(1)).status.phase is Phase.PROGRESSING
    decision = sim.tick(t + minutes(2))

    assert decision.status.phase is Phase.ROLLED_BACK
    assert decision.status.rollback_reason is not None
    assert "WebSocket events not flowing for 2m" in decision.status.rollback_reason


def test_error_rate_over_threshold_rolls_back_at_once() -> None:
    sim = adopted()
    new, t = at_step(sim, 1)
    rate = obs_for(
        ProbeKind.ERROR_RATE,
        False,
        t,
        revision=new,
        message="7.5% errors (3/40)",
        values={"errorRate": 0.075, "requests": 40},
    )

    decision = sim.tick(t, [rate])

    assert decision.status.phase is Phase.ROLLED_BACK
    assert decision.status.rollback_reason == "error rate over 5%: 7.5% errors (3/40)"
    assert decision.status.probes.error_rate is not None
    assert decision.status.probes.error_rate.values == {"errorRate": 0.075, "requests": 40}


def test_error_rate_without_enough_requests_is_no_verdict() -> None:
    sim = adopted()
    new, t = at_step(sim, 1)

    decision = sim.tick(t, [obs_for(ProbeKind.ERROR_RATE, None, t, revision=new)])

    assert decision.status.phase is Phase.PROGRESSING
    assert decision.status.probes.error_rate is not None
    assert decision.status.probes.error_rate.ok is None


def test_startup_failure_of_a_canary_pod_rolls_back_immediately() -> None:
    sim = adopted()
    new, t = at_step(sim, 1)
    failed = obs_for(
        ProbeKind.STARTUP, False, t, revision=new, final=True, message="DATABASE never completed"
    )

    decision = sim.tick(t, [failed])

    assert decision.status.phase is Phase.ROLLED_BACK
    assert "DATABASE never completed" in (decision.status.rollback_reason or "")


def test_startup_failure_ignored_when_on_startup_failure_is_false() -> None:
    sim = adopted(spec=gate_spec(rollback={"onStartupFailure": False}))
    new, t = at_step(sim, 1)

    decision = sim.tick(t, [obs_for(ProbeKind.STARTUP, False, t, revision=new, final=True)])

    assert decision.status.phase is Phase.PROGRESSING


def test_final_failure_of_any_probe_does_not_wait_for_the_duration() -> None:
    sim = adopted()
    new, t = at_step(sim, 0)
    broken = obs_for(
        ProbeKind.WEBSOCKET, False, t, revision=new, final=True, message="error event received"
    )

    decision = sim.tick(t, [broken])

    assert decision.status.phase is Phase.ROLLED_BACK
    assert decision.status.rollback_reason == "websocket probe failed: error event received"


def test_trigger_during_verification_rejects_the_revision_without_traffic() -> None:
    sim = adopted()
    new = sim.deploy("chat:2")
    t = T0 + minutes(1)
    sim.tick(t)

    decision = sim.tick(t, [obs_for(ProbeKind.STARTUP, False, t, revision=new, final=True)])

    assert decision.status.phase is Phase.ROLLED_BACK
    assert decision.operations == [RemoveVerification(), StopProbes()]
    assert sim.target.replicas == 0 and sim.replicas_of(STABLE) == 10
    assert set(sim.serving) == {STABLE}


def test_results_for_another_revision_are_ignored() -> None:
    sim = adopted()
    new, t = at_step(sim, 0)

    decision = sim.tick(t, [obs_for(ProbeKind.ERROR_RATE, False, t, revision=rev("chat:1"))])

    assert decision.status.phase is Phase.PROGRESSING
    assert new != rev("chat:1")


def test_rolled_back_revision_is_not_retried() -> None:
    sim = adopted()
    new, t = at_step(sim, 0)
    sim.tick(t, [obs_for(ProbeKind.ERROR_RATE, False, t, revision=new)])
    sim.settle(t + seconds(5))
    sim.events.clear()

    decision = sim.tick(t + minutes(30))

    assert decision.status.phase is Phase.ROLLED_BACK
    assert decision.status.revision == new
    assert decision.operations == [] and decision.events == []


def test_a_new_revision_after_a_rollback_is_verified() -> None:
    sim = adopted()
    new, t = at_step(sim, 0)
    sim.tick(t, [obs_for(ProbeKind.ERROR_RATE, False, t, revision=new)])
    sim.settle(t + seconds(5))

    fixed = sim.deploy("chat:3")
    decision = sim.tick(t + minutes(10))

    assert decision.status.phase is Phase.VERIFYING
    assert decision.status.revision == fixed
    assert decision.status.rollback_reason is None


def test_revert_target_restores_the_deployment_template_without_operator_labels() -> None:
    sim = adopted(spec=gate_spec(rollback={"revertTarget": True}))
    new, t = at_step(sim, 1)

    decision = sim.tick(t, [obs_for(ProbeKind.ERROR_RATE, False, t, revision=new)])

    revert = [a for a in decision.operations if isinstance(a, RevertTarget)]
    assert revert == [RevertTarget(revision=rev("chat:1"), template=template("chat:1"))]
    assert sim.target.revision == STABLE
    sim.settle(t + seconds(5))
    assert sim.status.phase is Phase.ROLLED_BACK  # the rejection stays on record
    assert sim.target.replicas == 0


def test_without_revert_target_the_deployment_template_is_left_alone() -> None:
    sim = adopted()
    new, t = at_step(sim, 1)

    sim.tick(t, [obs_for(ProbeKind.ERROR_RATE, False, t, revision=new)])
    sim.settle(t + seconds(5))

    assert sim.target.revision == new


@pytest.mark.parametrize("step", [0, 1, 2])
def test_freeze_holds_traffic_where_the_trigger_found_it(step: int) -> None:
    sim = adopted(spec=gate_spec(rollback={"action": "freeze"}))
    new, t = at_step(sim, step)
    split_before = (sim.replicas_of(STABLE), sim.replicas_of(new))
    weight = sim.status.canary_weight

    decision = sim.tick(t, [obs_for(ProbeKind.ERROR_RATE, False, t, revision=new)])

    assert decision.status.phase is Phase.BLOCKED
    assert decision.status.frozen is True
    assert decision.status.canary_weight == weight
    assert decision.operations == [StopProbes()]
    assert [e.reason for e in decision.events] == [Reason.PROBE_FAILED, Reason.FROZEN]
    assert f"traffic frozen at {weight}%" in decision.status.message
    assert sim.tick(t + minutes(30)).operations == []
    assert (sim.replicas_of(STABLE), sim.replicas_of(new)) == split_before


def test_frozen_gate_follows_a_manual_revert_back_to_stable() -> None:
    sim = adopted(spec=gate_spec(rollback={"action": "freeze"}))
    new, t = at_step(sim, 1)
    sim.tick(t, [obs_for(ProbeKind.ERROR_RATE, False, t, revision=new)])
    sim.deploy("chat:1")  # the team rolls the Deployment back by hand

    decision = sim.tick(t + minutes(1))

    assert decision.status.phase is Phase.ROLLED_BACK
    assert decision.status.frozen is False
    assert decision.status.canary_weight == 0
    sim.settle(t + minutes(2))
    assert set(sim.serving) == {STABLE} and sim.replicas_of(STABLE) == 10


def test_frozen_gate_verifies_the_next_revision() -> None:
    sim = adopted(spec=gate_spec(rollback={"action": "freeze"}, traffic={"steps": [10, 75, 100]}))
    new, t = at_step(sim, 1)
    assert (sim.replicas_of(STABLE), sim.replicas_of(new)) == (3, 10)
    sim.tick(t, [obs_for(ProbeKind.ERROR_RATE, False, t, revision=new)])
    fixed = sim.deploy("chat:3")

    decision = sim.tick(t + minutes(1))

    assert decision.status.phase is Phase.VERIFYING and decision.status.revision == fixed
    assert decision.status.frozen is False
    assert ScaleServing(STABLE, 10) in decision.operations
    assert sim.replicas_of(new) == 10  # not drained pod by pod
    # The frozen revision's pods go as soon as the stable serves at full size.
    assert sim.tick(t + minutes(1) + seconds(5)).operations == [RemoveServing(new)]
