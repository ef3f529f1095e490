"""The EndpointSlices a Service should have, computed from its pods.

Why the sandbox writes EndpointSlices itself: pods here live on loopback
addresses, and the API server rejects loopback addresses in IPv4 EndpointSlices
(and in Endpoints), so kube-controller-manager's endpointslice controller cannot
publish them. The sandbox publishes the same information with addressType FQDN,
whose validation accepts the dotted-quad text. Everything else (one endpoint per
pod, ready/serving/terminating, targetRef, nodeName, named target ports, one
slice per distinct port set, the service-name label, owner reference) follows
the real controller, so consumers read them as they would in a cluster.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
MANAGED_BY = "sandbox.deploymentgate.dev"
ADDRESS_TYPE = "FQDN"
MAX_ENDPOINTS_PER_SLICE = 100
PROXIED_TYPES = frozenset({"ClusterIP", "NodePort", "LoadBalancer"})


def selector_matches(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def has_endpoints(service: Mapping[str, Any]) -> bool:
    """Services the endpoints controller serves: a non-empty selector, not ExternalName."""
    spec = service.get("spec") or {}
    return bool(spec.get("selector")) and spec.get("type", "ClusterIP") != "ExternalName"


def pod_is_ready(pod: Mapping[str, Any]) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or ()
    )


def _resolve_target_port(port: Mapping[str, Any], pod: Mapping[str, Any]) -> int | None:
    target = port.get("targetPort", port.get("port"))
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    protocol = port.get("protocol", "TCP")
    for container in (pod.get("spec") or {}).get("containers") or ():
        for cport in container.get("ports") or ():
            if cport.get("name") == target and cport.get("protocol", "TCP") == protocol:
                return int(cport["containerPort"])
    return None


def _slice_ports(
    service: Mapping[str, Any], pod: Mapping[str, Any]
) -> tuple[tuple[str, int, str], ...]:
    ports = []
    for port in (service.get("spec") or {}).get("ports") or ():
        resolved = _resolve_target_port(port, pod)
        if resolved is not None:
            ports.append((str(port.get("name", "")), resolved, str(port.get("protocol", "TCP"))))
    return tuple(ports)


def _endpoint(service: Mapping[str, Any], pod: Mapping[str, Any]) -> dict[str, Any]:
    meta = pod["metadata"]
    terminating = bool(meta.get("deletionTimestamp"))
    publish_not_ready = bool((service.get("spec") or {}).get("publishNotReadyAddresses"))
    serving = publish_not_ready or pod_is_ready(pod)
    endpoint: dict[str, Any] = {
        "addresses": [pod["status"]["podIP"]],
        "conditions": {
            "ready": publish_not_ready or (serving and not terminating),
            "serving": serving,
            "terminating": terminating,
        },
        "targetRef": {
            "kind": "Pod",
            "namespace": meta.get("namespace"),
            "name": meta["name"],
            "uid": meta.get("uid"),
        },
    }
    node = (pod.get("spec") or {}).get("nodeName")
    if node:
        endpoint["nodeName"] = node
    return endpoint


def _slice_name(service_name: str, ports: tuple[tuple[str, int, str], ...], chunk: int) -> str:
    digest = hashlib.sha256(json.dumps([ports, chunk]).encode()).hexdigest()[:8]
    return f"{service_name}-{digest}"


def desired_slices(
    service: Mapping[str, Any], pods: Iterable[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Every slice the service should have (an empty placeholder when no pod matches)."""
    if not has_endpoints(service):
        return []
    meta = service["metadata"]
    selector = service["spec"]["selector"]
    groups: dict[tuple[tuple[str, int, str], ...], list[dict[str, Any]]] = {}
    for pod in pods:
        pod_meta = pod.get("metadata") or {}
        status = pod.get("status") or {}
        if pod_meta.get("namespace") != meta.get("namespace"):
            continue
        if not selector_matches(selector, pod_meta.get("labels") or {}):
            continue
        if not status.get("podIP") or status.get("phase") in ("Succeeded", "Failed"):
            continue
        ports = _slice_ports(service, pod)
        if (service["spec"].get("ports") or []) and not ports:
            continue
        groups.setdefault(ports, []).append(_endpoint(service, pod))
    labels = {
        k: v
        for k, v in (meta.get("labels") or {}).items()
        if k not in (SERVICE_NAME_LABEL, MANAGED_BY_LABEL)
    }
    labels.update({SERVICE_NAME_LABEL: meta["name"], MANAGED_BY_LABEL: MANAGED_BY})
    owner = {
        "apiVersion": "v1",
        "kind": "Service",
        "name": meta["name"],
        "uid": meta.get("uid"),
        "controller": True,
        "blockOwnerDeletion": True,
    }
    slices: list[dict[str, Any]] = []
    if not groups:
        groups[()] = []
    for ports, endpoints in sorted(groups.items()):
        endpoints.sort(key=lambda e: e["targetRef"]["name"])
        chunks = [
            endpoints[i : i + MAX_ENDPOINTS_PER_SLICE]
            for i in range(0, len(endpoints), MAX_ENDPOINTS_PER_SLICE)
        ] or [[]]
        for index, chunk in enumerate(chunks):
            slices.append(
                {
                    "apiVersion": "discovery.k8s.io/v1",
                    "kind": "EndpointSlice",
                    "metadata": {
                        "name": _slice_name(meta["name"], ports, index),
                        "namespace": meta.get("namespace"),
                        "labels": labels,
                        "ownerReferences": [owner],
                    },
                    "addressType": ADDRESS_TYPE,
                    "endpoints": chunk,
                    "ports": [
                        {"name": name, "port": number, "protocol": protocol}
                        for name, number, protocol in ports
                    ],
                }
            )
    return slices


def _port_key(port: Mapping[str, Any]) -> tuple[str, int, str]:
    return (
        str(port.get("name") or ""),
        int(port.get("port") or 0),
        str(port.get("protocol") or "TCP"),
    )


def _endpoint_key(endpoint: Mapping[str, Any]) -> tuple[Any, ...]:
    conditions = endpoint.get("conditions") or {}
    ref = endpoint.get("targetRef") or {}
    return (
        tuple(endpoint.get("addresses") or ()),
        conditions.get("ready"),
        conditions.get("serving"),
        conditions.get("terminating"),
        ref.get("name"),
        ref.get("uid"),
        endpoint.get("nodeName"),
    )


def slice_differs(current: Mapping[str, Any], desired: Mapping[str, Any]) -> bool:
    """Whether an existing slice must be rewritten to match the desired one.

    Compares the fields this module sets, normalised, so server-side defaulting
    never causes an endless rewrite loop.
    """
    cur_meta, want_meta = current.get("metadata") or {}, desired["metadata"]
    cur_labels = cur_meta.get("labels") or {}
    cur_owners = [
        (o.get("uid"), o.get("controller")) for o in cur_meta.get("ownerReferences") or ()
    ]
    want_owners = [(o.get("uid"), o.get("controller")) for o in want_meta["ownerReferences"]]
    return (
        current.get("addressType") != desired["addressType"]
        or any(cur_labels.get(k) != v for k, v in want_meta["labels"].items())
        or [_endpoint_key(e) for e in current.get("endpoints") or ()]
        != [_endpoint_key(e) for e in desired["endpoints"]]
        or [_port_key(p) for p in current.get("ports") or ()]
        != [_port_key(p) for p in desired["ports"]]
        or cur_owners != want_owners
    )
