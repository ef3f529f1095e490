"""The routers' cluster adapters: what each router kind reads and writes in the cluster.

A router's pure part (deploymentgate.core.routers) decides; its adapter here
reads the router's own objects on every pass (into the opaque
`Observations.router_state` its router reads back), names the objects the gate
would create for it (conflicts, wake-ups), and carries out the router's own
actions (subclasses of `RouterAction`). The rest of the controller reaches an
adapter only through this registry, by the kind `spec.traffic.router` names
or by an action's type. A router whose pods alone split the traffic has no
adapter.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from deploymentgate.controller.routers.gateway import GatewayAdapter
from deploymentgate.core.actions import RouterAction
from deploymentgate.core.inputs import Conflict

if TYPE_CHECKING:
    from deploymentgate.controller.identity import GateIdentity
    from deploymentgate.controller.world import World
    from deploymentgate.k8s.api import KubeApi

Interest = tuple[str, str, str]  # ("deployment"|"service"|"pods"|"gate", namespace, name)


class RouterAdapter(Protocol):
    """The cluster side of one router kind."""

    kind: str
    """The value of `spec.traffic.router` it serves."""
    actions: tuple[type[RouterAction], ...]
    """The router's own actions, which the executor hands to it."""

    def identity(
        self, traffic: Mapping[str, Any], *, namespace: str, service: str | None
    ) -> object:
        """What the gate's raw `spec.traffic` says this router acts on (kept in
        `GateIdentity.traffic`); None when it can act on nothing: then nothing
        is read for it on a pass and the gate is woken by watches alone."""
        ...

    async def read(self, api: KubeApi, me: GateIdentity) -> object:
        """Live reads of this pass, of objects no watch reports (asked only when
        `identity` gave something)."""
        ...

    def observe(self, me: GateIdentity, world: World, reads: object) -> object:
        """The router's state for the core (`Observations.router_state`)."""
        ...

    def conflicts(self, me: GateIdentity, world: World) -> list[Conflict]:
        """Each object of the router's that is in the gate's way."""
        ...

    def interest(self, me: GateIdentity) -> set[Interest]:
        """Objects whose watch events should wake the gate."""
        ...

    async def apply(
        self,
        api: KubeApi,
        action: RouterAction,
        *,
        me: GateIdentity,
        world: World,
    ) -> None:
        """Carry out one of the router's own actions (idempotent, like the rest)."""
        ...


_ADAPTERS: dict[str, RouterAdapter] = {}


def register(adapter: RouterAdapter) -> None:
    """Reach `adapter` for gates whose `spec.traffic.router` is its kind."""
    _ADAPTERS[adapter.kind] = adapter


def unregister(kind: str) -> None:
    """Forget the adapter of `kind` (tests that register one of their own)."""
    _ADAPTERS.pop(kind, None)


register(GatewayAdapter())


def adapter_for(kind: str | None) -> RouterAdapter | None:
    """The adapter of router `kind`, or None (a router with no cluster objects)."""
    return _ADAPTERS.get(kind) if kind is not None else None


def adapter_of_action(action: RouterAction) -> RouterAdapter:
    """The adapter whose router defines `action`."""
    for adapter in _ADAPTERS.values():
        if isinstance(action, adapter.actions):
            return adapter
    raise TypeError(f"no router adapter carries out {action!r}")


__all__ = [
    "Interest",
    "RouterAdapter",
    "adapter_for",
    "adapter_of_action",
    "register",
    "unregister",
]
