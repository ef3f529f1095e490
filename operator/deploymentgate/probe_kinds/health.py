"""The health probe: the health endpoint of every serving pod, in rounds."""

from __future__ import annotations

from deploymentgate.models import Trigger
from deploymentgate.observations import ProbeKind
from deploymentgate.probe_kinds.base import ProbeDescriptor, at_zero_rule, failing_for_rule

HEALTH = ProbeDescriptor(
    kind=ProbeKind.HEALTH,
    spec_path=("probes", "health"),
    field="health",
    title="Health endpoint",
    trigger=Trigger.HEALTH_FAILING,
    gated=True,
    steady=True,
    rules=(
        at_zero_rule(ProbeKind.HEALTH),
        failing_for_rule(lambda rollback: rollback.health_failing_for, "health failing"),
    ),
)
