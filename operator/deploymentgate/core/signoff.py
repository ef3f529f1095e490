"""Seed §10 and §8: the sign-offs and required gates a verified revision waits for.

A sign-off counts only if all of these hold, so nobody can sign off for
someone else, in a role they do not hold, or for another revision:

- the admission policy that checked it at creation is in force
  (`Observations.sign_off_policy`), and the sign-off is younger than it;
- it is for the revision under test (`status.revision`) and younger than
  the gate (a deleted gate's sign-offs do not count for a new one);
- the gate's spec.approvals.roles gives its role to its approver, or to one
  of the groups admission confirmed the approver is in. This is checked
  again here, so a sign-off made before the gate existed, or before a holder
  lost the role, does not count.

One sign-off per role is enough; the earliest one is shown.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from deploymentgate.core.inputs import ObservedSignOff
from deploymentgate.core.policy_state import POLICY_SETTLE, PolicyState
from deploymentgate.core.run import Run
from deploymentgate.models import Approvals, Phase, SignOff

APPROVE_HINT = "kubectl gate approve <gate> --role <role>"


def holds(approvals: Approvals, sign_off: ObservedSignOff) -> bool:
    """Does the gate give the sign-off's role to its approver?"""
    role = approvals.roles.get(sign_off.role)
    if role is None:
        return False
    return sign_off.approver in role.users or bool(sign_off.groups & set(role.groups))


def counted(
    approvals: Approvals | None,
    revision: str | None,
    sign_offs: Iterable[ObservedSignOff],
    policy: PolicyState,
    gate_created: datetime | None = None,
) -> dict[str, ObservedSignOff]:
    """The sign-off that counts for each required role (roles without one are absent)."""
    if approvals is None or revision is None or not policy.installed:
        return {}
    out: dict[str, ObservedSignOff] = {}
    for s in sorted(sign_offs, key=lambda s: (s.created, s.name)):
        if s.revision != revision or s.role not in approvals.required or s.role in out:
            continue
        if policy.since is not None and s.created < policy.since + POLICY_SETTLE:
            continue
        if gate_created is not None and s.created < gate_created:
            continue
        if holds(approvals, s):
            out[s.role] = s
    return out


def sign_offs_status(run: Run) -> list[SignOff]:
    """status.signOffs: who signed off the revision under test, as which role, when."""
    spec, st, obs = run.spec, run.status, run.obs
    found = counted(
        spec.approvals if spec else None,
        st.revision,
        obs.sign_offs,
        obs.sign_off_policy,
        obs.created,
    )
    return [
        SignOff(role=role, approver=s.approver, revision=s.revision, time=s.created, name=s.name)
        for role, s in sorted(found.items())
    ]


def sign_off_pending(run: Run) -> list[str]:
    """Approvals and required gates still missing before traffic may move."""
    st, spec, obs = run.status, run.gate_spec, run.obs
    out = []
    approvals = spec.approvals
    if approvals and approvals.required:
        found = counted(approvals, st.revision, obs.sign_offs, obs.sign_off_policy, obs.created)
        missing = [role for role in approvals.required if role not in found]
        if missing and not obs.sign_off_policy.installed:
            out.append(
                f"sign-off by {', '.join(missing)}; no sign-off counts:"
                f" {obs.sign_off_policy.problem}"
            )
        elif missing:
            out.append(f"sign-off by {', '.join(missing)} ({APPROVE_HINT})")
    for req in spec.requires:
        other = obs.required_gates.get(req.gate)
        if other is None:
            out.append(f"gate {req.gate} (not found)")
        elif other.phase not in (Phase.IDLE, Phase.PROMOTED):
            out.append(f"gate {req.gate} (is {other.phase.value if other.phase else 'new'})")
        elif req.same_image and sorted(other.stable_images) != sorted(st.images):
            out.append(f"gate {req.gate} to promote {', '.join(st.images) or 'the same images'}")
    return out
