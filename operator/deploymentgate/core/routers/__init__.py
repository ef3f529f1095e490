"""The traffic routers' registry: the one place that lists the router kinds.

Everything outside `core/routers` (and the routers' cluster adapters) reaches a
router through this module and the `base` interface, never by its kind: adding
a router is one module beside `base`, one line below, and its adapter's line
in `deploymentgate.controller.routers` when it touches cluster objects.
"""

from __future__ import annotations

from deploymentgate.core.routers.base import Fleet, HandBack, Layout, TrafficRouter
from deploymentgate.core.routers.gateway import GatewayRouter
from deploymentgate.core.routers.replicas import ReplicasRouter
from deploymentgate.models import GateSpec, Traffic

_ROUTERS: dict[str, TrafficRouter] = {}


def register(router: TrafficRouter) -> None:
    """Make `router` selectable by `spec.traffic.router: <router.kind>`."""
    _ROUTERS[router.kind] = router


def unregister(kind: str) -> None:
    """Forget the router of `kind` (tests that register one of their own)."""
    _ROUTERS.pop(kind, None)


register(ReplicasRouter())
register(GatewayRouter())


def router_for(spec: GateSpec) -> TrafficRouter | None:
    """The router `spec.traffic.router` names, or None when this version has none."""
    return _ROUTERS.get(spec.traffic.router)


def kinds() -> list[str]:
    """The registered kinds, in registration order (the CRD's enum)."""
    return list(_ROUTERS)


def crd_rules() -> list[dict[str, str]]:
    """Every registered router's CEL rules on `spec.traffic`."""
    return [dict(rule) for router in _ROUTERS.values() for rule in router.crd_rules]


def spec_problem(traffic: Traffic) -> str | None:
    """What the named router misses in `spec.traffic` (None: nothing, or no such router)."""
    router = _ROUTERS.get(traffic.router)
    return router.spec_problem(traffic) if router is not None else None


def routers() -> tuple[TrafficRouter, ...]:
    """Every registered router (each answers only for its own state)."""
    return tuple(_ROUTERS.values())


__all__ = [
    "Fleet",
    "HandBack",
    "Layout",
    "TrafficRouter",
    "crd_rules",
    "kinds",
    "register",
    "router_for",
    "routers",
    "spec_problem",
    "unregister",
]
