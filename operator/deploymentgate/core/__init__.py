"""The pure decision core: every rule of the gate, with no I/O and no clock.

    from deploymentgate.core import decide, Observations
    decision = decide(spec, status, Observations(target=...), now)

See `decide` for the contract with the thin layer, `actions` for what it must
carry out, `inputs` for what it must observe, and `crdgen` for the CRD.
"""

from deploymentgate.core.actions import (
    Action,
    EnsureAutoscaler,
    EnsureServing,
    EnsureSmokeJob,
    EnsureVerification,
    EventType,
    GateService,
    ParkServing,
    Reason,
    RecordEvent,
    RemoveAutoscaler,
    RemoveServing,
    RemoveSmokeJob,
    RemoveVerification,
    RevertTarget,
    RouterAction,
    ScaleServing,
    ScaleTarget,
    StartProbes,
    StopProbes,
)
from deploymentgate.core.decide import Decision, decide
from deploymentgate.core.inputs import (
    AutoscalerState,
    Observations,
    ObservedSignOff,
    ProbeRun,
    ProbeWorkload,
    ServiceState,
)
from deploymentgate.core.policy_state import PolicyState
from deploymentgate.core.spec_errors import read_spec
from deploymentgate.core.status_patch import status_patch

__all__ = [
    "Action",
    "AutoscalerState",
    "Decision",
    "EnsureAutoscaler",
    "EnsureServing",
    "EnsureSmokeJob",
    "EnsureVerification",
    "EventType",
    "GateService",
    "Observations",
    "ObservedSignOff",
    "ParkServing",
    "PolicyState",
    "ProbeRun",
    "ProbeWorkload",
    "Reason",
    "RecordEvent",
    "RemoveAutoscaler",
    "RemoveServing",
    "RemoveSmokeJob",
    "RemoveVerification",
    "RevertTarget",
    "RouterAction",
    "ScaleServing",
    "ScaleTarget",
    "ServiceState",
    "StartProbes",
    "StopProbes",
    "decide",
    "read_spec",
    "status_patch",
]
