"""The EndpointSlices the sandbox publishes for a Service, computed from its pods."""

from __future__ import annotations

from typing import Any

from deploymentgate_devkit.sandbox.slices import (
    ADDRESS_TYPE,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    SERVICE_NAME_LABEL,
    desired_slices,
    slice_differs,
)


def _service(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "selector": {"app": "web"},
        "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
    }
    return {
        "metadata": {"name": "web", "namespace": "ns", "uid": "svc-uid"},
        "spec": {**base, **spec},
    }


def _pod(
    name: str,
    ip: str | None,
    *,
    ready: bool = True,
    labels: dict[str, str] | None = None,
    port: int = 8000,
    phase: str = "Running",
    deleting: bool = False,
    namespace: str = "ns",
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "uid": f"uid-{name}"}
    meta["labels"] = {"app": "web"} if labels is None else labels
    if deleting:
        meta["deletionTimestamp"] = "2030-01-01T00:00:00Z"
    status: dict[str, Any] = {
        "phase": phase,
        "conditions": [{"type": "Ready", "status": str(ready)}],
    }
    if ip:
        status["podIP"] = ip
    return {
        "metadata": meta,
        "spec": {
            "nodeName": "sandbox-node-1",
            "containers": [{"name": "c", "ports": [{"name": "http", "containerPort": port}]}],
        },
        "status": status,
    }


def _endpoints(slices: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["targetRef"]["name"]: e for s in slices for e in s["endpoints"]}


def test_one_endpoint_per_matching_pod_with_an_address() -> None:
    pods = [
        _pod("a", "127.0.0.2"),
        _pod("b", "127.0.0.3", ready=False),
        _pod("no-ip", None),
        _pod("done", "127.0.0.4", phase="Succeeded"),
        _pod("other-app", "127.0.0.5", labels={"app": "db"}),
        _pod("other-ns", "127.0.0.6", namespace="elsewhere"),
    ]
    slices = desired_slices(_service(), pods)
    assert len(slices) == 1
    (slc,) = slices
    assert slc["addressType"] == ADDRESS_TYPE
    assert slc["ports"] == [{"name": "http", "port": 8000, "protocol": "TCP"}]
    assert slc["metadata"]["labels"][SERVICE_NAME_LABEL] == "web"
    assert slc["metadata"]["labels"][MANAGED_BY_LABEL] == MANAGED_BY
    assert slc["metadata"]["ownerReferences"][0]["uid"] == "svc-uid"
    endpoints = _endpoints(slices)
    assert set(endpoints) == {"a", "b"}
    assert endpoints["a"]["addresses"] == ["127.0.0.2"]
    assert endpoints["a"]["conditions"] == {"ready": True, "serving": True, "terminating": False}
    assert endpoints["b"]["conditions"] == {"ready": False, "serving": False, "terminating": False}
    assert endpoints["a"]["nodeName"] == "sandbox-node-1"


def test_terminating_pod_is_listed_but_not_ready() -> None:
    (slc,) = desired_slices(_service(), [_pod("a", "127.0.0.2", deleting=True)])
    assert slc["endpoints"][0]["conditions"] == {
        "ready": False,
        "serving": True,
        "terminating": True,
    }


def test_publish_not_ready_addresses_makes_every_endpoint_ready() -> None:
    pods = [_pod("a", "127.0.0.2", ready=False)]
    (slc,) = desired_slices(_service(publishNotReadyAddresses=True), pods)
    assert slc["endpoints"][0]["conditions"]["ready"] is True


def test_pods_with_different_named_ports_get_separate_slices() -> None:
    pods = [_pod("old", "127.0.0.2", port=8000), _pod("new", "127.0.0.3", port=9000)]
    slices = desired_slices(_service(), pods)
    by_port = {
        s["ports"][0]["port"]: [e["targetRef"]["name"] for e in s["endpoints"]] for s in slices
    }
    assert by_port == {8000: ["old"], 9000: ["new"]}
    assert len({s["metadata"]["name"] for s in slices}) == 2


def test_numeric_target_port_needs_no_container_port() -> None:
    service = _service(ports=[{"port": 80, "targetPort": 7000, "protocol": "TCP"}])
    (slc,) = desired_slices(service, [_pod("a", "127.0.0.2")])
    assert slc["ports"] == [{"name": "", "port": 7000, "protocol": "TCP"}]


def test_service_without_pods_keeps_an_empty_placeholder_slice() -> None:
    (slc,) = desired_slices(_service(), [])
    assert slc["endpoints"] == [] and slc["ports"] == []


def test_services_without_selector_or_external_name_get_no_slices() -> None:
    assert desired_slices(_service(selector=None), [_pod("a", "127.0.0.2")]) == []
    assert desired_slices(_service(type="ExternalName"), [_pod("a", "127.0.0.2")]) == []


def test_slice_names_are_stable_across_recomputation() -> None:
    pods = [_pod("a", "127.0.0.2")]
    assert (
        desired_slices(_service(), pods)[0]["metadata"]["name"]
        == (desired_slices(_service(), [*pods, _pod("b", "127.0.0.3")])[0]["metadata"]["name"])
    )


def test_server_defaults_do_not_count_as_a_difference() -> None:
    (want,) = desired_slices(_service(), [_pod("a", "127.0.0.2")])
    stored = {
        **want,
        "metadata": {**want["metadata"], "resourceVersion": "7", "uid": "x", "generation": 1},
        "endpoints": [
            {
                **want["endpoints"][0],
                "targetRef": {**want["endpoints"][0]["targetRef"], "resourceVersion": "3"},
            }
        ],
        "ports": [{"name": "http", "port": 8000}],  # protocol omitted: TCP by default
    }
    assert not slice_differs(stored, want)
    (changed,) = desired_slices(_service(), [_pod("a", "127.0.0.2", ready=False)])
    assert slice_differs(stored, changed)
