"""The traffic router interface: how a traffic split is laid out in the cluster.

A router is told where the rollout stands (the stable revision, the revision
under test, the total replica count, the serving Deployments observed) and
says what the serving side must look like: which revisions run how many
replicas, which serving Deployments go, and whether the traffic split asked
for is in effect. `phases` and `plan` ask it; neither does traffic arithmetic.
A new router (e.g. Gateway API route weights) is one module beside this one
plus its adapter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from deploymentgate.core.inputs import NO_GATEWAY, GatewayState
from deploymentgate.observations import WorkloadState

ABSENT = WorkloadState(exists=False)


@dataclass(frozen=True)
class Fleet:
    """The serving side as a router sees it.

    total    replicas the team asked for (status.replicas)
    stable   the revision that serves when nothing is under test
    canary   the revision under test (None when there is none)
    serving  the gate's own serving Deployments, keyed by computed revision
    gateway  router gatewayAPI: its Services and the weights read back from routes
    """

    total: int
    stable: str | None
    canary: str | None
    serving: Mapping[str, WorkloadState] = field(default_factory=dict)
    gateway: GatewayState = NO_GATEWAY

    def of(self, revision: str | None) -> WorkloadState:
        return self.serving.get(revision or "", ABSENT)

    def ready(self, revision: str | None) -> int:
        """Ready pods of `revision` (0 while its Deployment's status lags its spec)."""
        workload = self.of(revision)
        if not workload.exists or not workload.observed or workload.revision != revision:
            return 0
        return min(workload.ready, workload.updated)

    def rolled_out(self, revision: str | None, replicas: int) -> bool:
        """`revision` runs exactly `replicas` replicas, all of them ready; for 0,
        its Deployment has seen the scale-down and no pod of it is ready any more
        (its spec alone says nothing while the controllers lag, e.g. for up to a
        minute after an API server outage)."""
        workload = self.of(revision)
        if replicas == 0:
            drained = workload.observed and workload.ready == 0
            return not workload.exists or (workload.replicas == 0 and drained)
        return workload.replicas == replicas and self.ready(revision) >= replicas


@dataclass(frozen=True)
class Layout:
    """What the serving side must look like now.

    replicas   serving revision -> replicas it must run (its Deployment is
               created when absent)
    remove     serving revisions whose Deployment must be deleted now
    in_effect  the traffic split this layout is for holds: every pod it
               counts on is ready
    summary    the split in words, for messages ("1 of 10 pods")
    backends   router gatewayAPI: the revisions the gate's stable and canary
               Services must select (None: no such Services)
    weights    router gatewayAPI: (stable, canary) percent every managed route
               must carry now (None: leave the routes as they are this pass)
    """

    replicas: Mapping[str, int]
    remove: tuple[str, ...] = ()
    in_effect: bool = False
    summary: str = ""
    backends: tuple[str, str] | None = None
    weights: tuple[int, int] | None = None


class TrafficRouter(Protocol):
    """One way of splitting the Service's traffic between two revisions."""

    def step(self, fleet: Fleet, weight: int, previous: int, *, shifted: bool) -> Layout:
        """`weight` percent to the canary, coming from `previous` percent.

        Until the step is `shifted` (its canary pods were ready once), the
        stable keeps what it had for `previous`, so capacity never dips.
        """
        ...

    def promote(self, fleet: Fleet) -> Layout:
        """Everything onto the canary without restarting a serving pod;
        in effect once the canary alone serves at full size."""
        ...

    def stable_only(self, fleet: Fleet, *, evict: frozenset[str] = frozenset()) -> Layout:
        """All traffic on the stable revision at full size.

        Revisions in `evict` leave the Service at once (a rejected canary),
        unless no stable pod is ready yet (then as soon as one is); any other
        serving Deployment keeps its pods until the stable serves at full
        size, then goes in one step (each session is moved once).
        """
        ...
