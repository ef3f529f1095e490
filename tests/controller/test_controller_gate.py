"""A pass parses its gate once, at its entry (issue 18, item 3): below it, the
executor, the adapters and the builders get the typed gate, never the body, and
the Events still name the gate exactly as the body did."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

import kopf
import pytest

from deploymentgate.controller import gate as gate_module
from deploymentgate.controller.executor import Executor
from deploymentgate.controller.gate import GateIdentity, identity, parse_gate
from deploymentgate.controller.reconcile import GateReconciler
from deploymentgate.controller.world import World
from deploymentgate.core import Action
from deploymentgate.core.commands import Verb
from deploymentgate.k8s.api import KubeApi
from deploymentgate.metrics import GateMetrics

NS = "shop"
ABORT = Verb.ABORT.annotation


class Recorder:
    """Status writes land; created Deployments are kept."""

    def __init__(self) -> None:
        self.created: list[dict[str, Any]] = []

    async def patch_gate_status(
        self, namespace: str, name: str, resource_version: str, patch: dict[str, Any]
    ) -> dict[str, Any]:
        return {"metadata": {"resourceVersion": str(int(resource_version) + 1)}}

    async def create_deployment(self, body: dict[str, Any]) -> None:
        self.created.append(body)


async def test_a_pass_parses_the_gate_once_and_passes_no_body_below(
    monkeypatch: pytest.MonkeyPatch, adopting: tuple[dict[str, Any], World]
) -> None:
    body, world = adopting
    parsed: list[str] = []
    real_identity = gate_module.identity

    def counting(raw: Any) -> GateIdentity:
        parsed.append(str(raw["metadata"]["name"]))
        return real_identity(raw)

    monkeypatch.setattr(gate_module, "identity", counting)
    handed: list[object] = []
    real_apply = Executor.apply

    async def apply(self: Executor, action: Action, *, gate: GateIdentity, world: World) -> None:
        handed.append(gate)
        await real_apply(self, action, gate=gate, world=world)

    monkeypatch.setattr(Executor, "apply", apply)
    posted: list[tuple[kopf.Body, str]] = []
    monkeypatch.setattr(
        kopf, "event", lambda obj, *, type, reason, message: posted.append((obj, reason))
    )
    api = Recorder()
    reconciler = GateReconciler(NS, "chat", cast(KubeApi, api), GateMetrics())

    await reconciler.reconcile(body, world)

    assert parsed == ["chat"]  # once per pass, not once per use or per action
    assert handed and all(isinstance(g, GateIdentity) for g in handed)
    assert api.created, "the adopting pass creates the serving Deployment"
    for created in api.created:
        (owner,) = created["metadata"]["ownerReferences"]
        assert (owner["name"], owner["uid"], owner["controller"]) == ("chat", "uid-gate", True)
        assert created["metadata"]["namespace"] == NS
    assert [reason for _, reason in posted] == ["Adopted"]
    whole = kopf.build_object_reference(kopf.Body(cast(kopf.RawBody, body)))
    assert all(kopf.build_object_reference(obj) == whole for obj, _ in posted)
    await reconciler.aclose()


def test_the_parsed_gate_holds_what_the_pass_reads_of_the_body(
    adopting: tuple[dict[str, Any], World],
) -> None:
    body, _ = adopting
    body = {
        **body,
        "metadata": {
            **body["metadata"],
            "generation": 3,
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "annotations": {ABORT: "now", "other": "x"},
        },
        "status": {"phase": "Progressing", "revision": "abc"},
    }
    gate = parse_gate(body)
    assert gate.me == identity(body) and gate.me.target == "chat"
    assert gate.spec is not None and gate.spec_error is None
    assert gate.status.revision == "abc" and gate.stored_status == body["status"]
    assert gate.resource_version == "1" and gate.generation == 3
    assert gate.created == datetime(2026, 1, 1, tzinfo=UTC)
    assert gate.deletion_timestamp is None
    assert dict(gate.commands) == {ABORT: "now"}  # the request annotations only
    assert (gate.api_version, gate.kind) == (body["apiVersion"], body["kind"])


def test_a_bad_spec_and_an_unreadable_status_are_parsed_not_raised() -> None:
    body = {
        "metadata": {"name": "g", "namespace": NS, "uid": "u"},
        "spec": {"targetRef": {"name": "chat"}},
        "status": {"phase": "NoSuchPhase"},
    }
    gate = parse_gate(body)
    assert gate.spec is None and gate.spec_error and gate.spec_error.startswith("spec.")
    assert gate.status == parse_gate({"metadata": body["metadata"]}).status  # read as empty
    assert gate.stored_status == {"phase": "NoSuchPhase"}  # the patch is computed against it
    assert gate.resource_version is None
