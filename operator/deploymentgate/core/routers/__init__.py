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
from deploymentgate.models import GateSpec

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
    return _ROUTERS.get(str(spec.traffic.router))


def routers() -> tuple[TrafficRouter, ...]:
    """Every registered router (each answers only for its own state)."""
    return tuple(_ROUTERS.values())


__all__ = [
    "Fleet",
    "HandBack",
    "Layout",
    "TrafficRouter",
    "register",
    "router_for",
    "routers",
    "unregister",
]
