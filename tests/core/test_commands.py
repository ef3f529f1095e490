"""People's requests (kubectl gate abort / retry / promote): each acts once,
only on the revision it names, and none lets an unverified revision serve."""

from __future__ import annotations

from datetime import datetime

from gatesim import T0, Sim, adopted, gate_spec, minutes, passing, rev, seconds
from test_rollback import at_step, health

from deploymentgate.core.commands import Verb
from deploymentgate.models import Phase, Trigger

STABLE = rev("chat:1")


def ask(sim: Sim, verb: Verb, revision: str, token: str = "t1") -> None:
    sim.commands[verb.annotation] = f"{revision}/{token}"


def verifying(sim: Sim) -> tuple[str, datetime]:
    new = sim.deploy("chat:2")
    t = T0 + minutes(1)
    sim.tick(t)
    assert sim.status.phase is Phase.VERIFYING
    sim.events.clear()
    return new, t + seconds(1)


def test_abort_during_a_step_rolls_back_at_once_with_trigger_aborted() -> None:
    sim = adopted()
    new, t = at_step(sim, 1)
    assert sim.replicas_of(new) > 0

    ask(sim, Verb.ABORT, new)
    sim.tick(t)

    assert sim.status.phase is Phase.ROLLED_BACK
    assert sim.status.rollback_trigger is Trigger.ABORTED
    assert "aborted on request" in sim.status.message
    assert sim.status.commands.abort == f"{new}/t1"
    assert "RolledBack" in sim.reasons()
    sim.settle(t + seconds(1))
    assert sim.replicas_of(new) == 0  # the canary is out
    assert sim.replicas_of(STABLE) == 10


def test_a_request_left_on_the_gate_acts_once() -> None:
    sim = adopted()
    new, t = verifying(sim)
    ask(sim, Verb.ABORT, new)
    sim.tick(t)
    assert sim.status.phase is Phase.ROLLED_BACK

    ask(sim, Verb.RETRY, new)
    sim.tick(t + seconds(1))
    assert sim.phase() is Phase.VERIFYING
    sim.events.clear()
    # Both annotations stay on the object; neither acts again.
    for i in range(3):
        sim.tick(t + seconds(2 + i))
    assert sim.phase() is Phase.VERIFYING
    assert "RolledBack" not in sim.reasons() and "Retried" not in sim.reasons()


def test_retry_verifies_a_rolled_back_revision_again_from_zero_percent() -> None:
    sim = adopted()
    new, t = at_step(sim, 1)
    ask(sim, Verb.ABORT, new)
    sim.tick(t)
    sim.settle(t + seconds(1))
    assert sim.status.phase is Phase.ROLLED_BACK
    # Without a request the gate holds (the Deployment did not change).
    sim.tick(t + minutes(5))
    assert sim.status.phase is Phase.ROLLED_BACK

    ask(sim, Verb.RETRY, new)
    t += minutes(6)
    sim.tick(t)
    assert sim.phase() is Phase.VERIFYING
    assert sim.status.revision == new
    assert sim.status.rollback_trigger is None
    assert sim.status.canary_weight == 0
    assert sim.replicas_of(new) == 0  # at 0% traffic until verified again
    assert "Retried" in sim.reasons()
    sim.tick(t + seconds(5), passing(t + seconds(5), new))
    sim.tick(t + seconds(10))
    assert sim.phase() is Phase.PROGRESSING


def test_requests_naming_another_revision_or_malformed_are_ignored_with_a_warning() -> None:
    sim = adopted()
    new, t = verifying(sim)

    ask(sim, Verb.ABORT, rev("chat:9"))
    sim.tick(t)
    assert sim.status.phase is Phase.VERIFYING
    assert sim.events[-1].reason == "CommandIgnored"
    assert f"names revision {rev('chat:9')}" in sim.events[-1].message

    sim.commands[Verb.ABORT.annotation] = "not a request"
    sim.tick(t + seconds(1))
    assert sim.status.phase is Phase.VERIFYING
    assert "is not <revision>/<token>" in sim.events[-1].message
    assert new


def test_promote_never_skips_verification_or_sign_offs() -> None:
    sim = adopted()
    new, t = verifying(sim)
    ask(sim, Verb.PROMOTE_FULL, new)
    sim.tick(t)
    assert sim.status.phase is Phase.VERIFYING
    assert "not verified yet" in sim.events[-1].message
    assert sim.replicas_of(new) == 0

    gated = adopted(gate_spec(approvals={"required": ["qa"], "roles": {"qa": {"groups": ["qa"]}}}))
    new, t = verifying(gated)
    gated.tick(t, passing(t, new))
    gated.tick(t + seconds(5))
    assert gated.status.phase is Phase.AWAITING_APPROVAL
    ask(gated, Verb.PROMOTE_FULL, new)
    gated.tick(t + seconds(6))
    assert gated.status.phase is Phase.AWAITING_APPROVAL
    assert "waits for sign-offs" in gated.events[-1].message


def test_promote_skips_one_step_and_promote_full_every_step() -> None:
    sim = adopted()
    new, t = at_step(sim, 0)
    ask(sim, Verb.PROMOTE, new)
    sim.tick(t)
    assert sim.status.step == 1
    assert "PromoteRequested" in sim.reasons()

    ask(sim, Verb.PROMOTE_FULL, new, "t2")
    sim.tick(t + seconds(1))
    sim.settle(t + seconds(2))
    assert sim.status.phase is Phase.PROMOTED
    assert sim.status.stable_revision == new
    assert sim.replicas_of(new) == 10 and sim.replicas_of(STABLE) == 0


def test_promote_refused_while_a_gated_probe_fails() -> None:
    sim = adopted()
    new, t = at_step(sim, 0)
    sim.tick(t, health(False, t, new, "503"))
    ask(sim, Verb.PROMOTE_FULL, new)
    sim.tick(t + seconds(1))
    assert sim.status.phase is Phase.PROGRESSING
    assert sim.events[-1].reason == "CommandIgnored"
    assert "health probe failing (503)" in sim.events[-1].message
