"""Gateway API objects of `router: gatewayAPI`, built and edited without API calls.

The gate owns two Services, `<service>-stable` and `<service>-canary`, with the
team's Service's ports, each selecting only the pods of one of the gate's
serving Deployments (gate, role and revision labels). In each rule of a
managed HTTPRoute, a backendRef naming the team's Service is replaced by a
copy of it naming the stable Service and a copy naming the canary one, with
weights; the original backendRef is kept in an annotation on the route and
put back, exactly, at hand-back. Nothing else of the route is touched: edits
are JSON patches of the changed rules' `backendRefs` only.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from deploymentgate.core.routers.gateway import RouteState
from deploymentgate.k8s.builders import (
    GATE_LABEL,
    MANAGED_BY,
    REVISION_LABEL,
    ROLE_LABEL,
    ROLE_SERVING,
    OwnerRef,
    gate_label_value,
    owner_reference,
)

GATEWAY_GROUP = "gateway.networking.k8s.io"
GATEWAY_VERSION = "v1"
HTTPROUTES = "httproutes"
ORIGINALS_ANNOTATION = "deploymentgate.dev/original-backends"
MAX_SERVICE_NAME = 63  # a Service name is a DNS-1035 label
MAX_WEIGHT = 1_000_000  # the Gateway API's bound on a backendRef weight
_PORT_FIELDS = ("name", "port", "targetPort", "protocol", "appProtocol")


def backend_names(service: str) -> tuple[str, str]:
    """`<service>-stable` and `<service>-canary`, shortened with a hash past 63 chars."""
    return _bounded(service, "stable"), _bounded(service, "canary")


def _bounded(base: str, suffix: str) -> str:
    name = f"{base}-{suffix}"
    if len(name) <= MAX_SERVICE_NAME:
        return name
    digest = hashlib.sha256(base.encode()).hexdigest()[:8]
    keep = MAX_SERVICE_NAME - len(suffix) - len(digest) - 2
    return f"{base[:keep].rstrip('-')}-{digest}-{suffix}"


def backend_selector(gate_name: str, revision: str) -> dict[str, str]:
    """Only the pods of the gate's serving Deployment of `revision`."""
    return {
        GATE_LABEL: gate_label_value(gate_name),
        ROLE_LABEL: ROLE_SERVING,
        REVISION_LABEL: revision,
    }


def build_backend_service(
    owner: OwnerRef, team_service: Mapping[str, Any], name: str, revision: str
) -> dict[str, Any]:
    """A Service owned by the gate, with the team's Service's ports, selecting `revision`."""
    ports = [
        {k: p[k] for k in _PORT_FIELDS if k in p}
        for p in (team_service.get("spec") or {}).get("ports") or []
    ]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "namespace": owner.namespace,
            "labels": {GATE_LABEL: owner.label, **MANAGED_BY},
            "ownerReferences": [owner_reference(owner)],
        },
        "spec": {"selector": backend_selector(owner.name, revision), "ports": ports},
    }


@dataclass(frozen=True)
class Backends:
    """What a route rule's backendRefs are compared against."""

    namespace: str  # the gate's (and the route's) namespace
    service: str  # the team's Service
    stable: str
    canary: str

    @classmethod
    def of(cls, namespace: str, service: str) -> Backends:
        stable, canary = backend_names(service)
        return cls(namespace, service, stable, canary)

    def names(self, ref: Mapping[str, Any], name: str) -> bool:
        """`ref` is a core Service backendRef to `name` in this namespace."""
        return (
            ref.get("group", "") == ""
            and ref.get("kind", "Service") == "Service"
            and ref.get("namespace", self.namespace) == self.namespace
            and ref.get("name") == name
        )


def _weight(ref: Mapping[str, Any]) -> int:
    value = ref.get("weight", 1)
    return int(value) if isinstance(value, int) else 1


def _rules(route: Mapping[str, Any]) -> list[dict[str, Any]]:
    return list((route.get("spec") or {}).get("rules") or [])


def originals(route: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Rule index -> the team's backendRefs the gate replaced in it, in order."""
    raw = ((route.get("metadata") or {}).get("annotations") or {}).get(ORIGINALS_ANNOTATION)
    try:
        stored = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    rules = stored.get("rules") if isinstance(stored, dict) else None
    return {str(k): list(v) for k, v in rules.items()} if isinstance(rules, dict) else {}


def read_route(route: Mapping[str, Any] | None, backends: Backends) -> RouteState:
    """The weights a route carries for the gate, as the core needs to see them."""
    if route is None:
        return RouteState(exists=False, problem="not found")
    percents: set[int] = set()
    unmanaged = managed = False
    for rule in _rules(route):
        refs = rule.get("backendRefs") or []
        stable = [r for r in refs if backends.names(r, backends.stable)]
        canary = [r for r in refs if backends.names(r, backends.canary)]
        unmanaged |= any(backends.names(r, backends.service) for r in refs)
        if stable or canary:
            managed = True
            s, c = sum(_weight(r) for r in stable), sum(_weight(r) for r in canary)
            percents.add(-1 if s + c == 0 else (200 * c + s + c) // (2 * (s + c)))
    if not managed and not unmanaged:
        return RouteState(problem=f"no rule routes to Service {backends.service}")
    if unmanaged or len(percents) != 1 or -1 in percents or not applied(route):
        return RouteState(managed=managed)
    (percent,) = percents
    return RouteState(weights=(100 - percent, percent), managed=True)


def applied(route: Mapping[str, Any]) -> bool:
    """Every gateway that reports on the route has read its current generation
    (no report at all counts as applied: nothing more can be known)."""
    generation = (route.get("metadata") or {}).get("generation")
    parents = (route.get("status") or {}).get("parents") or []
    if generation is None:
        return True
    for parent in parents:
        accepted = [c for c in parent.get("conditions") or [] if c.get("type") == "Accepted"]
        if any(c.get("observedGeneration") != generation for c in accepted):
            return False
    return True


def weighted_patch(
    route: Mapping[str, Any], backends: Backends, weights: tuple[int, int]
) -> list[dict[str, Any]]:
    """JSON patch ops that route each rule naming the team's Service (or the gate's
    two) to the gate's two Services with `weights`, and record what was replaced.

    Only changed rules' `backendRefs` are written; the first op tests the route's
    resourceVersion, so a route changed since it was read is not written (409/422).
    """
    kept = originals(route)
    ops: list[dict[str, Any]] = []
    for index, rule in enumerate(_rules(route)):
        refs = rule.get("backendRefs") or []
        out: list[dict[str, Any]] = []
        replaced: list[dict[str, Any]] = []
        for ref in refs:
            if backends.names(ref, backends.service):
                replaced.append(copy.deepcopy(dict(ref)))
                out.append({**ref, "name": backends.stable})
                out.append({**ref, "name": backends.canary})
            else:
                out.append(dict(ref))
        out = _reweighted(out, backends, weights, kept.get(str(index), []) + replaced)
        if out != refs:
            ops.append({"op": "replace", "path": f"/spec/rules/{index}/backendRefs", "value": out})
        if replaced:
            kept[str(index)] = kept.get(str(index), []) + replaced
    if not ops:
        return []
    meta = route.get("metadata") or {}
    note = json.dumps({"service": backends.service, "rules": kept}, sort_keys=True)
    head: list[dict[str, Any]] = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": meta.get("resourceVersion")}
    ]
    if meta.get("annotations"):
        path = "/metadata/annotations/" + ORIGINALS_ANNOTATION.replace("/", "~1")
        head.append({"op": "add", "path": path, "value": note})
    else:
        head.append(
            {"op": "add", "path": "/metadata/annotations", "value": {ORIGINALS_ANNOTATION: note}}
        )
    return head + ops


def _reweighted(
    refs: list[dict[str, Any]],
    backends: Backends,
    weights: tuple[int, int],
    replaced: Sequence[Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """Set the weights of the gate's refs: pair k gets the k-th replaced ref's weight
    (1 when it had none) times the percentages, so the share the team gave its
    Service among other backends of the rule stays what it was."""
    out: list[dict[str, Any]] = []
    pair = 0
    for ref in refs:
        if backends.names(ref, backends.stable) or backends.names(ref, backends.canary):
            canary = backends.names(ref, backends.canary)
            source = replaced[pair] if pair < len(replaced) else {}
            scale = min(_weight(source), MAX_WEIGHT // 100) if "weight" in source else 1
            out.append({**ref, "weight": scale * weights[1 if canary else 0]})
            if canary:
                pair += 1
        else:
            out.append(ref)
    return out


def restore_patch(route: Mapping[str, Any], backends: Backends) -> list[dict[str, Any]]:
    """JSON patch ops that give the route back as written: each pair of the gate's
    refs becomes the team's backendRef it replaced, and the annotation goes."""
    kept = originals(route)
    ops: list[dict[str, Any]] = []
    for index, rule in enumerate(_rules(route)):
        refs = rule.get("backendRefs") or []
        queue = list(kept.get(str(index), []))
        out: list[dict[str, Any]] = []
        for ref in refs:
            if backends.names(ref, backends.stable):
                if queue:
                    out.append(queue.pop(0))
                else:  # the record was lost: the team's Service, at the same port
                    out.append({**{k: v for k, v in ref.items() if k != "weight"},
                                "name": backends.service})  # fmt: skip
            elif backends.names(ref, backends.canary):
                continue
            else:
                out.append(ref)
        if out != refs:
            ops.append({"op": "replace", "path": f"/spec/rules/{index}/backendRefs", "value": out})
    meta = route.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    if ORIGINALS_ANNOTATION in annotations:
        if len(annotations) == 1:
            ops.append({"op": "remove", "path": "/metadata/annotations"})
        else:
            path = "/metadata/annotations/" + ORIGINALS_ANNOTATION.replace("/", "~1")
            ops.append({"op": "remove", "path": path})
    if not ops:
        return []
    test = {"op": "test", "path": "/metadata/resourceVersion", "value": meta.get("resourceVersion")}
    return [test, *ops]


def selected(
    route: Mapping[str, Any], names: Sequence[str], labels: Mapping[str, str] | None
) -> bool:
    """The route is one the gate manages: named, or matching the selector's labels."""
    meta = route.get("metadata") or {}
    if meta.get("name") in names:
        return True
    if not labels:
        return False
    have = meta.get("labels") or {}
    return all(have.get(k) == v for k, v in labels.items())
