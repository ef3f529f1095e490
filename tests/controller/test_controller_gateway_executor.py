"""The executor's Gateway API actions (router gatewayAPI), against a fake API that keeps
routes and Services in memory and answers a stale write as the API server would."""

from __future__ import annotations

import copy
from typing import Any, cast

import jsonpatch
import pytest

from deploymentgate.controller.executor import Executor
from deploymentgate.controller.gate import identity
from deploymentgate.controller.workloads import ServiceInfo
from deploymentgate.controller.world import World
from deploymentgate.core.routers.gateway import (
    EnsureBackends,
    RemoveBackends,
    RestoreRoutes,
    SetRouteWeights,
)
from deploymentgate.k8s.api import Conflict, KubeApi, NotOwned
from deploymentgate.k8s.builders import REVISION_LABEL

NS = "shop"
GATE = {
    "metadata": {"name": "chat", "namespace": NS, "uid": "uid-gate"},
    "spec": {
        "targetRef": {"kind": "Deployment", "name": "chat"},
        "service": "chat",
        "traffic": {"router": "gatewayAPI", "httpRouteSelector": {"team": "chat"}},
    },
}
ME = identity(GATE)


def http_route(name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "resourceVersion": "1", "labels": labels},
        "spec": {"rules": [{"backendRefs": [{"name": "chat", "port": 80}]}]},
    }


class FakeApi:
    """Routes by name; a patch whose resourceVersion test fails raises Conflict, and
    `race` writes that many other changes just before our patches land."""

    def __init__(self, *routes: dict[str, Any]) -> None:
        self.routes = {r["metadata"]["name"]: r for r in routes}
        self.race = 0
        self.lists = 0
        self.calls: list[tuple[str, Any]] = []

    async def list_custom_objects(
        self, group: str, version: str, namespace: str, plural: str
    ) -> list[dict[str, Any]]:
        assert (group, plural) == ("gateway.networking.k8s.io", "httproutes")
        self.lists += 1
        return [copy.deepcopy(r) for r in self.routes.values()]

    async def patch_custom_object(
        self,
        group: str,
        version: str,
        namespace: str,
        plural: str,
        name: str,
        ops: list[dict[str, Any]],
    ) -> None:
        assert (group, plural) == ("gateway.networking.k8s.io", "httproutes")
        route = self.routes[name]
        if self.race:
            self.race -= 1
            route["metadata"]["resourceVersion"] = str(
                int(route["metadata"]["resourceVersion"]) + 1
            )
        try:
            patched = jsonpatch.apply_patch(route, ops)
        except jsonpatch.JsonPatchTestFailed as exc:
            raise Conflict(422, "test failed") from exc
        patched["metadata"]["resourceVersion"] = str(int(route["metadata"]["resourceVersion"]) + 1)
        self.routes[name] = patched

    async def read_service(self, namespace: str, name: str) -> dict[str, Any]:
        return {"spec": {"ports": [{"name": "web", "port": 80, "targetPort": 8000}]}}

    def __getattr__(self, method: str) -> Any:
        async def record(*args: Any, **kwargs: Any) -> None:
            self.calls.append((method, {"args": args, **kwargs}))

        return record


async def run(api: FakeApi, action: Any, world: World | None = None) -> None:
    await Executor(cast(KubeApi, api)).apply(action, gate=ME, world=world or World())


async def test_weights_go_to_every_selected_route_and_only_those() -> None:
    api = FakeApi(http_route("a", {"team": "chat"}), http_route("b", {"team": "other"}))
    await run(api, SetRouteWeights(90, 10))
    refs = api.routes["a"]["spec"]["rules"][0]["backendRefs"]
    assert [(r["name"], r["weight"]) for r in refs] == [("chat-stable", 90), ("chat-canary", 10)]
    assert api.routes["b"]["spec"]["rules"][0]["backendRefs"] == [{"name": "chat", "port": 80}]
    await run(api, RestoreRoutes())
    assert api.routes["a"]["spec"] == http_route("a", {})["spec"]
    assert "annotations" not in api.routes["a"]["metadata"]


async def test_a_route_written_meanwhile_is_read_again_and_retried() -> None:
    api = FakeApi(http_route("a", {"team": "chat"}))
    api.race = 2
    await run(api, SetRouteWeights(99, 1))
    assert api.lists == 3
    weights = [r["weight"] for r in api.routes["a"]["spec"]["rules"][0]["backendRefs"]]
    assert weights == [99, 1]
    api.race = 3
    with pytest.raises(Conflict):
        await run(api, SetRouteWeights(50, 50))


async def test_backends_are_created_when_absent_and_repointed_only_when_owned() -> None:
    api = FakeApi()
    await run(api, EnsureBackends("r1", "r2"))
    created = [c[1]["args"][0] for c in api.calls if c[0] == "create_service"]
    assert [(s["metadata"]["name"], s["spec"]["selector"][REVISION_LABEL]) for s in created] == [
        ("chat-stable", "r1"),
        ("chat-canary", "r2"),
    ]
    assert created[0]["spec"]["ports"] == [{"name": "web", "port": 80, "targetPort": 8000}]

    owned = ServiceInfo("chat-stable", NS, {REVISION_LABEL: "r1"}, "s1", "uid-gate")
    theirs = ServiceInfo("chat-canary", NS, {REVISION_LABEL: "r2"}, "s2", "someone")
    world = World(services={(NS, "chat-stable"): [owned], (NS, "chat-canary"): [theirs]})
    api = FakeApi()
    with pytest.raises(NotOwned):
        await run(api, EnsureBackends("r2", "r2"), world)
    assert [c[0] for c in api.calls] == ["set_owned_service_selector"]
    api = FakeApi()
    await run(api, RemoveBackends(), world)
    # Only the Service the gate owns goes; the foreign one at its name stays.
    assert [(c[0], c[1]["args"][1], c[1]["uid"]) for c in api.calls] == [
        ("delete_owned_service", "chat-stable", "s1")
    ]
