"""The pure decision core: every rule of the gate, with no I/O and no clock.

    from deploymentgate.core import decide, Observations
    decision = decide(spec, status, Observations(target=...), now)

See `decide` for the contract with the thin layer, `actions` for what it must
carry out, `inputs` for what it must observe, and `crdgen` for the CRD.
"""

from deploymentgate.core.actions import (
    Action,
    EnsureBackends,
    EnsureServing,
    EnsureSmokeJob,
    EnsureVerification,
    EventType,
    GateService,
    Reason,
    RecordEvent,
    RemoveBackends,
    RemoveServing,
    RemoveSmokeJob,
    RemoveVerification,
    RestoreRoutes,
    RevertTarget,
    ScaleServing,
    ScaleTarget,
    SetRouteWeights,
    StartProbes,
    StopProbes,
)
from deploymentgate.core.decide import Decision, decide
from deploymentgate.core.inputs import (
    GatewayState,
    Observations,
    ObservedSignOff,
    ProbeRun,
    ProbeWorkload,
    RouteState,
    ServiceState,
)
from deploymentgate.core.policy_state import PolicyState
from deploymentgate.core.spec_errors import read_spec
from deploymentgate.core.status_patch import status_patch

__all__ = [
    "Action",
    "Decision",
    "EnsureBackends",
    "EnsureServing",
    "EnsureSmokeJob",
    "EnsureVerification",
    "EventType",
    "GateService",
    "GatewayState",
    "Observations",
    "ObservedSignOff",
    "PolicyState",
    "ProbeRun",
    "ProbeWorkload",
    "Reason",
    "RecordEvent",
    "RemoveBackends",
    "RemoveServing",
    "RemoveSmokeJob",
    "RemoveVerification",
    "RestoreRoutes",
    "RevertTarget",
    "RouteState",
    "ScaleServing",
    "ScaleTarget",
    "ServiceState",
    "SetRouteWeights",
    "StartProbes",
    "StopProbes",
    "decide",
    "read_spec",
    "status_patch",
]
