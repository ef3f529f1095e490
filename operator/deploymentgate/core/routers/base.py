"""The traffic router interface: everything the core knows of one way of moving traffic.

A router is told where the rollout stands (the stable revision, the revision
under test, the total replica count, the serving Deployments observed, and
what its own adapter read of its traffic objects: `Fleet.router_state`) and
says what the serving side must look like (a `Layout`), which writes of its
own traffic objects that takes (`actions`), how they are given back when the
gate is deleted (`hand_back`), and what the status and `kubectl gate status`
show of them. `phases`, `plan`, `deletion` and `decide` ask it; none of them
does traffic arithmetic or names a router kind.

A new router is one module beside this one (its `TrafficRouter`, its state and
its actions), one line in the registry (`deploymentgate.core.routers`), and,
when it reads or writes cluster objects, an adapter reached through the
controller's registry (`deploymentgate.controller.routers`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from deploymentgate.core.actions import Action
from deploymentgate.models import GateStatus, Traffic
from deploymentgate.observations import WorkloadState

ABSENT = WorkloadState(exists=False)


@dataclass(frozen=True)
class Fleet:
    """The serving side as a router sees it.

    total         replicas the team asked for (status.replicas)
    stable        the revision that serves when nothing is under test
    canary        the revision under test (None when there is none)
    serving       the gate's own serving Deployments, keyed by computed revision
    router_state  what the router's adapter read of its own traffic objects
                  (opaque to everything but that router; None when it reads none)
    previous      the revision kept running, out of traffic, for an instant revert
                  (rollback.watchAfterPromotion): the stable while a revision goes
                  to 100% and is promoted, then the one before the promoted revision
                  until the watch ends; None when no watch is configured or under way
    """

    total: int
    stable: str | None
    canary: str | None
    serving: Mapping[str, WorkloadState] = field(default_factory=dict)
    router_state: object = None
    previous: str | None = None

    def kept_warm(self, revision: str | None) -> bool:
        """`revision` is the one kept for a revert, and its Deployment is still there."""
        return revision is not None and revision == self.previous and self.of(revision).exists

    def parked(self, revision: str | None) -> bool:
        """No live pod of `revision` carries the serving key (none takes traffic)."""
        return self.of(revision).pods_serving == 0

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

    def strays(self, *, keep: Collection[str | None] = ()) -> tuple[str, ...]:
        """Serving Deployments of neither the stable nor the canary revision (nor
        of one in `keep`), sorted."""
        return tuple(
            sorted(
                r
                for r, w in self.serving.items()
                if w.exists and r not in (self.stable, self.canary, self.previous) and r not in keep
            )
        )

    def drain_others(
        self, evict: frozenset[str], *, evict_now: bool, settled: bool
    ) -> tuple[dict[str, int], list[str]]:
        """How every serving Deployment besides the stable's goes: (replicas, remove).

        One in `evict` is scaled to 0 once `evict_now` (its pods leave at once,
        the router says when that is safe) and removed once at 0; any other keeps
        its size until the stable is `settled`, then all go together (a session
        cut from them lands on a stable pod, moved once).
        """
        replicas: dict[str, int] = {}
        remove: list[str] = []
        others = sorted(r for r, w in self.serving.items() if w.exists and r != self.stable)
        for revision in others:
            now = self.of(revision).replicas
            if revision == self.previous and revision not in evict:
                replicas[revision] = now  # kept for a revert, as it is
            elif revision in evict:
                if now == 0:
                    remove.append(revision)
                else:
                    replicas[revision] = 0 if evict_now else now
            elif settled:
                remove.append(revision)
            else:
                replicas[revision] = now
        return replicas, remove


@dataclass(frozen=True)
class Layout:
    """What the serving side must look like now.

    replicas   serving revision -> replicas it must run (its Deployment is
               created when absent)
    remove     serving revisions whose Deployment must be deleted now
    in_effect  the traffic split this layout is for holds: every pod it
               counts on is ready
    summary    the split in words, for messages ("1 of 10 pods")
    parked     serving revisions whose pods must run without the serving key
               (out of the Service, kept for a revert); every other serving
               revision's pods carry it

    A router whose traffic objects need more (e.g. route weights) returns a
    subclass carrying it, which only its own `actions` reads.
    """

    replicas: Mapping[str, int]
    remove: tuple[str, ...] = ()
    in_effect: bool = False
    summary: str = ""
    parked: frozenset[str] = frozenset()


@dataclass(frozen=True)
class HandBack:
    """One step of giving a router's traffic objects back at gate deletion.

    actions  what to do in this pass
    message  the status message saying so
    """

    actions: tuple[Action, ...]
    message: str


class TrafficRouter(Protocol):
    """One way of splitting the Service's traffic between two revisions."""

    kind: str
    """The value of `spec.traffic.router` that selects it."""
    crd_rules: tuple[Mapping[str, str], ...]
    """CEL rules (`rule`, `message`) it adds to the CRD's `spec.traffic`."""

    def spec_problem(self, traffic: Traffic) -> str | None:
        """What it needs of the rest of `spec.traffic` and misses (None: nothing)."""
        ...

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

    def actions(self, fleet: Fleet, layout: Layout) -> list[Action]:
        """Writes of the router's own traffic objects that `layout` needs, each
        only where what was read back differs; they go before the serving
        Deployments' (a rejected canary loses its traffic before its pods)."""
        ...

    def hand_back(self, state: object) -> HandBack | None:
        """At gate deletion, the first thing to give back before the Service and
        the Deployment are (None: nothing, or not this router's `state`)."""
        ...

    def holds(self, state: object) -> bool:
        """Whether the gate still owns traffic objects of this router."""
        ...

    def release(self, state: object) -> list[Action]:
        """Once the Service is given back: remove the router's own objects
        (before the serving Deployments go)."""
        ...

    def status_fields(self, state: object, status: GateStatus) -> dict[str, Any]:
        """Status fields this router fills from what it read (and clears once it
        reads nothing any more); {} when none changes."""
        ...

    def status_lines(self, status: Mapping[str, Any]) -> list[str]:
        """What `kubectl gate status` shows of the router's part of a raw status."""
        ...


class PodRouter:
    """Defaults for a router with no traffic objects of its own (pods alone
    split the traffic): nothing to write, give back or show."""

    crd_rules: tuple[Mapping[str, str], ...] = ()

    def spec_problem(self, traffic: Traffic) -> str | None:
        return None

    def actions(self, fleet: Fleet, layout: Layout) -> list[Action]:
        return []

    def hand_back(self, state: object) -> HandBack | None:
        return None

    def holds(self, state: object) -> bool:
        return False

    def release(self, state: object) -> list[Action]:
        return []

    def status_fields(self, state: object, status: GateStatus) -> dict[str, Any]:
        return {}

    def status_lines(self, status: Mapping[str, Any]) -> list[str]:
        return []
