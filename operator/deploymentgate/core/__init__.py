"""The pure decision core: every rule of the gate, with no I/O and no clock.

    from deploymentgate.core import decide, Observations
    decision = decide(spec, status, Observations(target=...), now)

See `decide` for the contract with the thin layer, `actions` for what it must
carry out, `inputs` for what it must observe, and `crdgen` for the CRD.
"""

from deploymentgate.core.actions import (
    Action,
    EnsureServing,
    EnsureVerification,
    EventType,
    GateService,
    Reason,
    RecordEvent,
    RemoveServing,
    RemoveVerification,
    RevertTarget,
    ScaleServing,
    ScaleTarget,
    StartProbes,
    StopProbes,
)
from deploymentgate.core.decide import Decision, decide
from deploymentgate.core.inputs import (
    APPROVED_BY_ANNOTATION,
    APPROVED_REVISION_ANNOTATION,
    Observations,
    ProbeRun,
    ProbeWorkload,
    ServiceState,
    parse_approvers,
)
from deploymentgate.core.spec_errors import read_spec
from deploymentgate.core.status_patch import status_patch

__all__ = [
    "APPROVED_BY_ANNOTATION",
    "APPROVED_REVISION_ANNOTATION",
    "Action",
    "Decision",
    "EnsureServing",
    "EnsureVerification",
    "EventType",
    "GateService",
    "Observations",
    "ProbeRun",
    "ProbeWorkload",
    "Reason",
    "RecordEvent",
    "RemoveServing",
    "RemoveVerification",
    "RevertTarget",
    "ScaleServing",
    "ScaleTarget",
    "ServiceState",
    "StartProbes",
    "StopProbes",
    "decide",
    "parse_approvers",
    "read_spec",
    "status_patch",
]
