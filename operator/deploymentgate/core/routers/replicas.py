"""The `replicas` router (no mesh): traffic split by counting pods.

The gated Service selects the pods of every serving Deployment of the gate
alike (stable and canary), so the share of traffic on the new revision is its
share of ready pods. Percentages become whole pods here, and only here.
"""

from __future__ import annotations

from dataclasses import dataclass

from deploymentgate.core.routers.base import Fleet, Layout, PodRouter


@dataclass(frozen=True)
class Split:
    """Replicas of each serving Deployment for one traffic step."""

    stable: int
    canary: int

    @property
    def actual_weight(self) -> int:
        """Percent of pods on the canary: what the Service really sends it."""
        total = self.stable + self.canary
        return 0 if total == 0 else _round_half_up(100 * self.canary, total)


def _round_half_up(numerator: int, denominator: int) -> int:
    return (2 * numerator + denominator) // (2 * denominator)


def split(total: int, weight: int) -> Split:
    """Stable and canary replicas for a step at `weight` percent, by surge.

    Up to 50% the stable keeps every pod and the canary is added beside it
    (weight w of the pods: canary = total * w / (100 - w), at least one pod);
    above 50% the canary runs `total` pods and the stable shrinks, keeping at
    least one below 100%. The stable thus loses pods only for steps above 50%
    and at 100%, so a WebSocket session on a stable pod is moved at most once
    over a rollout whose steps stay at or below 50% before 100 (a session cut
    from a stable pod may otherwise land on another stable pod that goes
    later). The price: up to twice the pods at a 50% step. With very few
    replicas the real share is coarser than asked (1 pod at 10% is 1:1).
    """
    if total <= 0:
        return Split(stable=0, canary=0)
    if weight <= 0:
        return Split(stable=total, canary=0)
    if weight >= 100:
        return Split(stable=0, canary=total)
    if weight <= 50:
        canary = max(1, _round_half_up(total * weight, 100 - weight))
        return Split(stable=total, canary=min(canary, total))
    stable = max(1, _round_half_up(total * (100 - weight), weight))
    return Split(stable=min(stable, total), canary=total)


class ReplicasRouter(PodRouter):
    """`TrafficRouter` by replica counts of the gate's serving Deployments."""

    kind = "replicas"

    def step(self, fleet: Fleet, weight: int, previous: int, *, shifted: bool) -> Layout:
        n, stable, canary = fleet.total, fleet.stable, fleet.canary
        share = split(n, weight)
        # Stepping up, the stable shrinks only once the canary's pods are ready.
        keep = share.stable if shifted else max(split(n, previous).stable, share.stable)
        replicas: dict[str, int] = {}
        parked: frozenset[str] = frozenset()
        if stable is not None:
            replicas[stable] = keep
            if keep == 0 and shifted and fleet.kept_warm(stable):
                # 100%, kept for a revert: its pods leave the Service but run on.
                replicas[stable], parked = fleet.of(stable).replicas, frozenset({stable})
        if canary is not None:
            replicas[canary] = share.canary
        in_effect = canary is not None and fleet.rolled_out(canary, share.canary)
        return Layout(
            replicas=replicas,
            remove=_strays_to_remove(fleet),
            in_effect=in_effect,
            summary=f"{share.canary} of {share.canary + share.stable} pods",
            parked=parked,
        )

    def promote(self, fleet: Fleet) -> Layout:
        n, stable, canary = fleet.total, fleet.stable, fleet.canary
        replicas: dict[str, int] = {}
        if canary is not None:
            replicas[canary] = n
        left = 0
        parked: frozenset[str] = frozenset()
        full = fleet.rolled_out(canary, n)
        gone = fleet.rolled_out(stable, 0)
        if stable is not None and stable != canary and fleet.of(stable).exists:
            # The stable goes in one scale once the canary serves at full size: its
            # pods leave the Service together, so every cut session lands on a canary
            # pod and is moved only once; capacity never dips meanwhile. Kept for a
            # revert, its pods leave the Service the same way but run on.
            left = 0 if full else fleet.of(stable).replicas
            if full and fleet.kept_warm(stable):
                left, parked = fleet.of(stable).replicas, frozenset({stable})
                gone = fleet.parked(stable)
            replicas[stable] = left
        in_effect = canary is not None and full and gone
        kept = f"{left} kept out of traffic" if parked else f"{left} left"
        return Layout(
            replicas=replicas,
            remove=_strays_to_remove(fleet),
            in_effect=in_effect,
            summary=f"{fleet.ready(canary)}/{n} ready on the new revision, {kept} on stable",
            parked=parked,
        )

    def stable_only(self, fleet: Fleet, *, evict: frozenset[str] = frozenset()) -> Layout:
        n, stable = fleet.total, fleet.stable
        full = fleet.rolled_out(stable, n)
        # A rejected revision's pods leave the Service at once (the Deployment goes
        # once empty), unless no stable pod is ready yet (a rollback from a 100%
        # step): then it serves on until the first stable pods are, rather than
        # leaving the Service with no endpoint at all. Verified pods keep serving
        # until the stable serves at full size, then go together.
        # Parked stable pods (a revert after promotion) rejoin the Service first;
        # the rejected revision leaves once they carry the serving key again.
        joined = fleet.of(stable).pods_parked == 0
        replicas: dict[str, int] = {stable: n} if stable is not None else {}
        others, remove = fleet.drain_others(
            evict, evict_now=fleet.ready(stable) > 0 and joined, settled=full and joined
        )
        replicas.update(others)
        warm = fleet.previous if fleet.kept_warm(fleet.previous) else None
        parked = frozenset({warm}) if warm is not None and warm != stable else frozenset()
        in_effect = (
            full
            and joined
            and all(fleet.parked(r) for r in parked)
            and all(fleet.of(r).replicas == 0 for r in evict if r != stable)
        )
        return Layout(
            replicas=replicas,
            remove=tuple(remove),
            in_effect=in_effect,
            summary=f"{fleet.ready(stable)}/{n} ready on stable"
            + (f", revision {warm} kept out of traffic for a revert" if parked else ""),
            parked=parked,
        )


def _strays_to_remove(fleet: Fleet) -> tuple[str, ...]:
    """Serving Deployments of neither the stable nor the canary revision go once
    the two serve at full size together (until then they add capacity)."""
    if fleet.ready(fleet.stable) + fleet.ready(fleet.canary) >= fleet.total:
        return fleet.strays()
    return ()
