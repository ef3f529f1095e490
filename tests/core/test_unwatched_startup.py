"""A verification pod whose startup nobody watched is replaced, not waited on.

E.g. the operator restarted mid-verification and the pod finished its phases
meanwhile: its startup probe can only say "no data", so the gate would block
at the deadline. The core replaces the pod so the new one is watched from its
start.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime

import pytest
from gatesim import T0, Sim, adopted, gate_spec, minutes, obs_for, passing, seconds

from deploymentgate.core import (
    EnsureVerification,
    RemoveVerification,
    StartProbes,
    StopProbes,
    decide,
)
from deploymentgate.core.actions import Reason
from deploymentgate.models import Phase
from deploymentgate.observations import ProbeKind, ProbeObservation

STARTED = T0 + minutes(1)


def unwatched(at: datetime, revision: str | None, pod: str = "chat-verify-a") -> ProbeObservation:
    """What the startup probe reports for a pod already up when first polled."""
    base = obs_for(
        ProbeKind.STARTUP,
        None,
        at,
        revision=revision,
        target=pod,
        message="already started when first polled: phase order not observed",
    )
    return dataclasses.replace(base, not_observed=True)


def verifying(**spec: object) -> tuple[Sim, str]:
    sim = adopted(gate_spec(**spec) if spec else None)
    new = sim.deploy("chat:2")
    sim.tick(STARTED)
    assert sim.status.phase is Phase.VERIFYING and sim.verification.exists
    sim.events.clear()
    return sim, new


def test_unwatched_startup_replaces_the_verification_pod_and_says_why() -> None:
    sim, new = verifying()
    t = STARTED + seconds(20)

    decision = sim.tick(t, [unwatched(t, new)])

    assert decision.operations == [StopProbes(), RemoveVerification()]
    assert decision.status.phase is Phase.VERIFYING
    (event,) = decision.events
    assert event.reason is Reason.VERIFICATION_RESTARTED and event.type.value == "Normal"
    assert "chat-verify-a" in event.message and "chat-verify" in event.message
    assert decision.status.history[-1].reason == "VerificationRestarted"
    assert decision.status.message == event.message


def test_deciding_again_on_the_replacement_repeats_nothing() -> None:
    sim, new = verifying()
    t = STARTED + seconds(20)
    first = sim.tick(t, [unwatched(t, new)])
    call = sim.calls[-1]

    again = decide(call.spec, first.status, call.obs, call.now)

    assert again.events == []
    assert RemoveVerification() not in again.operations
    assert again.status.history == first.status.history


def test_the_replacement_is_recreated_probed_afresh_and_can_pass() -> None:
    sim, new = verifying()
    old = sim.verification
    t = STARTED + seconds(20)
    sim.tick(t, [unwatched(t, new)])
    assert not sim.verification.exists and sim.probing is None

    # The informer still shows the deleted Deployment: probing restarts (the prober
    # skips terminating pods), and nothing is removed or replaced again.
    sim.verification = old
    stale = sim.tick(t + seconds(1))
    assert [type(a) for a in stale.operations] == [StartProbes] and stale.events == []

    sim.verification = dataclasses.replace(old, exists=False)
    recreated = sim.tick(t + seconds(2))
    assert [type(a) for a in recreated.operations] == [EnsureVerification]

    watched = t + seconds(10)
    sim.tick(watched, passing(watched, new))
    assert sim.status.phase is Phase.PROGRESSING
    assert "VerificationRestarted" in [h.reason for h in sim.status.history]


def test_replacing_does_not_extend_the_deadline() -> None:
    sim, new = verifying()
    t = STARTED + seconds(20)
    sim.tick(t, [unwatched(t, new)])
    sim.settle(t + seconds(1))

    late = STARTED + minutes(10)
    decision = sim.tick(late, [unwatched(late, new, pod="chat-verify-b")])

    assert decision.status.phase is Phase.BLOCKED
    assert Reason.VERIFICATION_RESTARTED not in [e.reason for e in decision.events]


Case = Callable[[Sim, str, datetime], list[ProbeObservation]]


def _startup_passed_before(sim: Sim, new: str, t: datetime) -> list[ProbeObservation]:
    sim.tick(t - seconds(5), [obs_for(ProbeKind.STARTUP, True, t - seconds(5), revision=new)])
    return [unwatched(t, new)]


def _progressing(sim: Sim, new: str, t: datetime) -> list[ProbeObservation]:
    sim.tick(t - seconds(5), passing(t - seconds(8), new))
    assert sim.status.phase is Phase.PROGRESSING
    return [unwatched(t, new, pod="chat-7d9-x")]


# Each: (spec overrides, what arrives) -> the pod stays.
KEPT: dict[str, tuple[dict[str, object], Case]] = {
    "plain no data is waited on": (
        {},
        lambda sim, new, t: [obs_for(ProbeKind.STARTUP, None, t, revision=new)],
    ),
    "another revision's pod": ({}, lambda sim, new, t: [unwatched(t, "0ther")]),
    "a result without a revision": ({}, lambda sim, new, t: [unwatched(t, None)]),
    "startup already passed": ({}, _startup_passed_before),
    "canary pods while traffic moves": ({}, _progressing),
    "startup probe not configured": (
        {"probes": {"startup": None}},
        lambda sim, new, t: [unwatched(t, new)],
    ),
}


@pytest.mark.parametrize("case", list(KEPT))
def test_pod_is_kept_when_no_unwatched_startup_blocks_verification(case: str) -> None:
    overrides, arriving = KEPT[case]
    sim, new = verifying(**overrides)
    t = STARTED + seconds(20)
    results = arriving(sim, new, t)

    decision = sim.tick(t, results)

    assert RemoveVerification() not in decision.operations
    assert StopProbes() not in decision.operations
    assert Reason.VERIFICATION_RESTARTED not in [e.reason for e in decision.events]


def test_replacements_are_bounded_then_the_gate_blocks_and_says_why() -> None:
    """Issue 13: an unbounded rule replaced the pod every 2 s until progressDeadline."""
    from deploymentgate.core.verification import MAX_UNWATCHED_RESTARTS
    from deploymentgate.models import Trigger

    sim, new = verifying()
    t = STARTED + seconds(5)
    for n in range(MAX_UNWATCHED_RESTARTS):
        decision = sim.tick(t, [unwatched(t, new, pod=f"chat-verify-{n}")])
        assert RemoveVerification() in decision.operations
        assert f"({n + 1}/{MAX_UNWATCHED_RESTARTS})" in decision.events[0].message
        sim.settle(t + seconds(1))
        t += seconds(3)

    decision = sim.tick(t, [unwatched(t, new, pod="chat-verify-last")])

    assert t < STARTED + minutes(1)  # long before the 10m deadline
    assert decision.status.phase is Phase.BLOCKED
    assert decision.status.rollback_trigger is Trigger.STARTUP_UNOBSERVED
    assert "not observed from the first phase" in decision.status.message
    assert Reason.VERIFICATION_RESTARTED not in [e.reason for e in decision.events]
    assert decision.status.probes.startup is not None
    assert decision.status.probes.startup.restarts == MAX_UNWATCHED_RESTARTS
