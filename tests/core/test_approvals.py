"""Sign-off (seed §10) and staging-first requirements (seed §8).

A sign-off counts only for the revision under test, from someone the gate's
spec.approvals gives the role to, and only while the admission policy that
checked it is in force.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from gatesim import (
    T0,
    Sim,
    adopted,
    approvals,
    gate_spec,
    minutes,
    obs_for,
    passing,
    seconds,
    sign_off,
    template,
)
from pydantic import ValidationError

from deploymentgate.core import EnsureServing
from deploymentgate.core.actions import Reason
from deploymentgate.core.policy_state import POLICY_SETTLE, PolicyState
from deploymentgate.models import GateStatus, Phase, parse_spec
from deploymentgate.observations import ProbeKind

SIGN_OFF = ["engineering-lead", "qa", "product-owner", "devops"]


def verified(sim: Sim) -> tuple[str, datetime]:
    new = sim.deploy("chat:2")
    t = T0 + minutes(1)
    sim.tick(t)
    sim.tick(t, passing(t, new))
    return new, t + seconds(5)


def test_verified_revision_waits_for_every_role_at_zero_traffic() -> None:
    sim = adopted(spec=gate_spec(approvals=approvals(*SIGN_OFF)))
    new, t = verified(sim)

    assert sim.status.phase is Phase.AWAITING_APPROVAL
    assert sim.reasons()[-1] == "AwaitingApproval"
    assert "sign-off by engineering-lead, qa, product-owner, devops" in sim.status.message
    assert "kubectl gate approve <gate> --role <role>" in sim.status.message
    assert sim.target.replicas == 0 and sim.verification.exists
    assert new not in sim.serving  # verified, but no serving pod before the sign-off

    sim.sign_offs = [sign_off("qa", new, t), sign_off("devops", new, t)]
    decision = sim.tick(t)
    assert decision.status.phase is Phase.AWAITING_APPROVAL
    assert "sign-off by engineering-lead, product-owner" in decision.status.message
    assert [(s.role, s.approver) for s in decision.status.sign_offs] == [
        ("devops", "devops-person"),
        ("qa", "qa-person"),
    ]


def test_every_role_signed_off_for_this_revision_starts_the_steps() -> None:
    sim = adopted(spec=gate_spec(approvals=approvals(*SIGN_OFF)))
    new, t = verified(sim)
    sim.sign_offs = [sign_off(role, new, t) for role in SIGN_OFF]

    decision = sim.tick(t)

    assert decision.status.phase is Phase.PROGRESSING and decision.status.step == 0
    assert [e.reason for e in decision.events] == [Reason.APPROVED]
    assert EnsureServing(new, template("chat:2"), 1) in decision.operations
    shown = decision.status.sign_offs
    assert {s.role for s in shown} == set(SIGN_OFF)
    assert all(s.revision == new and s.time == t for s in shown)


def test_sign_off_of_another_revision_does_not_count() -> None:
    sim = adopted(spec=gate_spec(approvals=approvals("qa")))
    _, t = verified(sim)
    sim.sign_offs = [sign_off("qa", "0123456789", t)]

    decision = sim.tick(t)

    assert decision.status.phase is Phase.AWAITING_APPROVAL
    assert decision.status.sign_offs == []


def test_sign_off_never_carries_over_to_the_next_revision() -> None:
    sim = adopted(spec=gate_spec(approvals=approvals("qa")))
    first, t = verified(sim)
    sim.sign_offs = [sign_off("qa", first, t)]
    assert sim.tick(t).status.phase is Phase.PROGRESSING

    newer = sim.deploy("chat:3")
    t2 = t + seconds(10)
    sim.tick(t2)
    decision = sim.tick(t2, passing(t2, newer))

    assert decision.status.revision == newer
    assert decision.status.phase is Phase.AWAITING_APPROVAL
    assert decision.status.sign_offs == []


def test_only_holders_of_the_role_count() -> None:
    spec = gate_spec(
        approvals={
            "required": ["qa", "engineering-lead"],
            "roles": {"qa": {"groups": ["qa"]}, "engineering-lead": {"users": ["erin"]}},
        }
    )
    sim = adopted(spec=spec)
    new, t = verified(sim)
    sim.sign_offs = [
        sign_off("qa", new, t, approver="mallory", groups=["devs"]),  # not in group qa
        sign_off("engineering-lead", new, t, approver="mallory", groups=[]),  # not erin
        sign_off("release", new, t, approver="erin", groups=[]),  # no such role
    ]
    assert sim.tick(t).status.sign_offs == []

    sim.sign_offs += [
        sign_off("qa", new, t, approver="alice", groups=["qa", "devs"]),
        sign_off("engineering-lead", new, t, approver="erin", groups=[]),
    ]
    decision = sim.tick(t)

    assert decision.status.phase is Phase.PROGRESSING
    assert {(s.role, s.approver) for s in decision.status.sign_offs} == {
        ("qa", "alice"),
        ("engineering-lead", "erin"),
    }


def test_one_sign_off_per_role_the_earliest_is_shown() -> None:
    sim = adopted(spec=gate_spec(approvals=approvals("qa", "devops")))
    new, t = verified(sim)
    sim.sign_offs = [
        sign_off("qa", new, t + seconds(1), approver="bob"),
        sign_off("qa", new, t, approver="alice"),
    ]

    decision = sim.tick(t + seconds(2))

    assert decision.status.phase is Phase.AWAITING_APPROVAL
    assert [(s.role, s.approver) for s in decision.status.sign_offs] == [("qa", "alice")]
    assert "sign-off by devops" in decision.status.message


def test_without_the_admission_policy_no_sign_off_counts_and_the_gate_says_why() -> None:
    sim = adopted(spec=gate_spec(approvals=approvals("qa")))
    new, t = verified(sim)
    sim.sign_off_policy = PolicyState(
        False, "the admission policy gateapprovals.rollout.deploymentgate.dev is not installed"
    )
    sim.sign_offs = [sign_off("qa", new, t)]

    decision = sim.tick(t)

    assert decision.status.phase is Phase.AWAITING_APPROVAL
    assert decision.status.sign_offs == []
    assert (
        "no sign-off counts: the admission policy gateapprovals.rollout.deploymentgate.dev"
        " is not installed" in decision.status.message
    )


def test_sign_offs_older_than_the_policy_do_not_count() -> None:
    """Made before the policy was enforced, nobody checked them."""
    sim = adopted(spec=gate_spec(approvals=approvals("qa")))
    new, t = verified(sim)
    sim.sign_off_policy = PolicyState(True, since=t)
    sim.sign_offs = [sign_off("qa", new, t - seconds(30), approver="early")]
    assert sim.tick(t).status.phase is Phase.AWAITING_APPROVAL

    sim.sign_offs.append(sign_off("qa", new, t + POLICY_SETTLE, approver="late"))
    decision = sim.tick(t + POLICY_SETTLE)

    assert decision.status.phase is Phase.PROGRESSING
    assert [s.approver for s in decision.status.sign_offs] == ["late"]


def test_sign_offs_older_than_the_gate_were_for_another_gate_of_that_name() -> None:
    sim = adopted(spec=gate_spec(approvals=approvals("qa")))
    new, t = verified(sim)
    sim.sign_offs = [sign_off("qa", new, t - seconds(1))]
    sim.created = t
    assert sim.tick(t).status.phase is Phase.AWAITING_APPROVAL

    sim.sign_offs.append(sign_off("qa", new, t, approver="again"))
    assert sim.tick(t).status.phase is Phase.PROGRESSING


def test_a_holder_who_lost_the_role_no_longer_counts() -> None:
    spec = gate_spec(approvals={"required": ["qa"], "roles": {"qa": {"users": ["alice"]}}})
    sim = adopted(spec=spec)
    new, t = verified(sim)
    sim.sign_offs = [sign_off("qa", new, t, approver="alice", groups=[])]
    sim.spec = gate_spec(approvals={"required": ["qa"], "roles": {"qa": {"users": ["bob"]}}})

    assert sim.tick(t).status.phase is Phase.AWAITING_APPROVAL


@pytest.mark.parametrize(
    ("approvals_spec", "error"),
    [
        ({"required": ["qa"]}, "required roles qa are not defined in approvals.roles"),
        ({"required": ["qa"], "roles": {"qa": {}}}, "a role needs at least one user or group"),
        ({"roles": {"Q A": {"users": ["x"]}}}, "role names are lowercase DNS labels"),
        ({"required": ["qa", "qa"], "roles": {"qa": {"users": ["x"]}}}, "a role twice"),
    ],
)
def test_unusable_approvals_are_refused_naming_the_problem(
    approvals_spec: dict[str, object], error: str
) -> None:
    raw = gate_spec().model_dump(mode="json", by_alias=True, exclude_none=True)
    with pytest.raises(ValidationError, match=error):
        parse_spec({**raw, "approvals": approvals_spec})


def test_approved_but_failing_revision_does_not_move() -> None:
    sim = adopted(spec=gate_spec(approvals=approvals("qa")))
    new, t = verified(sim)
    sim.sign_offs = [sign_off("qa", new, t)]

    decision = sim.tick(t, [obs_for(ProbeKind.HEALTH, False, t, revision=new)])

    assert decision.status.phase is Phase.AWAITING_APPROVAL
    assert "health probe failing" in decision.status.message


def test_triggers_still_apply_while_awaiting_approval() -> None:
    sim = adopted(spec=gate_spec(approvals=approvals("qa")))
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
