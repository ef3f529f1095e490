"""The error rate: the gate's own requests to the new pods, or a PromQL query."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from deploymentgate.models import ErrorRate, ErrorRateSource, GateSpec, ProbeStatus, Trigger
from deploymentgate.observations import ProbeKind
from deploymentgate.probe_kinds.base import ProbeDescriptor, Rule, Stage


def _over(spec: GateSpec, section: Any, result: ProbeStatus, now: datetime) -> str | None:
    if result.ok is not False:
        return None
    return f"error rate over {section.threshold:g}%: {result.message}"


def _at_zero(section: ErrorRate) -> bool:
    """At 0% traffic a Prometheus error rate would measure the stable revision."""
    return section.source is not ErrorRateSource.PROMETHEUS


ERROR_RATE = ProbeDescriptor(
    kind=ProbeKind.ERROR_RATE,
    spec_path=("rollback", "error_rate"),
    field="error_rate",
    title="Error rate",
    trigger=Trigger.ERROR_RATE,
    aliases=("errorrate", "error-rate", "error_rate"),
    default_on=True,
    at_zero=_at_zero,
    rules=(Rule(Stage.OVER, _over),),
)
