"""The startup probe: each new pod's phased startup, watched from its first address."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from deploymentgate.models import GateSpec, ProbeStatus, Trigger
from deploymentgate.observations import ProbeKind
from deploymentgate.probe_kinds.base import ProbeDescriptor, Rule, Stage


def _failed(spec: GateSpec, section: Any, result: ProbeStatus, now: datetime) -> str | None:
    if spec.rollback.on_startup_failure and result.ok is False:
        return f"startup failed: {result.message}"
    return None


def _rolls_back(spec: GateSpec) -> bool:
    return spec.rollback.on_startup_failure


STARTUP = ProbeDescriptor(
    kind=ProbeKind.STARTUP,
    spec_path=("probes", "startup"),
    field="startup",
    title="Startup sequence",
    trigger=Trigger.STARTUP_FAILED,
    per_pod=True,
    first=True,
    final_fires=_rolls_back,
    rules=(Rule(Stage.FAILED, _failed),),
)
