"""The adapter's calls against the real API server: ownership is a
precondition the API server checks in the same request, and the Service's
selector changes by exactly one key."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from rollout_helpers import TEAM_SELECTOR, GateWorld, chat_deployment, chat_service, gate, gate_spec

from deploymentgate.controller.gate import identity
from deploymentgate.k8s.api import Conflict, KubeApi, NotFound, load_client
from deploymentgate.k8s.builders import SERVING_LABEL, build_serving, serving_selector
from deploymentgate.k8s.revision import template_revision
from deploymentgate_devkit.sandbox import Sandbox


@pytest.fixture
async def api(cluster: Sandbox) -> AsyncIterator[KubeApi]:
    kube = KubeApi(await load_client(str(cluster.kubeconfig)))
    try:
        yield kube
    finally:
        await kube.close()


def setup(world: GateWorld) -> tuple[dict[str, Any], dict[str, Any]]:
    """The team's Deployment and Service, and a gate (whose uid owns what we build)."""
    world.apply(chat_deployment(version="v1", replicas=0), chat_service())
    world.apply(gate(gate_spec()))
    body = world.gate()
    team = world.deployment("chat")
    assert team is not None
    return body, team


async def test_owned_deployment_is_written_only_with_its_uid_and_owner(
    world: GateWorld, api: KubeApi
) -> None:
    gate_body, team = setup(world)
    template = team["spec"]["template"]
    revision = template_revision(template)
    body = build_serving(identity(gate_body).owner, "chat", template, revision, 0)
    await api.create_deployment(body)
    with pytest.raises(Conflict):  # the name is taken now
        await api.create_deployment(body)
    live = await api.read_deployment(world.namespace, f"chat-{revision}")
    uid, gate_uid = live["metadata"]["uid"], gate_body["metadata"]["uid"]
    assert template_revision(live["spec"]["template"]) == revision

    # Wrong object or wrong owner: refused by the API server, nothing changed.
    for wrong in ({"uid": "0" * 8, "gate_uid": gate_uid}, {"uid": uid, "gate_uid": "0" * 8}):
        with pytest.raises(Conflict):
            await api.scale_owned_deployment(world.namespace, f"chat-{revision}", 3, **wrong)
        with pytest.raises(Conflict):
            await api.converge_owned_deployment({**body}, **wrong)
    assert world.replicas(f"chat-{revision}") == 0

    await api.scale_owned_deployment(
        world.namespace, f"chat-{revision}", 1, uid=uid, gate_uid=gate_uid
    )
    assert world.replicas(f"chat-{revision}") == 1
    converged = build_serving(identity(gate_body).owner, "chat", template, revision, 2)
    await api.converge_owned_deployment(converged, uid=uid, gate_uid=gate_uid)
    after = world.deployment(f"chat-{revision}")
    assert after is not None and after["spec"]["replicas"] == 2
    assert after["metadata"]["labels"] == converged["metadata"]["labels"]
    listed = await api.list_deployments(world.namespace, "deploymentgate.dev/gate=chat")
    assert [d["metadata"]["name"] for d in listed] == [f"chat-{revision}"]

    with pytest.raises(Conflict):  # another object's uid: not deleted
        await api.delete_owned_deployment(world.namespace, f"chat-{revision}", uid="0" * 8)
    assert world.deployment(f"chat-{revision}") is not None
    await api.delete_owned_deployment(world.namespace, f"chat-{revision}", uid=uid)
    with pytest.raises(NotFound):
        await api.delete_owned_deployment(world.namespace, f"chat-{revision}", uid=uid)
    with pytest.raises(NotFound):
        await api.read_deployment(world.namespace, "nothing-here")


async def test_the_service_selector_gains_and_loses_exactly_one_key(
    world: GateWorld, api: KubeApi
) -> None:
    setup(world)
    before = world.get(f"/api/v1/namespaces/{world.namespace}/services/chat")
    key, value = serving_selector("chat")
    await api.set_service_selector_key(world.namespace, "chat", key, value)
    assert world.service_selector() == {**TEAM_SELECTOR, SERVING_LABEL: "chat"}
    read = await api.read_service(world.namespace, "chat")
    assert read["spec"]["selector"] == {**TEAM_SELECTOR, SERVING_LABEL: "chat"}
    await api.set_service_selector_key(world.namespace, "chat", key, None)
    after = world.get(f"/api/v1/namespaces/{world.namespace}/services/chat")
    assert after["spec"] == before["spec"], json.dumps([before["spec"], after["spec"]])
    with pytest.raises(NotFound):
        await api.set_service_selector_key(world.namespace, "missing", key, value)
