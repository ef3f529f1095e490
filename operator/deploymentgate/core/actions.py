"""What the thin layer must do after `decide`: plain, typed, immutable requests.

Workload actions are level-triggered: `decide` emits one whenever the observed
world differs from what the status implies, so an action lost to a crash or a
failed API call is simply emitted again on the next reconcile. The executor
applies them in list order; `RecordEvent`s come last and are sent only after
the status write has landed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from deploymentgate.core.inputs import ProbeRun


@dataclass(frozen=True)
class EnsureServing:
    """Create or converge the gate's own serving Deployment for `revision`.

    Its pods run `template` plus the serving label, the only label the
    Service's gated selector matches; `template` must be one that passed
    verification (or the adopted stable one). `replicas` as given.
    """

    revision: str
    template: Mapping[str, Any]
    replicas: int


@dataclass(frozen=True)
class ScaleServing:
    """Scale the gate's serving Deployment for `revision` (it must exist)."""

    revision: str
    replicas: int


@dataclass(frozen=True)
class ParkServing:
    """Take the serving key off the running pods of the gate's serving Deployment
    for `revision` (`parked`), or put it back: they leave or rejoin the Service
    without a restart (the Deployment's selector does not include the key)."""

    revision: str
    parked: bool


@dataclass(frozen=True)
class RemoveServing:
    """Delete the gate's serving Deployment for `revision` (its pods get their grace period)."""

    revision: str


@dataclass(frozen=True)
class ScaleTarget:
    """Scale the team's own Deployment: 0 while gated (its pods are never
    selected anyway), its recorded replica count when handed back."""

    replicas: int


@dataclass(frozen=True)
class EnsureAutoscaler:
    """Create or converge the gate's own HorizontalPodAutoscaler: the team's
    HPA `spec` (its bounds, metrics and behavior), scaling the gate's serving
    Deployment of `revision`."""

    revision: str
    spec: Mapping[str, Any]


@dataclass(frozen=True)
class RemoveAutoscaler:
    """Delete the gate's own HorizontalPodAutoscaler (the team's HPA governs
    their Deployment again once it is handed back)."""


@dataclass(frozen=True)
class GateService:
    """Add (`gated`) or remove the serving key in `spec.service`'s selector.

    Nothing else of the Service changes: removing the key gives the selector
    back exactly as the team wrote it.
    """

    gated: bool


@dataclass(frozen=True)
class RouterAction:
    """A write of a traffic router's own objects (e.g. route weights).

    Each router defines its actions in its own module (core/routers) as
    subclasses; the executor hands them to that router's cluster adapter,
    found through the adapters' registry by the action's type.
    """


@dataclass(frozen=True)
class EnsureVerification:
    """Run `template` in `<target>-verify`, whose pods the gated Service never selects."""

    revision: str
    template: Mapping[str, Any]
    replicas: int = 1


@dataclass(frozen=True)
class RemoveVerification:
    pass


@dataclass(frozen=True)
class EnsureSmokeJob:
    """Create the smoke-test Job of `revision` (`<target>-smoke-<revision>`) from
    `template`, with `url` in the env var `url_env` of every container, no retry
    (backoffLimit 0) and `timeout_seconds` as its activeDeadlineSeconds."""

    revision: str
    url: str
    template: Mapping[str, Any]
    timeout_seconds: int
    url_env: str


@dataclass(frozen=True)
class RemoveSmokeJob:
    """Delete the gate's smoke-test Job of `revision`, its pods with it."""

    revision: str


@dataclass(frozen=True)
class RevertTarget:
    """Write `template` (the stable one) back into the team's Deployment."""

    revision: str
    template: Mapping[str, Any]


@dataclass(frozen=True)
class StartProbes:
    """(Re)start the probe runner on `run`, replacing whatever it runs now."""

    run: ProbeRun


@dataclass(frozen=True)
class StopProbes:
    pass


class EventType(StrEnum):
    NORMAL = "Normal"
    WARNING = "Warning"


class Reason(StrEnum):
    """Why the gate did something: the reason of its Kubernetes Events and of its
    status history entries (some history reasons have no Event of their own)."""

    ADOPTED = "Adopted"
    REVISION_DETECTED = "RevisionDetected"
    VERIFICATION_STARTED = "VerificationStarted"
    VERIFICATION_RESTARTED = "VerificationRestarted"
    PROBE_PASSED = "ProbePassed"
    PROBE_FAILED = "ProbeFailed"
    AWAITING_APPROVAL = "AwaitingApproval"
    APPROVED = "Approved"
    TRAFFIC_SHIFTED = "TrafficShifted"
    PROMOTED = "Promoted"
    ROLLED_BACK = "RolledBack"
    FROZEN = "Frozen"
    BLOCKED = "Blocked"
    SUPERSEDED = "Superseded"
    INVALID_SPEC = "InvalidSpec"
    TARGET_MISSING = "TargetMissing"
    NAME_CONFLICT = "NameConflict"
    ALREADY_GATED = "AlreadyGated"
    HANDED_BACK_STABLE = "HandedBackStable"
    ABORTED = "Aborted"
    RETRIED = "Retried"
    PROMOTE_REQUESTED = "PromoteRequested"
    COMMAND_IGNORED = "CommandIgnored"
    REVERTED_AFTER_PROMOTION = "RevertedAfterPromotion"
    WATCH_ENDED = "WatchEnded"
    # History only: transitions whose Event, if any, carries another reason.
    READY = "Ready"
    VERIFIED = "Verified"
    STEP_PASSED = "StepPassed"
    STEPS_PASSED = "StepsPassed"
    RELEASED = "Released"
    SPEC_VALID = "SpecValid"
    CONFLICT_RESOLVED = "ConflictResolved"
    TARGET_FOUND = "TargetFound"


@dataclass(frozen=True)
class RecordEvent:
    type: EventType
    reason: Reason
    message: str


WorkloadAction = (
    EnsureServing
    | ScaleServing
    | ParkServing
    | RemoveServing
    | ScaleTarget
    | GateService
    | EnsureVerification
    | RemoveVerification
    | RevertTarget
    | RouterAction
    | EnsureSmokeJob
    | RemoveSmokeJob
    | EnsureAutoscaler
    | RemoveAutoscaler
)
ProbeAction = StartProbes | StopProbes
Action = WorkloadAction | ProbeAction | RecordEvent
