"""Everything `decide` reads besides the spec, the stored status and the clock.

The thin layer fills an `Observations` from the API server and the probe
runner on every reconcile. Nothing here is remembered between reconciles:
whatever must survive a restart is in the status.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from deploymentgate.core.policy_state import NOT_READ, PolicyState
from deploymentgate.models import GateStatus
from deploymentgate.observations import (
    ProbeKind,
    ProbeObservation,
    SmokeJobState,
    WorkloadState,
)

ABSENT = WorkloadState(exists=False)


class ProbeWorkload(StrEnum):
    """Whose pods the probes hit."""

    VERIFICATION = "verification"  # <target>-verify: new revision, 0% traffic
    CANARY = "canary"  # the gate's serving Deployment of the new revision, taking traffic


@dataclass(frozen=True)
class ProbeRun:
    """What the probe runner should be doing: these probes, these pods."""

    revision: str
    workload: ProbeWorkload
    kinds: frozenset[ProbeKind]


@dataclass(frozen=True)
class ServiceState:
    """The team's Service (spec.service) as the core needs to see it."""

    exists: bool
    gated: bool = False  # its selector carries this gate's serving key


NO_SERVICE = ServiceState(exists=False)


@dataclass(frozen=True)
class AutoscalerState:
    """A HorizontalPodAutoscaler as the core needs it: the team's, on their
    Deployment, or the gate's own copy of it on a serving Deployment.

    spec      the HPA's spec without scaleTargetRef (bounds, metrics, behavior)
    target    the name of the Deployment it scales (scaleTargetRef.name)
    revision  for the gate's copy: the revision of the gate's serving
              Deployment it scales (its template's hash), None otherwise
    desired   status.desiredReplicas: what the HPA last decided (0: nothing yet)
    current   status.observedGeneration >= metadata.generation: `desired` was
              decided on this spec and target, not an earlier one
    """

    name: str
    target: str
    spec: Mapping[str, Any]
    min_replicas: int = 1
    max_replicas: int = 1
    desired: int = 0
    current: bool = True
    revision: str | None = None


@dataclass(frozen=True)
class ObservedSignOff:
    """A GateApproval naming this gate, as admission let it in (see manifests.approval_policy)."""

    name: str
    revision: str
    role: str
    approver: str
    groups: frozenset[str]
    created: datetime


class ConflictCause(StrEnum):
    """How an object is in the gate's way."""

    NOT_OWNED = "NotOwned"  # a name the gate would use, taken by an object it does not own
    GATE_TARGET = "GateTarget"  # the targetRef is itself a DeploymentGate's own Deployment


@dataclass(frozen=True)
class Conflict:
    """An object in the gate's way; while any exists the gate touches nothing.

    owner_uid  the DeploymentGate that controls the object (ownerReference), if any
    gate       the name of the gate it is in the way of
    """

    cause: ConflictCause
    kind: str  # "Deployment", "Service"
    namespace: str
    name: str
    gate: str
    owner_uid: str | None = None

    def describe(self) -> str:
        """The sentence the gate's message and Event show for it."""
        if self.cause is ConflictCause.GATE_TARGET:
            return (
                f"{self.kind} {self.name} is controlled by a DeploymentGate, not written by a team"
            )
        return f"{self.kind} {self.name} exists and is not owned by gate {self.gate}"


@dataclass(frozen=True)
class Holder:
    """The older gate that already holds this gate's Deployment or Service."""

    namespace: str
    name: str
    uid: str = ""

    def describe(self) -> str:
        return f"gate {self.name}"


@dataclass(frozen=True)
class Observations:
    """The world as seen at the start of one reconcile.

    Every `revision` here is computed by the thin layer (a hash of the pod
    template without the operator's own labels, deploymentgate.k8s.revision),
    never read from a label or annotation anyone could write.

    target        the team's Deployment: the source of the desired template.
                  Its pods are never selected by the gated Service.
    serving       the gate's own serving Deployments (ownerReference to this
                  gate, controller: true), keyed by the revision their
                  template runs. Only their pods carry the serving label.
    verification  `<target>-verify`, owned by the gate: the revision under
                  test at 0% traffic (ABSENT when missing or not owned).
    service       the team's Service and whether its selector is gated.
    conflicts     the objects in the gate's way (a name it would create, taken
                  by an object it does not own; a target that is a gate's
                  own Deployment); while any exist the gate is Blocked and
                  touches nothing.
    held_by       another gate that already holds this Deployment or Service,
                  or None; this gate is then Invalid and touches nothing.
    probes        probe results that arrived since the last reconcile (results
                  already folded into the status are recognised and skipped).
    probing       what the probe runner is running now (None after a restart).
    generation    metadata.generation of the gate.
    deleting      the gate has a deletionTimestamp.
    deleting_since  that deletionTimestamp (None when unknown).
    spec_error    why the spec failed validation, naming the field; `decide`
                  then touches no traffic.
    sign_offs     the GateApprovals naming this gate (any revision, any role).
    sign_off_policy  whether the admission policy that checks them is in force;
                  without it no sign-off counts (core.signoff).
    created       the gate's metadata.creationTimestamp: sign-offs older than
                  the gate were for an earlier gate of the same name.
    required_gates  status of each gate named in spec.requires, keyed by the
                  string written there; None when that gate does not exist
                  (or does not consent to be required).
    router_state  what the traffic router's adapter read of the router's own
                  objects (opaque here: only that router reads it; None when
                  its router reads nothing).
    commands      the gate's request annotations (abort, retry, promote), raw;
                  admission checked who wrote them (core.command_policy).
    smoke_jobs    the gate's own smoke-test Jobs (controller ownerReference to
                  this gate), keyed by the revision they test.
    verification_url  the URL of a ready verification pod of the revision under
                  test (the smoke Job's target), or None.
    autoscaler    the team's HorizontalPodAutoscaler on the target Deployment
                  (the first by name, as the HPA controller refuses two), or None.
    own_autoscaler  the gate's own copy of it (controller ownerReference to this
                  gate, at its computed name), or None.
    """

    target: WorkloadState
    serving: Mapping[str, WorkloadState] = field(default_factory=dict)
    verification: WorkloadState = ABSENT
    service: ServiceState = NO_SERVICE
    conflicts: tuple[Conflict, ...] = ()
    held_by: Holder | None = None
    probes: tuple[ProbeObservation, ...] = ()
    probing: ProbeRun | None = None
    generation: int | None = None
    deleting: bool = False
    deleting_since: datetime | None = None
    spec_error: str | None = None
    sign_offs: tuple[ObservedSignOff, ...] = ()
    sign_off_policy: PolicyState = NOT_READ
    created: datetime | None = None
    required_gates: Mapping[str, GateStatus | None] = field(default_factory=dict)
    router_state: object = None
    commands: Mapping[str, str] = field(default_factory=dict)
    smoke_jobs: Mapping[str, SmokeJobState] = field(default_factory=dict)
    verification_url: str | None = None
    autoscaler: AutoscalerState | None = None
    own_autoscaler: AutoscalerState | None = None

    def serving_of(self, revision: str | None) -> WorkloadState:
        """The gate's serving Deployment for `revision`, or ABSENT."""
        return self.serving.get(revision or "", ABSENT)
