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

from deploymentgate.core.approval_policy import NOT_READ, PolicyState
from deploymentgate.models import GateStatus
from deploymentgate.observations import ProbeKind, ProbeObservation, WorkloadState

ABSENT = WorkloadState(exists=False)


class ProbeWorkload(StrEnum):
    """Whose pods the probes hit."""

    VERIFICATION = "verification"  # <target>-verify: new revision, 0% traffic
    CANARY = "canary"  # the user's Deployment: new revision, taking traffic


@dataclass(frozen=True)
class ProbeRun:
    """What the probe runner should be doing: these probes, these pods."""

    revision: str
    workload: ProbeWorkload
    kinds: frozenset[ProbeKind]


@dataclass(frozen=True)
class ObservedSignOff:
    """A GateApproval naming this gate, as admission let it in (see approval_policy)."""

    name: str
    revision: str
    role: str
    approver: str
    groups: frozenset[str]
    created: datetime


@dataclass(frozen=True)
class Observations:
    """The world as seen at the start of one reconcile.

    target        the user's Deployment (the canary); `revision` must be the
                  hash of its pod template (deploymentgate.k8s.revision).
    primary       `<target>-primary`; `revision` is the revision its template
                  was built from (the builders' deploymentgate.dev/revision
                  template label), i.e. the target's hash for that template.
    verification  `<target>-verify`; `revision` likewise from that label: its
                  pods drop the Service's labels, so hashing its template would
                  not give the target's revision.
    probes        probe results that arrived since the last reconcile (results
                  already folded into the status are recognised and skipped).
    probing       what the probe runner is running now (None after a restart).
    generation    metadata.generation of the gate.
    deleting      the gate has a deletionTimestamp.
    spec_error    why the spec failed validation, naming the field; `decide`
                  then touches no traffic.
    sign_offs     the GateApprovals naming this gate (any revision, any role).
    sign_off_policy  whether the admission policy that checks them is in force;
                  without it no sign-off counts (core.signoff).
    created       the gate's metadata.creationTimestamp: sign-offs older than
                  the gate were for an earlier gate of the same name.
    required_gates  status of each gate named in spec.requires, keyed by the
                  string written there; None when that gate does not exist.
    """

    target: WorkloadState
    primary: WorkloadState = ABSENT
    verification: WorkloadState = ABSENT
    probes: tuple[ProbeObservation, ...] = ()
    probing: ProbeRun | None = None
    generation: int | None = None
    deleting: bool = False
    spec_error: str | None = None
    sign_offs: tuple[ObservedSignOff, ...] = ()
    sign_off_policy: PolicyState = NOT_READ
    created: datetime | None = None
    required_gates: Mapping[str, GateStatus | None] = field(default_factory=dict)
