"""`spec.requires` across namespaces, as users see it (issue 9, item 6).

A gate in one namespace names a gate in another; until that gate lists the
first namespace in its `spec.dependents`, the requirement reads "not found"
and nothing of the other gate (its phase, its images) shows. With consent the
requirement reads the other gate's phase, as it would in the same namespace.
"""

from __future__ import annotations

import pytest
from rollout_helpers import (
    MakeWorld,
    StartOperator,
    chat_deployment,
    chat_service,
    gate,
    gate_spec,
    passes,
    wait_passes,
    wait_until,
)

pytestmark = pytest.mark.timeout(300)


def test_another_namespaces_gate_is_required_only_with_its_consent(
    make_world: MakeWorld, start_operator: StartOperator
) -> None:
    staging, prod = make_world(), make_world()
    # staging's gate guards a Deployment that does not exist: it sits Blocked,
    # with a message naming it; none of that may reach prod without consent.
    staging.apply(gate(gate_spec()))
    prod.apply(chat_deployment(version="v1", replicas=2), chat_service())
    operator = start_operator(staging.namespace, prod.namespace)
    required = f"{staging.namespace}/chat"
    prod.apply(gate(gate_spec(requires=[{"gate": required, "sameImage": False}])))
    assert staging.wait_phase("Blocked", 60)["phase"] == "Blocked"
    prod.wait_phase("Idle", 90)

    prod.set_version("v2")
    waiting = prod.wait_phase("AwaitingApproval", 120)
    assert f"gate {required} (not found)" in waiting["message"], waiting["message"]
    assert "Blocked" not in waiting["message"]
    assert prod.serving_versions() == {"v1": 2}  # no traffic moved

    # Consent to a different namespace does not count ...
    # prod's gate is woken by the change of the gate it requires and looks again;
    # it awaits approval, so it also ticks: its next tick certainly reads the new
    # index entry (the wake may come a moment before the entry is stored).
    seen = passes(operator, "required-gate")
    staging.apply(gate({**gate_spec(), "dependents": [{"namespace": "somewhere-else"}]}))
    wait_passes(operator, after=seen, cause="required-gate")
    wait_passes(operator, after=passes(operator, "tick"), cause="tick")
    message = prod.status()["message"]
    assert f"gate {required} (not found)" in message and "Blocked" not in message, message
    # ... consent to prod's namespace does.
    staging.apply(gate({**gate_spec(), "dependents": [{"namespace": prod.namespace}]}))

    def sees_blocked() -> str | None:
        message = str(prod.status().get("message"))
        return message if f"gate {required} (is Blocked)" in message else None

    wait_until(sees_blocked, 30, describe=lambda: str(prod.status()), what="consent seen")
    assert prod.status()["phase"] == "AwaitingApproval"
