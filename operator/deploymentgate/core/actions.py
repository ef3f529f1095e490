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
class EnsurePrimary:
    """Create or update `<target>-primary` to run `template` (revision `revision`)."""

    revision: str
    template: Mapping[str, Any]
    replicas: int


@dataclass(frozen=True)
class PromotePrimary(EnsurePrimary):
    """EnsurePrimary with the newly verified template (same executor path)."""


@dataclass(frozen=True)
class ScalePrimary:
    replicas: int


@dataclass(frozen=True)
class ScaleCanary:
    """Scale the user's own Deployment, which serves as the canary."""

    replicas: int


@dataclass(frozen=True)
class RemovePrimary:
    """Delete `<target>-primary` (only once the user's Deployment serves again)."""


@dataclass(frozen=True)
class EnsureVerification:
    """Run `template` in `<target>-verify`, whose pods no Service selects."""

    revision: str
    template: Mapping[str, Any]
    replicas: int = 1


@dataclass(frozen=True)
class RemoveVerification:
    pass


@dataclass(frozen=True)
class RevertTarget:
    """Write `template` (the stable one) back into the user's Deployment."""

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
    """Kubernetes Event reasons the gate emits."""

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


@dataclass(frozen=True)
class RecordEvent:
    type: EventType
    reason: Reason
    message: str


WorkloadAction = (
    EnsurePrimary
    | ScalePrimary
    | ScaleCanary
    | RemovePrimary
    | EnsureVerification
    | RemoveVerification
    | RevertTarget
)
ProbeAction = StartProbes | StopProbes
Action = WorkloadAction | ProbeAction | RecordEvent
