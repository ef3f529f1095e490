"""The probe kinds' runners, by kind: the operator's prober and `deploymentgate
check` reach a kind's I/O only through here (its descriptor: deploymentgate.probe_kinds)."""

from __future__ import annotations

from deploymentgate.observations import ProbeKind
from deploymentgate.probes.error_rate import ErrorRateRunner
from deploymentgate.probes.health import HEALTH_RUNNER
from deploymentgate.probes.kind_runner import ProbeRunner
from deploymentgate.probes.metric_checks import MetricChecksRunner
from deploymentgate.probes.startup import StartupRunner
from deploymentgate.probes.websocket import WEBSOCKET_RUNNER

_RUNNERS: dict[ProbeKind, ProbeRunner] = {
    r.kind: r
    for r in (
        StartupRunner(),
        HEALTH_RUNNER,
        WEBSOCKET_RUNNER,
        ErrorRateRunner(),
        MetricChecksRunner(),
    )
}


def register_runner(runner: ProbeRunner) -> None:
    """Add an extra kind's runner (its descriptor: deploymentgate.probe_kinds.register)."""
    if runner.kind in _RUNNERS:
        raise ValueError(f"probe kind {runner.kind.value} has a runner already")
    _RUNNERS[runner.kind] = runner


def runner(kind: ProbeKind) -> ProbeRunner:
    return _RUNNERS[kind]
