"""Traffic routers: how the pure core lays out a traffic split (see `base`)."""

from __future__ import annotations

from deploymentgate.core.routers.base import Fleet, Layout, TrafficRouter
from deploymentgate.core.routers.gateway import GatewayRouter
from deploymentgate.core.routers.replicas import ReplicasRouter
from deploymentgate.models import GateSpec, Router

_ROUTERS: dict[Router, TrafficRouter] = {
    Router.REPLICAS: ReplicasRouter(),
    Router.GATEWAY_API: GatewayRouter(),
}


def router_for(spec: GateSpec) -> TrafficRouter | None:
    """The router `spec.traffic.router` names, or None when this version has none."""
    return _ROUTERS.get(spec.traffic.router)


__all__ = ["Fleet", "GatewayRouter", "Layout", "ReplicasRouter", "TrafficRouter", "router_for"]
