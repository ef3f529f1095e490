"""The `gatewayAPI` router: traffic split by HTTPRoute weights.

The gate owns two Services, `<service>-stable` and `<service>-canary`, each
selecting only the pods of one of its serving Deployments; in every rule of
the managed HTTPRoutes that names the team's Service, those two take its place
with weights. The gateway splits requests by weight, so the stable and the
canary both run at full size during the steps and any percentage (1%) is
exact, whatever the replica count.

Ordering, all from what was read back:
- a step's weight is written only once the canary runs at full size and both
  Services select what they must; it is in effect once every route reads it;
- a rejected canary gets weight 0 at once; its pods go once every route reads
  it back (the gateway has applied it);
- promotion moves weight 100 to the canary, then (once every route reads it)
  shrinks the stable to 0; afterwards the stable Service is pointed at the new
  revision while its weight is still 0, and only once its endpoints hold the
  new revision's ready pods does the weight go back to it, so no request is
  sent to pods that are going away or to a Service without endpoints;
- when nothing is under test both Services select the stable revision.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from deploymentgate.core.actions import Action, RouterAction
from deploymentgate.core.routers.base import Fleet, HandBack, Layout
from deploymentgate.models import GateStatus, RouteWeights, Traffic

KIND = "gatewayAPI"
NEEDS_ROUTE = f"router {KIND} needs httpRoute, httpRoutes or httpRouteSelector"
ALL_STABLE = (100, 0)


@dataclass(frozen=True)
class RouteState:
    """One HTTPRoute the gate manages, as read back from it.

    weights   (stable, canary) percent over every rule the gate manages in it, when
              every such rule routes to the gate's two Services with that split
              and no rule still names the team's Service directly; else None
    managed   some rule of it routes to the gate's Services (hand-back restores it)
    problem   why it cannot be managed ("not found", "no rule routes to Service chat")
    """

    exists: bool = True
    weights: tuple[int, int] | None = None
    managed: bool = False
    problem: str = ""


@dataclass(frozen=True)
class GatewayState:
    """The gate's Gateway API traffic objects (`Fleet.router_state` of this router).

    backends  the revision the gate's owned `<service>-stable` and `<service>-canary`
              Services select (None for one that does not exist)
    serving   the revision whose ready pods each of those Services' endpoints
              hold, all of them (None while they hold none, or pods of another
              revision too): a weight is only ever given to a Service that serves
    routes    each HTTPRoute the spec names or selects, by name
    """

    backends: tuple[str | None, str | None] = (None, None)
    routes: Mapping[str, RouteState] = field(default_factory=dict)
    serving: tuple[str | None, str | None] = (None, None)

    def weights_read(self) -> set[tuple[int, int] | None]:
        """The distinct weights read back over all routes."""
        return {r.weights for r in self.routes.values()}

    def applied(self, weights: tuple[int, int]) -> bool:
        """Every route that can be managed reads back `weights` (one that cannot,
        e.g. deleted meanwhile, holds nothing up)."""
        return all(r.weights == weights for r in self.routes.values() if not r.problem)

    def reads(self, weights: tuple[int, int]) -> bool:
        """Every route reads back `weights` (and there is at least one route)."""
        return bool(self.routes) and self.weights_read() == {weights}


NO_GATEWAY = GatewayState()


@dataclass(frozen=True)
class EnsureBackends(RouterAction):
    """The gate's Services `<service>-stable` and `<service>-canary` exist (same
    ports as the team's Service) and select only the serving pods of `stable`
    and `canary` respectively."""

    stable: str
    canary: str


@dataclass(frozen=True)
class RemoveBackends(RouterAction):
    """Delete the gate's two Services (only once no route names them)."""


@dataclass(frozen=True)
class SetRouteWeights(RouterAction):
    """In every rule of every managed HTTPRoute that names the team's Service (or
    the gate's two Services), route to the gate's stable and canary Services with
    these weights (percent); nothing else of the route changes."""

    stable: int
    canary: int


@dataclass(frozen=True)
class RestoreRoutes(RouterAction):
    """Give each managed HTTPRoute back exactly as the team wrote it."""


@dataclass(frozen=True)
class GatewayLayout(Layout):
    """A `Layout` plus what the gateway's own objects must say.

    backends   the revisions the gate's stable and canary Services must select
               (None: no such Services)
    weights    (stable, canary) percent every managed route must carry now
               (None: leave the routes as they are this pass)
    """

    backends: tuple[str, str] | None = None
    weights: tuple[int, int] | None = None


def gateway_of(state: object) -> GatewayState:
    """This router's part of what was read (nothing when another router's)."""
    return state if isinstance(state, GatewayState) else NO_GATEWAY


def weights_for(percent: int) -> tuple[int, int]:
    """(stable, canary) weights for `percent` percent on the canary."""
    percent = max(0, min(100, percent))
    return (100 - percent, percent)


class GatewayRouter:
    """`TrafficRouter` by the weights of the gate's two Services in HTTPRoutes."""

    kind = KIND
    crd_rules: tuple[Mapping[str, str], ...] = (
        {
            "rule": f"!has(self.router) || self.router != '{KIND}'"
            " || has(self.httpRoute)"
            " || (has(self.httpRoutes) && size(self.httpRoutes) > 0)"
            " || (has(self.httpRouteSelector) && size(self.httpRouteSelector) > 0)",
            "message": NEEDS_ROUTE,
        },
    )

    def spec_problem(self, traffic: Traffic) -> str | None:
        if traffic.router != KIND:
            return None
        if traffic.http_route or traffic.http_routes or traffic.http_route_selector:
            return None
        return NEEDS_ROUTE

    def step(self, fleet: Fleet, weight: int, previous: int, *, shifted: bool) -> GatewayLayout:
        n, stable, canary = fleet.total, fleet.stable, fleet.canary
        replicas: dict[str, int] = {}
        if stable is not None:
            replicas[stable] = n
        if canary is not None:
            replicas[canary] = n
        backends = _backends(stable, canary)
        wanted = weights_for(weight)
        ready = canary is not None and fleet.rolled_out(canary, n)
        settled = backends is not None and _gw(fleet).serving == backends
        # Until the canary serves at full size behind its Service, the routes keep
        # what they carry (the previous step's weight, or 0 on the canary).
        weights = wanted if ready and settled else None
        in_effect = ready and settled and _gw(fleet).reads(wanted)
        return GatewayLayout(
            replicas=replicas,
            remove=_strays_to_remove(fleet),
            in_effect=in_effect,
            summary=f"weight {weight} of 100 on the canary; {_read(fleet)}",
            backends=backends,
            weights=weights,
        )

    def promote(self, fleet: Fleet) -> GatewayLayout:
        n, stable, canary = fleet.total, fleet.stable, fleet.canary
        replicas: dict[str, int] = {}
        if canary is not None:
            replicas[canary] = n
        backends = _backends(stable, canary)
        ready = canary is not None and fleet.rolled_out(canary, n)
        # Only the canary Service must serve: the stable one empties as it shrinks.
        settled = canary is not None and _gw(fleet).serving[1] == canary
        moved = ready and settled and _gw(fleet).reads(weights_for(100))
        warm = fleet.kept_warm(stable)
        if stable is not None and stable != canary and fleet.of(stable).exists:
            # The stable shrinks only once no route sends it anything; kept for a
            # revert, it runs on at weight 0.
            replicas[stable] = 0 if moved and not warm else fleet.of(stable).replicas
        in_effect = moved and (warm or fleet.rolled_out(stable, 0))
        return GatewayLayout(
            replicas=replicas,
            remove=_strays_to_remove(fleet),
            in_effect=in_effect,
            summary=f"weight 100 on the new revision once {fleet.ready(canary)}/{n} ready;"
            f" {_read(fleet)}",
            backends=backends,
            weights=weights_for(100) if ready and settled else None,
        )

    def stable_only(self, fleet: Fleet, *, evict: frozenset[str] = frozenset()) -> GatewayLayout:
        n, stable = fleet.total, fleet.stable
        backends = (stable, stable) if stable is not None else None
        observed = _gw(fleet).serving
        # The stable Service must serve the stable revision before it gets weight
        # back: after a promotion it still selects the old one (at weight 0), and
        # at adoption its endpoints fill in as the stable pods become ready.
        stable_selected = stable is not None and observed[0] == stable
        weights = ALL_STABLE if stable_selected else None
        routed = stable_selected and _gw(fleet).reads(ALL_STABLE)
        full = fleet.rolled_out(stable, n)
        settled = routed and full and observed == backends
        # A rejected revision gets weight 0 at once; its pods go once every route
        # reads it (the gateway applied it), so no request meets a pod going away.
        # Other serving pods serve on until no route can reach them.
        replicas: dict[str, int] = {stable: n} if stable is not None else {}
        others, remove = fleet.drain_others(
            evict,
            evict_now=stable_selected and _gw(fleet).applied(ALL_STABLE),
            settled=settled,
        )
        replicas.update(others)
        in_effect = settled and all(fleet.of(r).replicas == 0 for r in evict if r != stable)
        return GatewayLayout(
            replicas=replicas,
            remove=tuple(remove),
            in_effect=in_effect,
            summary=f"{fleet.ready(stable)}/{n} ready on stable; {_read(fleet)}",
            backends=backends,
            weights=weights,
        )

    def actions(self, fleet: Fleet, layout: Layout) -> list[Action]:
        """The gate's two Services select what the layout says, and the routes
        carry its weights (each written only where the read-back differs)."""
        gateway = _gw(fleet)
        if not isinstance(layout, GatewayLayout):
            return []
        actions: list[Action] = []
        if layout.backends is not None and gateway.backends != layout.backends:
            actions.append(EnsureBackends(*layout.backends))
        writable = any(not r.problem or r.managed for r in gateway.routes.values())
        if layout.weights is not None and writable and not gateway.reads(layout.weights):
            actions.append(SetRouteWeights(*layout.weights))
        return actions

    def hand_back(self, state: object) -> HandBack | None:
        """First of all the HTTPRoutes go back to the team's Service as written
        (it is gated: it selects the gate's serving pods, which stay meanwhile)."""
        if any(r.managed for r in gateway_of(state).routes.values()):
            message = "gate deleted: giving each HTTPRoute back as written"
            return HandBack((RestoreRoutes(),), message)
        return None

    def holds(self, state: object) -> bool:
        return any(b is not None for b in gateway_of(state).backends)

    def release(self, state: object) -> list[Action]:
        return [RemoveBackends()] if self.holds(state) else []

    def status_fields(self, state: object, status: GateStatus) -> dict[str, Any]:
        """`status.routes`: the weights read back from each managed HTTPRoute."""
        routes = gateway_of(state).routes
        if not routes and not status.routes:
            return {}
        out = []
        for name, route in sorted(routes.items()):
            stable, canary = route.weights if route.weights is not None else (None, None)
            out.append(
                RouteWeights(name=name, stable_weight=stable, canary_weight=canary,
                             message=route.problem)
            )  # fmt: skip
        return {"routes": out}

    def status_lines(self, status: Mapping[str, Any]) -> list[str]:
        routes = status.get("routes") or []
        if not routes:
            return []
        lines = [f"Routes ({KIND}):"]
        for r in routes:
            stable, canary = r.get("stableWeight"), r.get("canaryWeight")
            weights = (
                f"stable {stable}%, canary {canary}%"
                if stable is not None and canary is not None
                else "not managed"
            )
            message = f"  {r['message']}" if r.get("message") else ""
            lines.append(f"  httproute/{r.get('name')}  {weights}{message}")
        return lines


def _gw(fleet: Fleet) -> GatewayState:
    return gateway_of(fleet.router_state)


def _backends(stable: str | None, canary: str | None) -> tuple[str, str] | None:
    if stable is None:
        return None
    return (stable, canary or stable)


def _read(fleet: Fleet) -> str:
    """The weights read back, in words: "routes read 90/10"."""
    routes = _gw(fleet).routes
    if not routes:
        return "no HTTPRoute found"
    problems = [f"HTTPRoute {name}: {r.problem}" for name, r in sorted(routes.items()) if r.problem]
    if problems:
        return "; ".join(problems)
    read = _gw(fleet).weights_read()
    if None in read:
        return "routes not yet managed"
    if len(read) == 1:
        (stable, canary), *_ = [w for w in read if w is not None]
        return f"routes read {stable}/{canary}"
    return "routes disagree: " + ", ".join(
        f"{name} {w[0]}/{w[1]}" for name, r in sorted(routes.items()) if (w := r.weights)
    )


def _strays_to_remove(fleet: Fleet) -> tuple[str, ...]:
    """Serving Deployments of neither the stable nor the canary revision go once
    neither Service selects them and the stable serves at full size."""
    if fleet.ready(fleet.stable) < fleet.total:
        return ()
    return fleet.strays(keep=set(_gw(fleet).backends))
