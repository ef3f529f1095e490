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

from deploymentgate.core.routers.base import Fleet, Layout

ALL_STABLE = (100, 0)


def weights_for(percent: int) -> tuple[int, int]:
    """(stable, canary) weights for `percent` percent on the canary."""
    percent = max(0, min(100, percent))
    return (100 - percent, percent)


class GatewayRouter:
    """`TrafficRouter` by the weights of the gate's two Services in HTTPRoutes."""

    def step(self, fleet: Fleet, weight: int, previous: int, *, shifted: bool) -> Layout:
        n, stable, canary = fleet.total, fleet.stable, fleet.canary
        replicas: dict[str, int] = {}
        if stable is not None:
            replicas[stable] = n
        if canary is not None:
            replicas[canary] = n
        backends = _backends(stable, canary)
        wanted = weights_for(weight)
        ready = canary is not None and fleet.rolled_out(canary, n)
        settled = backends is not None and fleet.gateway.serving == backends
        # Until the canary serves at full size behind its Service, the routes keep
        # what they carry (the previous step's weight, or 0 on the canary).
        weights = wanted if ready and settled else None
        in_effect = ready and settled and fleet.gateway.reads(wanted)
        return Layout(
            replicas=replicas,
            remove=_strays_to_remove(fleet),
            in_effect=in_effect,
            summary=f"weight {weight} of 100 on the canary; {_read(fleet)}",
            backends=backends,
            weights=weights,
        )

    def promote(self, fleet: Fleet) -> Layout:
        n, stable, canary = fleet.total, fleet.stable, fleet.canary
        replicas: dict[str, int] = {}
        if canary is not None:
            replicas[canary] = n
        backends = _backends(stable, canary)
        ready = canary is not None and fleet.rolled_out(canary, n)
        # Only the canary Service must serve: the stable one empties as it shrinks.
        settled = canary is not None and fleet.gateway.serving[1] == canary
        moved = ready and settled and fleet.gateway.reads(weights_for(100))
        if stable is not None and stable != canary and fleet.of(stable).exists:
            # The stable shrinks only once no route sends it anything.
            replicas[stable] = 0 if moved else fleet.of(stable).replicas
        in_effect = moved and fleet.rolled_out(stable, 0)
        return Layout(
            replicas=replicas,
            remove=_strays_to_remove(fleet),
            in_effect=in_effect,
            summary=f"weight 100 on the new revision once {fleet.ready(canary)}/{n} ready;"
            f" {_read(fleet)}",
            backends=backends,
            weights=weights_for(100) if ready and settled else None,
        )

    def stable_only(self, fleet: Fleet, *, evict: frozenset[str] = frozenset()) -> Layout:
        n, stable = fleet.total, fleet.stable
        replicas: dict[str, int] = {}
        remove: list[str] = []
        if stable is not None:
            replicas[stable] = n
        backends = (stable, stable) if stable is not None else None
        observed = fleet.gateway.serving
        # The stable Service must serve the stable revision before it gets weight
        # back: after a promotion it still selects the old one (at weight 0), and
        # at adoption its endpoints fill in as the stable pods become ready.
        stable_selected = stable is not None and observed[0] == stable
        weights = ALL_STABLE if stable_selected else None
        routed = stable_selected and fleet.gateway.reads(ALL_STABLE)
        full = fleet.rolled_out(stable, n)
        settled = routed and full and observed == backends
        others = sorted(r for r, w in fleet.serving.items() if w.exists and r != stable)
        for revision in others:
            now = fleet.of(revision).replicas
            if revision in evict:
                # Weight 0 is written at once; its pods go once every route reads it
                # (the gateway applied it), so no request meets a pod going away.
                if now == 0:
                    remove.append(revision)
                else:
                    gone = stable_selected and fleet.gateway.applied(ALL_STABLE)
                    replicas[revision] = 0 if gone else now
            elif settled:
                remove.append(revision)
            else:
                replicas[revision] = now  # serves on until no route can reach it
        in_effect = settled and all(fleet.of(r).replicas == 0 for r in evict if r != stable)
        return Layout(
            replicas=replicas,
            remove=tuple(remove),
            in_effect=in_effect,
            summary=f"{fleet.ready(stable)}/{n} ready on stable; {_read(fleet)}",
            backends=backends,
            weights=weights,
        )


def _backends(stable: str | None, canary: str | None) -> tuple[str, str] | None:
    if stable is None:
        return None
    return (stable, canary or stable)


def _read(fleet: Fleet) -> str:
    """The weights read back, in words: "routes read 90/10"."""
    routes = fleet.gateway.routes
    if not routes:
        return "no HTTPRoute found"
    problems = [f"HTTPRoute {name}: {r.problem}" for name, r in sorted(routes.items()) if r.problem]
    if problems:
        return "; ".join(problems)
    read = fleet.gateway.weights_read()
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
    selected = set(fleet.gateway.backends)
    if fleet.ready(fleet.stable) < fleet.total:
        return ()
    return tuple(
        sorted(
            r
            for r, w in fleet.serving.items()
            if w.exists and r not in (fleet.stable, fleet.canary) and r not in selected
        )
    )
