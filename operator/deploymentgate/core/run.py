"""One call of `decide`: the inputs, the status being rewritten, the events.

Handlers never mutate the incoming status; each change makes a new frozen
copy, so the caller's status object stays what it was.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Unpack

from deploymentgate.core.actions import EventType, Reason, RecordEvent
from deploymentgate.core.conditions import appended
from deploymentgate.core.inputs import Observations
from deploymentgate.core.routers import Fleet, TrafficRouter, router_for
from deploymentgate.models import GateSpec, GateStatus, HistoryEntry, Phase, StatusChanges
from deploymentgate.observations import WorkloadState


class Run:
    def __init__(
        self, spec: GateSpec | None, status: GateStatus, obs: Observations, now: datetime
    ) -> None:
        if now.tzinfo is None:
            raise ValueError("decide needs a timezone-aware `now`")
        self.spec = spec
        self.obs = obs
        self.now = now
        self.status = status
        self.events: list[RecordEvent] = []
        self.wake: list[datetime] = []
        # The verification pod's startup went unwatched: replace it (see plan).
        self.replace_verification = False

    @property
    def gate_spec(self) -> GateSpec:
        """The spec, for handlers that only run once it is known to be valid."""
        if self.spec is None:
            raise RuntimeError("no valid spec")
        return self.spec

    @property
    def replicas(self) -> int:
        return self.status.replicas or 0

    @property
    def router(self) -> TrafficRouter:
        """The spec's traffic router (`decide` refuses a spec naming none it has)."""
        router = router_for(self.gate_spec)
        if router is None:
            raise RuntimeError(f"no router {self.gate_spec.traffic.router}")
        return router

    @property
    def fleet(self) -> Fleet:
        """The serving side for the router, as the status (being rewritten) says."""
        st = self.status
        canary = st.revision if st.revision != st.stable_revision else None
        return Fleet(
            total=self.replicas,
            stable=st.stable_revision,
            canary=canary,
            serving=self.obs.serving,
            router_state=self.obs.router_state,
            previous=self.kept_for_revert,
        )

    @property
    def kept_for_revert(self) -> str | None:
        """The revision kept running out of traffic (see `Fleet.previous`): the one
        before a promoted revision during its watch, or, on the way to promotion
        with a watch configured, the stable."""
        st = self.status
        if st.previous_revision is not None:
            return st.previous_revision
        watch = self.spec is not None and self.spec.rollback.watch_after_promotion > timedelta(0)
        if watch and st.phase in (Phase.PROGRESSING, Phase.PROMOTING):
            return st.stable_revision
        return None

    def watching(self) -> bool:
        """A promoted revision is under its watch (rollback.watchAfterPromotion)."""
        st = self.status
        return (
            st.previous_revision is not None
            and st.watch_until is not None
            and st.revision == st.stable_revision
        )

    def serving_name(self, revision: str | None) -> str:
        """`<target>-<revision>`: the gate's serving Deployment of `revision`."""
        return f"{self.gate_spec.target_ref.name}-{revision}"

    def set(self, **changes: Unpack[StatusChanges]) -> None:
        """Rewrite these status fields (typed: mypy rejects an unknown one)."""
        self.status = self.status.model_copy(update=changes)

    def say(self, message: str) -> None:
        self.set(message=message)

    def transition(self, phase: Phase, reason: Reason, message: str) -> None:
        self.set(phase=phase, phase_since=self.now, message=message)
        self.remember(reason, message)

    def remember(self, reason: Reason, message: str) -> None:
        """A history entry for the current phase (transitions and steps)."""
        entry = HistoryEntry(
            time=self.now,
            revision=self.status.revision,
            phase=self.status.phase or Phase.INITIALIZING,
            reason=reason.value,
            message=message,
        )
        self.set(history=appended(self.status.history, entry))

    def event(self, reason: Reason, message: str, *, warning: bool = False) -> None:
        kind = EventType.WARNING if warning else EventType.NORMAL
        self.events.append(RecordEvent(type=kind, reason=reason, message=message))

    def wake_at(self, when: datetime | None) -> None:
        if when is not None and when > self.now:
            self.wake.append(when)

    def requeue_after(self) -> timedelta | None:
        return min(self.wake) - self.now if self.wake else None


def ready_of(workload: WorkloadState, revision: str | None) -> int:
    """Ready pods of `revision` in `workload` (0 while its status lags its spec)."""
    if not workload.exists or not workload.observed or workload.revision != revision:
        return 0
    return min(workload.ready, workload.updated)


def rolled_out(workload: WorkloadState, revision: str | None, replicas: int) -> bool:
    """`workload` runs exactly `replicas` ready pods of `revision`."""
    return workload.replicas == replicas and ready_of(workload, revision) >= replicas


def clock(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
