"""Cross-namespace `spec.requires` only with the required gate's consent (issue 9, item 6).

A gate in namespace `prod` may wait on `staging/chat` only if that gate lists
`prod` in its `spec.dependents` (in the spirit of Gateway API's ReferenceGrant:
the owner of the referenced object consents). Without it the requirement reads
exactly like a gate that does not exist: no phase, no images leak across.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gatesim import T0, Sim, adopted, gate_spec, minutes, passing, seconds

from deploymentgate.core.requires import index_entry, required_gates
from deploymentgate.models import GateStatus, Phase, dump

STAGING_STATUS = GateStatus(phase=Phase.PROGRESSING, stable_images=["registry/secret-app:7"])


def verified_at(sim: Sim) -> tuple[str, datetime]:
    new = sim.deploy("chat:2")
    t = T0 + minutes(1)
    sim.tick(t)
    sim.tick(t, passing(t, new))
    return new, t + seconds(5)


def world(dependents: list[dict[str, Any]] | None, spec_extra: Any = None) -> dict[Any, Any]:
    spec: dict[str, Any] = {"targetRef": {"name": "chat"}, "service": "chat"}
    if dependents is not None:
        spec["dependents"] = dependents
    if spec_extra is not None:
        spec.update(spec_extra)
    return {("staging", "chat"): index_entry(spec, dump(STAGING_STATUS))}


def seen_from_prod(gates: dict[Any, Any], ref: str = "staging/chat") -> GateStatus | None:
    spec = gate_spec(requires=[{"gate": ref}])
    return required_gates(spec, "prod", "chat", gates)[ref]


def test_without_consent_another_namespace_sees_nothing() -> None:
    assert seen_from_prod(world(None)) is None
    assert seen_from_prod(world([])) is None


def test_consent_to_the_namespace_lets_every_gate_there_see_it() -> None:
    seen = seen_from_prod(world([{"namespace": "prod"}]))
    assert seen is not None and seen.phase is Phase.PROGRESSING


def test_consent_to_one_gate_is_for_that_gate_only() -> None:
    gates = world([{"namespace": "prod", "gate": "billing"}])
    assert seen_from_prod(gates) is None
    spec = gate_spec(requires=[{"gate": "staging/chat"}])
    seen = required_gates(spec, "prod", "billing", gates)["staging/chat"]
    assert seen is not None and seen.stable_images == ["registry/secret-app:7"]


def test_consent_to_another_namespace_does_not_count() -> None:
    assert seen_from_prod(world([{"namespace": "qa"}])) is None


def test_the_same_namespace_needs_no_consent() -> None:
    gates = {("prod", "staging-chat"): index_entry({}, dump(STAGING_STATUS))}
    spec = gate_spec(requires=[{"gate": "staging-chat"}, {"gate": "prod/staging-chat"}])
    seen = required_gates(spec, "prod", "chat", gates)
    assert seen["staging-chat"] is not None and seen["prod/staging-chat"] is not None


def test_a_required_gate_whose_spec_is_unreadable_consents_to_nothing() -> None:
    gates = world([{"namespace": "prod"}], {"traffic": {"steps": "many"}})
    assert seen_from_prod(gates) is not None  # the dependents list itself is fine
    gates = world([{"namespace": "PROD!"}])
    assert seen_from_prod(gates) is None
    gates = {("staging", "chat"): index_entry({"dependents": "prod"}, dump(STAGING_STATUS))}
    assert seen_from_prod(gates) is None


def test_an_unreadable_status_of_a_consenting_gate_reads_as_new() -> None:
    gates = {
        ("staging", "chat"): index_entry(
            {"dependents": [{"namespace": "prod"}]}, {"phase": "Nonsense", "step": -4}
        )
    }
    seen = seen_from_prod(gates)
    assert seen is not None and seen.phase is None


def test_the_waiting_message_leaks_neither_phase_nor_images() -> None:
    sim = adopted(spec=gate_spec(requires=[{"gate": "staging/chat"}]))
    sim.required_gates = required_gates(sim.spec, "prod", "chat", world(None))
    _, t = verified_at(sim)
    message = sim.tick(t).status.message
    assert "gate staging/chat (not found)" in message
    assert "Progressing" not in message and "secret-app" not in message

    sim.required_gates = required_gates(sim.spec, "prod", "chat", world([{"namespace": "prod"}]))
    message = sim.tick(t).status.message
    assert "gate staging/chat (is Progressing)" in message
