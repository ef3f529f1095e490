"""The cluster adapter of router `gatewayAPI`: HTTPRoutes and the gate's two Services.

Reads, on every pass, the namespace's HTTPRoutes and the EndpointSlices of the
gate's `<service>-stable` and `<service>-canary` Services, live (weights and
endpoints are read back from them; no watch, so no Gateway API CRD is needed
otherwise); writes the two Services and the managed routes' backendRefs (the
objects themselves are built in deploymentgate.k8s.routes).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from deploymentgate.controller.pods import PodInfo
from deploymentgate.core.actions import RouterAction
from deploymentgate.core.inputs import Conflict as InTheWay
from deploymentgate.core.inputs import ConflictCause
from deploymentgate.core.routers.gateway import (
    KIND,
    NO_GATEWAY,
    EnsureBackends,
    GatewayState,
    RemoveBackends,
    RestoreRoutes,
    SetRouteWeights,
)
from deploymentgate.k8s.api import Conflict, NotFound, NotOwned
from deploymentgate.k8s.builders import REVISION_LABEL
from deploymentgate.k8s.routes import (
    GATEWAY_GROUP,
    GATEWAY_VERSION,
    HTTPROUTES,
    Backends,
    backend_selector,
    build_backend_service,
    read_route,
    restore_patch,
    selected,
    weighted_patch,
)

if TYPE_CHECKING:
    from deploymentgate.controller.identity import GateIdentity
    from deploymentgate.controller.world import World
    from deploymentgate.k8s.api import KubeApi

# A route written by someone else between our read and our write is read again.
ROUTE_WRITE_ATTEMPTS = 3


@dataclass(frozen=True)
class GatewayTarget:
    """What a gate's spec says the gateway router acts on (`GateIdentity.traffic`)."""

    backends: Backends  # the gate's stable/canary Services and the team's
    routes: tuple[str, ...] = ()  # HTTPRoutes named outright
    route_labels: Mapping[str, str] | None = None  # httpRouteSelector


@dataclass(frozen=True)
class GatewayReads:
    """One pass's live reads: the namespace's HTTPRoutes, and the EndpointSlices
    of the gate's two Services by Service name."""

    routes: tuple[Mapping[str, Any], ...] = ()
    slices: Mapping[str, Iterable[Mapping[str, Any]]] | None = None


def target_of(
    traffic: Mapping[str, Any], service: str | None, namespace: str
) -> GatewayTarget | None:
    """The routes and Services a gate's raw `spec.traffic` names (None without a Service)."""
    if service is None:
        return None
    named = [traffic.get("httpRoute")] + [
        r.get("name") for r in traffic.get("httpRoutes") or [] if isinstance(r, Mapping)
    ]
    labels = traffic.get("httpRouteSelector")
    return GatewayTarget(
        backends=Backends.of(namespace, service),
        routes=tuple(dict.fromkeys(n for n in named if isinstance(n, str) and n)),
        route_labels=dict(labels) if isinstance(labels, Mapping) and labels else None,
    )


def gateway_state(
    me: GateIdentity,
    world: World,
    routes: Iterable[Mapping[str, Any]],
    slices: Mapping[str, Iterable[Mapping[str, Any]]] | None = None,
) -> GatewayState:
    """The gate's two Services (owned ones only), the revision their endpoints
    serve, and the routes it manages, read back."""
    target = me.traffic
    if not isinstance(target, GatewayTarget):
        return NO_GATEWAY
    backends = target.backends
    pods = {p.name: p for p in world.pods_of(me.namespace, me.label)}
    selects: list[str | None] = []
    serves: list[str | None] = []
    for name in (backends.stable, backends.canary):
        info = world.service(me.namespace, name)
        owned = info is not None and info.owned_by(me.uid)
        selects.append(info.selector.get(REVISION_LABEL) if info is not None and owned else None)
        serves.append(_served_revision((slices or {}).get(name, ()), pods) if owned else None)
    found = {
        str((r.get("metadata") or {}).get("name")): r
        for r in routes
        if selected(r, target.routes, target.route_labels)
    }
    states = {name: read_route(found.get(name), backends) for name in target.routes}
    for name, route in found.items():
        states.setdefault(name, read_route(route, backends))
    return GatewayState(
        backends=(selects[0], selects[1]), routes=states, serving=(serves[0], serves[1])
    )


def _served_revision(
    slices: Iterable[Mapping[str, Any]], pods: Mapping[str, PodInfo]
) -> str | None:
    """The one revision of the gate's pods behind a Service's ready endpoints, or None."""
    revisions: set[str | None] = set()
    for item in slices:
        for endpoint in item.get("endpoints") or []:
            if not (endpoint.get("conditions") or {}).get("ready"):
                continue
            pod = pods.get(str((endpoint.get("targetRef") or {}).get("name") or ""))
            revisions.add(pod.labels.get(REVISION_LABEL) if pod is not None else None)
    if len(revisions) != 1:
        return None
    return revisions.pop()


def _target(me: GateIdentity) -> GatewayTarget:
    if not isinstance(me.traffic, GatewayTarget):
        raise LookupError(f"spec.traffic.router is not {KIND}, or spec.service is not set")
    return me.traffic


class GatewayAdapter:
    """`RouterAdapter` of the gateway router."""

    kind = KIND
    actions: tuple[type[RouterAction], ...] = (
        EnsureBackends,
        RemoveBackends,
        SetRouteWeights,
        RestoreRoutes,
    )

    def identity(
        self, traffic: Mapping[str, Any], *, namespace: str, service: str | None
    ) -> GatewayTarget | None:
        return target_of(traffic, service, namespace)

    async def read(self, api: KubeApi, me: GateIdentity) -> GatewayReads | None:
        target = me.traffic
        if not isinstance(target, GatewayTarget):
            return None
        backends = target.backends
        routes = await api.list_custom_objects(
            GATEWAY_GROUP, GATEWAY_VERSION, me.namespace, HTTPROUTES
        )
        slices = {
            name: await api.list_endpointslices(me.namespace, name)
            for name in (backends.stable, backends.canary)
        }
        return GatewayReads(tuple(routes), slices)

    def observe(self, me: GateIdentity, world: World, reads: object) -> GatewayState:
        got = reads if isinstance(reads, GatewayReads) else GatewayReads()
        return gateway_state(me, world, got.routes, got.slices)

    def conflicts(self, me: GateIdentity, world: World) -> list[InTheWay]:
        target = me.traffic
        if not isinstance(target, GatewayTarget):
            return []
        out: list[InTheWay] = []
        for name in (target.backends.stable, target.backends.canary):
            service = world.service(me.namespace, name)
            if service is not None and not service.owned_by(me.uid):
                cause = ConflictCause.NOT_OWNED
                out.append(
                    InTheWay(cause, "Service", me.namespace, name, me.name, service.owner_uid)
                )
        return out

    def interest(self, me: GateIdentity) -> set[tuple[str, str, str]]:
        target = me.traffic
        if not isinstance(target, GatewayTarget):
            return set()
        backends = target.backends
        return {
            ("service", me.namespace, backends.stable),
            ("service", me.namespace, backends.canary),
        }

    async def apply(
        self,
        api: KubeApi,
        action: RouterAction,
        *,
        me: GateIdentity,
        world: World,
    ) -> None:
        match action:
            case EnsureBackends(stable=stable, canary=canary):
                await _ensure_backends(api, me, world, (stable, canary))
            case RemoveBackends():
                backends = _target(me).backends
                for name in (backends.stable, backends.canary):
                    svc = world.service(me.namespace, name)
                    if svc is not None and svc.owned_by(me.uid):
                        with contextlib.suppress(NotFound):
                            await api.delete_owned_service(me.namespace, name, uid=svc.uid)
            case SetRouteWeights(stable=stable, canary=canary):
                backends = _target(me).backends
                await _edit_routes(api, me, lambda r: weighted_patch(r, backends, (stable, canary)))
            case RestoreRoutes():
                backends = _target(me).backends
                await _edit_routes(api, me, lambda r: restore_patch(r, backends))
            case _:
                raise TypeError(f"not a {KIND} action: {action!r}")


async def _ensure_backends(
    api: KubeApi,
    me: GateIdentity,
    world: World,
    revisions: tuple[str, str],
) -> None:
    """Create the gate's two Services when absent, else point them at `revisions`."""
    backends = _target(me).backends
    team: dict[str, Any] | None = None
    for name, revision in zip((backends.stable, backends.canary), revisions, strict=True):
        info = world.service(me.namespace, name)
        if info is None:
            if team is None:
                team = await api.read_service(me.namespace, backends.service)
            await api.create_service(build_backend_service(me.owner, team, name, revision))
            continue
        if not info.owned_by(me.uid):
            raise NotOwned(f"Service {name} exists and is not owned by gate {me.name}")
        wanted = backend_selector(me.name, revision)
        if dict(info.selector) != wanted:
            await api.set_owned_service_selector(
                me.namespace, name, wanted, uid=info.uid, gate_uid=me.uid
            )


async def _edit_routes(
    api: KubeApi, me: GateIdentity, edit: Callable[[Mapping[str, Any]], list[dict[str, Any]]]
) -> None:
    """Patch each managed route as `edit` says, read afresh; a route changed between
    the read and the write (its resourceVersion test fails) is read again."""
    target = _target(me)
    for attempt in range(ROUTE_WRITE_ATTEMPTS):
        routes = await api.list_custom_objects(
            GATEWAY_GROUP, GATEWAY_VERSION, me.namespace, HTTPROUTES
        )
        try:
            for route in routes:
                if not selected(route, target.routes, target.route_labels):
                    continue
                ops = edit(route)
                if ops:
                    name = route["metadata"]["name"]
                    await api.patch_custom_object(
                        GATEWAY_GROUP, GATEWAY_VERSION, me.namespace, HTTPROUTES, name, ops
                    )
            return
        except Conflict:
            if attempt == ROUTE_WRITE_ATTEMPTS - 1:
                raise
