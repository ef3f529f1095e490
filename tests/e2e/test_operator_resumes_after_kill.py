"""The operator is SIGKILLed mid-rollout (no chance to tidy up) and started again:
the rollout resumes from the gate's status, never repeating or skipping a step."""

from __future__ import annotations

import time
from collections import Counter

from rollout_helpers import (
    GateWorld,
    GiveUp,
    StartOperator,
    chat_deployment,
    chat_service,
    gate,
    gate_spec,
    step_endpoints,
    template_version,
    wait_until,
)

REPLICAS = 4
STEPS = [25, 50, 100]
SPEC = gate_spec(traffic={"steps": STEPS, "stepDuration": "6s", "progressDeadline": "90s"})


def shifted_weights(messages: list[str]) -> list[int]:
    """`25% of traffic on revision ...` -> 25."""
    return [int(m.split("%", 1)[0]) for m in messages]


def event_reasons(world: GateWorld) -> Counter[str]:
    return Counter(e["reason"] for e in world.events())


def test_rollout_resumes_from_status_after_the_operator_is_killed_twice(
    world: GateWorld, start_operator: StartOperator
) -> None:
    world.apply(chat_deployment(version="v1", replicas=REPLICAS), chat_service())
    first = start_operator(world.namespace)
    world.apply(gate(SPEC))
    world.wait_phase("Idle", 60)
    world.set_version("v2")

    # Kill 1: during verification, once its Events and pod are out.
    wait_until(
        lambda: (
            world.status().get("phase") == "Verifying"
            and world.deployment("chat-verify") is not None
            and event_reasons(world)["VerificationStarted"] == 1
        ),
        30,
        describe=world.diagnostics,
        what="verification under way",
    )
    first.kill()
    second = start_operator(world.namespace)

    # Kill 2: in the middle of step 2 (50%), once its Event is out.
    def mid_step_two() -> dict[str, object] | None:
        st = world.status()
        if st.get("phase") in ("Promoting", "Promoted", "RolledBack", "Blocked"):
            raise GiveUp(f"step 2 passed unobserved: {st}")
        ready = st.get("step") == 1 and st.get("stepReadySince") and st.get("canaryWeight") == 50
        events = [e["message"] for e in world.events() if e["reason"] == "TrafficShifted"]
        return st if ready and shifted_weights(events) == [25, 50] else None

    before = wait_until(mid_step_two, 60, describe=world.diagnostics, what="step 2 in effect")
    second.kill()

    # Nobody is acting: traffic stays exactly where step 2 put it.
    at_step_two = step_endpoints(REPLICAS, 50)
    world.wait_endpoints(10, **at_step_two)
    time.sleep(2)  # the scenario: two seconds without any operator, nothing may move
    held = world.status()
    assert (held["phase"], held["step"], held["stepReadySince"]) == (
        "Progressing",
        1,
        before["stepReadySince"],
    )
    assert world.endpoint_versions() == Counter(at_step_two)

    third = start_operator(world.namespace)
    steps_seen: list[int] = []

    def promoted() -> bool:
        st = world.status()
        if st.get("step") is not None:
            steps_seen.append(int(st["step"]))
        if st.get("phase") in ("RolledBack", "Blocked", "Invalid"):
            raise GiveUp(f"rollout failed after the restart: {st}")
        return st.get("phase") == "Promoted"

    wait_until(promoted, 90, describe=world.diagnostics, what="Promoted after the restarts")
    assert steps_seen and min(steps_seen) >= 1, f"the restarted operator went back: {steps_seen}"
    assert steps_seen == sorted(steps_seen)

    status = world.status()
    shifted = [h["message"] for h in status["history"] if h["reason"] == "TrafficShifted"]
    assert shifted_weights(shifted) == STEPS, status["history"]
    events = world.events()
    event_shifts = [e["message"] for e in events if e["reason"] == "TrafficShifted"]
    assert shifted_weights(event_shifts) == STEPS, events
    reasons = Counter(e["reason"] for e in events)
    assert reasons["RevisionDetected"] == 1 and reasons["VerificationStarted"] == 1, reasons
    assert reasons["Promoted"] == 1, reasons

    serving = world.serving_of(status["revision"])
    assert serving is not None and template_version(serving) == "v2"
    wait_until(
        lambda: world.serving_versions() == {"v2": REPLICAS},
        30,
        describe=world.diagnostics,
        what="only the v2 serving Deployment left",
    )
    world.wait_endpoints(v2=REPLICAS)
    assert world.traffic(40) == Counter(v2=40)
    assert third.running
