"""Sign-off (seed §10) and staging-first requirements (seed §8)."""

from __future__ import annotations

from datetime import datetime

from gatesim import T0, Sim, adopted, gate_spec, minutes, obs_for, passing, seconds, template

from deploymentgate.core import EnsureServing, parse_approvers
from deploymentgate.core.actions import Reason
from deploymentgate.models import GateStatus, Phase
from deploymentgate.observations import ProbeKind

SIGN_OFF = ["engineering-lead", "qa", "product-owner", "devops"]


def verified(sim: Sim) -> tuple[str, datetime]:
    new = sim.deploy("chat:2")
    t = T0 + minutes(1)
    sim.tick(t)
    sim.tick(t, passing(t, new))
    return new, t + seconds(5)


def test_verified_revision_waits_for_every_approver_at_zero_traffic() -> None:
    sim = adopted(spec=gate_spec(approvals={"required": SIGN_OFF}))
    new, t = verified(sim)

    assert sim.status.phase is Phase.AWAITING_APPROVAL
    assert sim.reasons()[-1] == "AwaitingApproval"
    assert "approval by engineering-lead, qa, product-owner, devops" in sim.status.message
    assert f"deploymentgate.dev/approved-revision={new}" in sim.status.message
    assert sim.target.replicas == 0 and sim.verification.exists
    assert new not in sim.serving  # verified, but no serving pod before the sign-off

    sim.approved_by, sim.approved_revision = frozenset({"qa", "devops"}), new
    decision = sim.tick(t)
    assert decision.status.phase is Phase.AWAITING_APPROVAL
    assert "approval by engineering-lead, product-owner" in decision.status.message


def test_full_approval_for_this_revision_starts_the_steps() -> None:
    sim = adopted(spec=gate_spec(approvals={"required": SIGN_OFF}))
    new, t = verified(sim)
    sim.approved_by = parse_approvers("engineering-lead, qa,product-owner , devops")
    sim.approved_revision = new

    decision = sim.tick(t)

    assert decision.status.phase is Phase.PROGRESSING and decision.status.step == 0
    assert [e.reason for e in decision.events] == [Reason.APPROVED]
    assert EnsureServing(new, template("chat:2"), 1) in decision.operations


def test_approval_of_another_revision_does_not_count() -> None:
    sim = adopted(spec=gate_spec(approvals={"required": ["qa"]}))
    _, t = verified(sim)
    sim.approved_by, sim.approved_revision = frozenset({"qa"}), "0123456789"

    assert sim.tick(t).status.phase is Phase.AWAITING_APPROVAL


def test_approved_but_failing_revision_does_not_move() -> None:
    sim = adopted(spec=gate_spec(approvals={"required": ["qa"]}))
    new, t = verified(sim)
    sim.approved_by, sim.approved_revision = frozenset({"qa"}), new

    decision = sim.tick(t, [obs_for(ProbeKind.HEALTH, False, t, revision=new)])

    assert decision.status.phase is Phase.AWAITING_APPROVAL
    assert "health probe failing" in decision.status.message


def test_triggers_still_apply_while_awaiting_approval() -> None:
    sim = adopted(spec=gate_spec(approvals={"required": ["qa"]}))
    new, t = verified(sim)
    sim.tick(t, [obs_for(ProbeKind.HEALTH, False, t, revision=new)])

    decision = sim.tick(t + minutes(5))

    assert decision.status.phase is Phase.ROLLED_BACK


def staging(phase: Phase, images: list[str]) -> GateStatus:
    return GateStatus(phase=phase, stable_images=images)


def test_requires_waits_until_staging_promoted_the_same_images() -> None:
    sim = adopted(spec=gate_spec(requires=[{"gate": "staging/chat"}]))
    _, t = verified(sim)
    assert sim.status.phase is Phase.AWAITING_APPROVAL
    assert "gate staging/chat (not found)" in sim.status.message

    sim.required_gates = {"staging/chat": staging(Phase.PROGRESSING, ["chat:1"])}
    assert "gate staging/chat (is Progressing)" in sim.tick(t).status.message
    sim.required_gates = {"staging/chat": staging(Phase.PROMOTED, ["chat:1"])}
    assert "gate staging/chat to promote chat:2" in sim.tick(t).status.message

    sim.required_gates = {"staging/chat": staging(Phase.PROMOTED, ["chat:2"])}
    decision = sim.tick(t)
    assert decision.status.phase is Phase.PROGRESSING
    assert "cleared by its required gates" in decision.events[0].message


def test_requires_without_same_image_only_needs_a_settled_gate() -> None:
    spec = gate_spec(requires=[{"gate": "staging", "sameImage": False}])
    sim = adopted(spec=spec)
    sim.required_gates = {"staging": staging(Phase.IDLE, ["chat:0"])}

    verified(sim)

    assert sim.status.phase is Phase.PROGRESSING
