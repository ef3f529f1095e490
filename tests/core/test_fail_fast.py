"""Fast at 0%, patient under traffic (issue 13 item 3, issue 9 item 8).

At 0% traffic nobody is served by the revision under test, so
`failureThreshold` consecutive failed runs of a probe reject it; the duration
triggers (healthFailingFor, websocketSilentFor) govern revisions that carry
user traffic. Whatever fires is a typed `Trigger` in `status.rollbackTrigger`.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from gatesim import T0, Sim, adopted, gate_spec, minutes, obs_for, passing, seconds

from deploymentgate.models import Phase, Trigger, dump, parse_spec
from deploymentgate.observations import ProbeKind, ProbeObservation

STARTED = T0 + minutes(1)
GATED = (ProbeKind.HEALTH, ProbeKind.WEBSOCKET)
KIND_TRIGGER = {
    ProbeKind.HEALTH: Trigger.HEALTH_FAILING,
    ProbeKind.WEBSOCKET: Trigger.WEBSOCKET_FAILING,
}


def verifying_after_startup(sim: Sim) -> tuple[str, datetime]:
    new = sim.deploy("chat:2")
    sim.tick(STARTED)
    t = STARTED + seconds(2)
    sim.tick(t, [obs_for(ProbeKind.STARTUP, True, t, revision=new)])
    assert sim.status.phase is Phase.VERIFYING
    return new, t


def failed(kind: ProbeKind, at: datetime, revision: str) -> list[ProbeObservation]:
    return [obs_for(kind, False, at, revision=revision, message="event tool_completed missing")]


@pytest.mark.parametrize("kind", GATED)
def test_three_failed_runs_at_zero_traffic_reject_within_seconds(kind: ProbeKind) -> None:
    sim = adopted()
    new, t = verifying_after_startup(sim)

    for run in range(1, 3):
        sim.tick(t + seconds(run), failed(kind, t + seconds(run), new))
        assert sim.status.phase is Phase.VERIFYING, f"rejected after {run} run(s)"
    decision = sim.tick(t + seconds(3), failed(kind, t + seconds(3), new))

    assert decision.status.phase is Phase.ROLLED_BACK
    assert decision.status.rollback_trigger is KIND_TRIGGER[kind]
    assert "3 consecutive runs at 0% traffic" in (decision.status.rollback_reason or "")
    assert dump(decision.status)["rollbackTrigger"] == KIND_TRIGGER[kind].value
    assert sim.replicas_of(sim.status.stable_revision) == 10 and sim.target.replicas == 0


def test_a_pass_in_between_restarts_the_count() -> None:
    sim = adopted()
    new, t = verifying_after_startup(sim)
    sim.tick(t + seconds(1), failed(ProbeKind.HEALTH, t + seconds(1), new))
    sim.tick(t + seconds(2), failed(ProbeKind.HEALTH, t + seconds(2), new))
    sim.tick(t + seconds(3), [obs_for(ProbeKind.HEALTH, True, t + seconds(3), revision=new)])
    sim.tick(t + seconds(4), failed(ProbeKind.HEALTH, t + seconds(4), new))

    assert sim.status.phase is Phase.VERIFYING
    assert sim.status.probes.health is not None
    assert sim.status.probes.health.consecutive_failures == 1


def test_failure_threshold_is_a_bounded_field_per_probe() -> None:
    sim = adopted(gate_spec(probes={"startup": {}, "health": {"failureThreshold": 1}}))
    new, t = verifying_after_startup(sim)

    decision = sim.tick(t + seconds(1), failed(ProbeKind.HEALTH, t + seconds(1), new))

    assert decision.status.phase is Phase.ROLLED_BACK
    for bad in (0, 101):
        with pytest.raises(ValueError, match=r"failureThreshold|failure_threshold"):
            parse_spec(
                {
                    "targetRef": {"name": "chat"},
                    "service": "chat",
                    "probes": {"websocket": {"failureThreshold": bad}},
                }
            )


def test_under_traffic_failed_runs_wait_for_the_duration() -> None:
    sim = adopted()
    new = sim.deploy("chat:2")
    sim.tick(STARTED)
    sim.tick(STARTED, passing(STARTED, new))
    t = STARTED + seconds(10)
    sim.tick(t)
    t += seconds(30)
    sim.tick(t, passing(t, new, GATED))
    assert sim.status.phase is Phase.PROGRESSING and sim.status.canary_weight > 0

    for run in range(1, 11):
        sim.tick(t + seconds(run), failed(ProbeKind.HEALTH, t + seconds(run), new))
    assert sim.status.phase is Phase.PROGRESSING  # 10 failed runs, 10 s: not 5 minutes

    late = t + seconds(1) + minutes(5)
    decision = sim.tick(late, failed(ProbeKind.HEALTH, late, new))
    assert decision.status.phase is Phase.ROLLED_BACK
    assert decision.status.rollback_trigger is Trigger.HEALTH_FAILING


def test_startup_failure_and_deadline_are_typed_and_cleared_by_the_next_revision() -> None:
    sim = adopted()
    new = sim.deploy("chat:2")
    sim.tick(STARTED)
    broken = obs_for(ProbeKind.STARTUP, False, STARTED, revision=new, final=True)
    assert sim.tick(STARTED, [broken]).status.rollback_trigger is Trigger.STARTUP_FAILED

    sim.deploy("chat:3")
    t = STARTED + seconds(5)
    assert sim.tick(t).status.rollback_trigger is None
    late = t + minutes(11)
    decision = sim.tick(late)
    assert decision.status.phase is Phase.BLOCKED
    assert decision.status.rollback_trigger is Trigger.PROGRESS_DEADLINE
