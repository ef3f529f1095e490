"""router gatewayAPI: the HTTPRoute edits and the gate's Services, pure (no cluster).

A route is edited by JSON patches of the managed rules' backendRefs only; what
the team wrote elsewhere must come out byte for byte the same, and restoring
gives the whole route back as written.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonpatch
import pytest

from deploymentgate.controller.gate import identity
from deploymentgate.controller.pods import PodInfo
from deploymentgate.controller.routers.gateway import gateway_state
from deploymentgate.controller.workloads import ServiceInfo
from deploymentgate.controller.world import World
from deploymentgate.k8s.builders import GATE_LABEL, REVISION_LABEL, ROLE_LABEL, OwnerRef
from deploymentgate.k8s.routes import (
    ORIGINALS_ANNOTATION,
    Backends,
    backend_names,
    build_backend_service,
    read_route,
    restore_patch,
    selected,
    weighted_patch,
)

B = Backends.of("shop", "chat")


def route(**extra_meta: Any) -> dict[str, Any]:
    """A route with a managed rule among rules, matches, filters and backends of its own."""
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "web", "namespace": "shop", "resourceVersion": "7", **extra_meta},
        "spec": {
            "parentRefs": [{"name": "edge"}],
            "hostnames": ["chat.example"],
            "rules": [
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/admin"}}],
                    "filters": [
                        {
                            "type": "RequestHeaderModifier",
                            "requestHeaderModifier": {"add": [{"name": "x-a", "value": "1"}]},
                        }
                    ],
                    "backendRefs": [{"name": "admin", "port": 8080}],
                },
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                    "backendRefs": [
                        {"name": "chat", "port": 80, "weight": 3},
                        {"name": "legacy", "port": 80, "weight": 1},
                    ],
                },
                {"backendRefs": [{"kind": "Service", "name": "chat", "port": 80}]},
            ],
        },
    }


def applied(doc: dict[str, Any], ops: list[dict[str, Any]]) -> dict[str, Any]:
    return jsonpatch.apply_patch(doc, ops)


def unmanaged(doc: dict[str, Any]) -> str:
    """Everything of the route but the managed rules' backendRefs, as bytes."""
    spec = copy.deepcopy(doc["spec"])
    for rule in spec["rules"][1:]:
        rule.pop("backendRefs")
    return json.dumps(spec, sort_keys=False)


def test_backend_services_are_named_for_the_service_and_fit_a_dns_label() -> None:
    assert backend_names("chat") == ("chat-stable", "chat-canary")
    long = "x" * 60
    stable, canary = backend_names(long)
    assert len(stable) <= 63 and len(canary) <= 63 and stable != canary
    assert backend_names(long) == (stable, canary)


def test_backend_service_copies_the_ports_and_selects_one_revision_of_the_gate() -> None:
    team = {
        "metadata": {"name": "chat", "labels": {"team": "x"}},
        "spec": {
            "selector": {"app": "chat"},
            "ports": [{"name": "http", "port": 80, "targetPort": 8000, "nodePort": 30001}],
            "type": "NodePort",
        },
    }
    owner = OwnerRef("shop", "chat", "u1")
    body = build_backend_service(owner, team, "chat-stable", "abc")
    assert body["spec"] == {
        "selector": {GATE_LABEL: "chat", ROLE_LABEL: "serving", REVISION_LABEL: "abc"},
        "ports": [{"name": "http", "port": 80, "targetPort": 8000}],
    }
    assert body["metadata"]["ownerReferences"][0]["uid"] == "u1"
    assert body["metadata"]["ownerReferences"][0]["controller"] is True


def test_weights_replace_the_team_backend_in_each_rule_and_nothing_else() -> None:
    before = route()
    ops = weighted_patch(before, B, (99, 1))
    assert ops[0] == {"op": "test", "path": "/metadata/resourceVersion", "value": "7"}
    assert all(not o["path"].startswith("/spec/rules/0") for o in ops)  # untouched rule
    after = applied(before, ops)
    assert unmanaged(after) == unmanaged(before)
    assert after["spec"]["rules"][1]["backendRefs"] == [
        {"name": "chat-stable", "port": 80, "weight": 3 * 99},
        {"name": "chat-canary", "port": 80, "weight": 3 * 1},
        {"name": "legacy", "port": 80, "weight": 1},
    ]
    assert after["spec"]["rules"][2]["backendRefs"] == [
        {"kind": "Service", "name": "chat-stable", "port": 80, "weight": 99},
        {"kind": "Service", "name": "chat-canary", "port": 80, "weight": 1},
    ]
    assert read_route(after, B).weights == (99, 1)
    assert read_route(before, B).weights is None  # the team's Service is still named


@pytest.mark.parametrize("weights", [(90, 10), (50, 50), (0, 100), (100, 0)])
def test_weights_change_in_place_and_the_route_comes_back_byte_for_byte(
    weights: tuple[int, int],
) -> None:
    before = route(annotations={"team": "note"}, labels={"tier": "web"})
    managed = applied(before, weighted_patch(before, B, (99, 1)))
    managed["metadata"]["resourceVersion"] = "8"
    moved = applied(managed, weighted_patch(managed, B, weights))
    assert read_route(moved, B).weights == weights
    assert unmanaged(moved) == unmanaged(before)
    assert weighted_patch(moved, B, weights) == []  # nothing to write when it reads right
    moved["metadata"]["resourceVersion"] = "9"
    back = applied(moved, restore_patch(moved, B))
    back["metadata"]["resourceVersion"] = "7"
    assert json.dumps(back) == json.dumps(before)
    assert ORIGINALS_ANNOTATION not in back["metadata"]["annotations"]


def test_restoring_a_route_without_annotations_removes_the_record_entirely() -> None:
    before = route()
    managed = applied(before, weighted_patch(before, B, (50, 50)))
    assert ORIGINALS_ANNOTATION in managed["metadata"]["annotations"]
    back = applied(managed, restore_patch(managed, B))
    assert json.dumps(back) == json.dumps(before)


def test_route_states_say_why_a_route_cannot_be_managed() -> None:
    assert read_route(None, B).problem == "not found"
    other = {"metadata": {"name": "x"}, "spec": {"rules": [{"backendRefs": [{"name": "a"}]}]}}
    assert read_route(other, B).problem == "no rule routes to Service chat"
    elsewhere = {"spec": {"rules": [{"backendRefs": [{"name": "chat", "namespace": "other"}]}]}}
    assert read_route(elsewhere, B).problem  # another namespace's chat is not ours


def test_routes_are_selected_by_name_or_labels() -> None:
    r = route(labels={"gate": "chat"})
    assert selected(r, ("web",), None)
    assert selected(r, (), {"gate": "chat"})
    assert not selected(r, ("api",), {"gate": "other"})
    assert not selected(r, (), None)


def test_observed_backends_count_only_services_the_gate_owns() -> None:
    gate = {
        "metadata": {"name": "chat", "namespace": "shop", "uid": "u1"},
        "spec": {
            "targetRef": {"name": "chat"},
            "service": "chat",
            "traffic": {"router": "gatewayAPI", "httpRoutes": [{"name": "web"}, {"name": "api"}]},
        },
    }
    me = identity(gate)
    services = {
        ("shop", "chat-stable"): [
            ServiceInfo("chat-stable", "shop", {REVISION_LABEL: "r1"}, "s1", "u1")
        ],
        ("shop", "chat-canary"): [
            ServiceInfo("chat-canary", "shop", {REVISION_LABEL: "r2"}, "s2", "someone-else")
        ],
    }
    pods = {
        ("shop", "chat"): [
            PodInfo(
                "p1", "shop", {REVISION_LABEL: "r1"}, "127.0.0.9", 8000, True, None, None, False
            ),
            PodInfo(
                "p2", "shop", {REVISION_LABEL: "r2"}, "127.0.0.8", 8000, True, None, None, False
            ),
        ]
    }

    def endpoint(pod: str, ready: bool = True) -> dict[str, Any]:
        return {"conditions": {"ready": ready}, "targetRef": {"kind": "Pod", "name": pod}}

    slices = {
        "chat-stable": [{"endpoints": [endpoint("p1"), endpoint("p2", ready=False)]}],
        "chat-canary": [{"endpoints": [endpoint("p2")]}],
    }
    state = gateway_state(me, World(services=services, pods=pods), [route()], slices)
    assert state.backends == ("r1", None)
    assert state.serving == ("r1", None)  # the canary Service is not the gate's
    mixed = {"chat-stable": [{"endpoints": [endpoint("p1"), endpoint("p2")]}]}
    assert gateway_state(me, World(services=services, pods=pods), [], mixed).serving == (
        None,
        None,
    )
    assert gateway_state(me, World(services=services), [], {}).serving == (None, None)
    assert set(state.routes) == {"web", "api"}
    assert state.routes["api"].problem == "not found"
    assert state.routes["web"].weights is None and not state.routes["web"].managed


def test_weights_count_only_once_every_gateway_reporting_on_the_route_has_read_them() -> None:
    managed = applied(route(generation=4), weighted_patch(route(), B, (90, 10)))
    managed["metadata"]["generation"] = 4
    parent: dict[str, Any] = {"controllerName": "traefik.io/gateway-controller", "conditions": []}
    accepted = {"type": "Accepted", "status": "True", "observedGeneration": 3}
    parent["conditions"] = [accepted]
    managed["status"] = {"parents": [parent]}
    assert read_route(managed, B).weights is None and read_route(managed, B).managed
    accepted["observedGeneration"] = 4
    assert read_route(managed, B).weights == (90, 10)
