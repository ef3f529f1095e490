"""The executor writes only what the gate owns, with its ownership as the API
call's precondition. The API is a recorder of calls (the real calls are
exercised on the cluster by tests/e2e and tests/shipping/test_rbac.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import pytest

from deploymentgate.controller.executor import Executor
from deploymentgate.controller.gate import identity
from deploymentgate.controller.workloads import summarize_deployment
from deploymentgate.controller.world import World
from deploymentgate.core import (
    EnsureServing,
    EnsureVerification,
    GateService,
    RemoveServing,
    RemoveVerification,
    ScaleServing,
    ScaleTarget,
)
from deploymentgate.k8s.api import KubeApi, NotFound, NotOwned
from deploymentgate.k8s.builders import SERVING_LABEL, build_serving, build_verification
from deploymentgate.k8s.revision import template_revision

NS = "shop"
GATE = {
    "metadata": {"name": "chat", "namespace": NS, "uid": "uid-gate"},
    "spec": {"targetRef": {"kind": "Deployment", "name": "chat"}, "service": "chat"},
}
ME = identity(GATE)
TEMPLATE = {
    "metadata": {"labels": {"app": "chat"}},
    "spec": {"containers": [{"name": "chat", "image": "chat:v1"}]},
}
REV = template_revision(TEMPLATE)


class RecordingApi:
    """Records each call the executor makes, as (method, arguments)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __getattr__(self, method: str) -> Any:
        async def record(*args: Any, **kwargs: Any) -> None:
            self.calls.append((method, {"args": args, **kwargs}))

        return record


def world(*bodies: dict[str, Any]) -> World:
    infos = [summarize_deployment(b) for b in bodies]
    owned: dict[str, list[str]] = {}
    for info in infos:
        if info.owner_uid:
            owned.setdefault(info.owner_uid, []).append(info.name)
    return World(deployments={(NS, i.name): [i] for i in infos}, owned=owned)


def with_uid(body: dict[str, Any], uid: str) -> dict[str, Any]:
    body["metadata"]["uid"] = uid
    return body


def foreign(body: dict[str, Any]) -> dict[str, Any]:
    del body["metadata"]["ownerReferences"]
    return body


async def run(action: Any, w: World) -> list[tuple[str, dict[str, Any]]]:
    api = RecordingApi()
    await Executor(cast(KubeApi, api)).apply(action, gate=ME, world=w)
    return api.calls


async def test_ensure_creates_when_absent_and_converges_only_its_own() -> None:
    (call,) = await run(EnsureServing(REV, TEMPLATE, 3), world())
    assert call[0] == "create_deployment"
    assert call[1]["args"][0] == build_serving(ME.owner, "chat", TEMPLATE, REV, 3)

    mine = with_uid(build_serving(ME.owner, "chat", TEMPLATE, REV, 1), "uid-s")
    (call,) = await run(EnsureServing(REV, TEMPLATE, 3), world(mine))
    assert call[0] == "converge_owned_deployment"
    assert call[1]["uid"] == "uid-s" and call[1]["gate_uid"] == "uid-gate"
    assert call[1]["args"][0]["spec"]["replicas"] == 3

    theirs = foreign(with_uid(build_verification(ME.owner, "chat", TEMPLATE, REV), "uid-x"))
    api = RecordingApi()
    with pytest.raises(NotOwned, match="chat-verify exists and is not owned by gate chat"):
        await Executor(cast(KubeApi, api)).apply(
            EnsureVerification(REV, TEMPLATE), gate=ME, world=world(theirs)
        )
    assert api.calls == []


async def test_scale_and_remove_act_on_the_owned_object_by_uid() -> None:
    mine = with_uid(build_serving(ME.owner, "chat", TEMPLATE, REV, 4), "uid-s")
    (call,) = await run(ScaleServing(REV, 0), world(mine))
    assert call == (
        "scale_owned_deployment",
        {"args": (NS, f"chat-{REV}", 0), "uid": "uid-s", "gate_uid": "uid-gate"},
    )
    (call,) = await run(RemoveServing(REV), world(mine))
    assert call == ("delete_owned_deployment", {"args": (NS, f"chat-{REV}"), "uid": "uid-s"})
    assert await run(RemoveServing(REV), world()) == []  # gone already
    with pytest.raises(NotFound):
        await run(ScaleServing(REV, 1), world())


async def test_a_deployment_at_our_name_that_we_do_not_own_is_never_touched() -> None:
    theirs = foreign(with_uid(build_serving(ME.owner, "chat", TEMPLATE, REV, 4), "uid-x"))
    # Not the gate's, so not a serving Deployment of the gate at all:
    with pytest.raises(NotFound):
        await run(ScaleServing(REV, 0), world(theirs))
    assert await run(RemoveServing(REV), world(theirs)) == []
    verify = foreign(with_uid(build_verification(ME.owner, "chat", TEMPLATE, REV), "uid-v"))
    with pytest.raises(NotOwned):
        await run(RemoveVerification(), world(verify))


async def test_the_service_gets_one_key_added_and_removed() -> None:
    (call,) = await run(GateService(True), world())
    assert call == ("set_service_selector_key", {"args": (NS, "chat", SERVING_LABEL, "chat")})
    (call,) = await run(GateService(False), world())
    assert call == ("set_service_selector_key", {"args": (NS, "chat", SERVING_LABEL, None)})


async def test_the_team_deployment_is_only_scaled() -> None:
    (call,) = await run(ScaleTarget(4), world())
    assert call == ("scale_deployment", {"args": (NS, "chat", 4)})


def test_recording_api_covers_every_executor_call() -> None:
    """Every method the recorder stands in for exists on the real KubeApi."""
    for name in (
        "create_deployment",
        "converge_owned_deployment",
        "scale_owned_deployment",
        "delete_owned_deployment",
        "scale_deployment",
        "set_service_selector_key",
        "set_deployment_template",
    ):
        assert callable(getattr(KubeApi, name)), name
    assert isinstance(GATE, Mapping)
