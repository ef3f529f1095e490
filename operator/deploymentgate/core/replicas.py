"""Weight -> replica arithmetic for the `replicas` router (no mesh).

The Service selects the primary's pods and the canary's pods alike, so the
share of traffic on the new revision is its share of ready pods. Percentages
become whole pods here, and only here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Split:
    """Replicas of each Deployment for one traffic step."""

    primary: int
    canary: int

    @property
    def actual_weight(self) -> int:
        """Percent of pods on the canary: what the Service really sends it."""
        total = self.primary + self.canary
        return 0 if total == 0 else _round_half_up(100 * self.canary, total)


def _round_half_up(numerator: int, denominator: int) -> int:
    return (2 * numerator + denominator) // (2 * denominator)


def canary_replicas(total: int, weight: int) -> int:
    """Pods of the new revision for `weight` percent of `total`.

    Any weight above 0 gets at least one pod (a step must expose the revision
    to some traffic); 100 gets them all; otherwise round half up.
    """
    if total <= 0 or weight <= 0:
        return 0
    if weight >= 100:
        return total
    return min(total, max(1, _round_half_up(total * weight, 100)))


def split(total: int, weight: int) -> Split:
    """Primary and canary replicas for a step at `weight` percent.

    Below 100% the primary keeps at least one pod, so a step short of full
    promotion never leaves the stable revision without a pod (with very few
    replicas the real share is then coarser than asked: 1 pod at 10% is 1:1).
    """
    canary = canary_replicas(total, weight)
    primary = total - canary
    if weight < 100 and total > 0 and primary == 0:
        primary = 1
    return Split(primary=primary, canary=canary)


def drain(total: int, stable_ready: int, canary_now: int) -> int:
    """Canary replicas while traffic returns to (or moves onto) the primary.

    The canary gives up one pod for each primary pod that is ready, so the
    ready capacity never drops below `total`; it never grows here.
    """
    return max(0, min(canary_now, total - stable_ready))
