"""The demo's closing metrics: the operator's real series for one gate, read from /metrics text."""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import generate_latest

from deploymentgate.metrics import GateMetrics
from deploymentgate.models import GateStatus, Phase
from deploymentgate.observations import ProbeKind, ProbeObservation
from deploymentgate_devkit.demo.metrics_summary import key_samples


def exposition() -> str:
    metrics = GateMetrics()
    now = datetime.now(UTC)
    for ok in (True, True, False):
        metrics.observe_probe("demo", "chat", ProbeObservation(ProbeKind.HEALTH, ok, "", now), 0.01)
    metrics.observe_probe(
        "demo",
        "chat",
        ProbeObservation(
            ProbeKind.ERROR_RATE, False, "", now, values={"error_rate_percent": 6.667}
        ),
        0.2,
    )
    metrics.transition("demo", "chat", Phase.ROLLED_BACK)
    metrics.rollback("demo", "chat", "errorRate")
    metrics.observe_status("demo", "chat", GateStatus(phase=Phase.ROLLED_BACK, canary_weight=0))
    # another gate's series must not leak into the demo gate's summary
    metrics.observe_status("prod", "chat", GateStatus(phase=Phase.PROMOTED, canary_weight=100))
    metrics.rollback("prod", "chat", "healthFailing")
    return generate_latest(metrics.registry).decode()


def test_summary_lists_the_current_phase_weight_probe_runs_and_rollbacks_of_one_gate() -> None:
    lines = key_samples(exposition(), "demo", "chat")

    assert lines == [
        'deploymentgate_gate_phase{phase="RolledBack"} 1',
        "deploymentgate_canary_weight_percent 0",
        "deploymentgate_canary_error_rate_ratio 0.06667",
        'deploymentgate_probe_runs_total{probe="errorRate",result="fail"} 1',
        'deploymentgate_probe_runs_total{probe="health",result="fail"} 1',
        'deploymentgate_probe_runs_total{probe="health",result="pass"} 2',
        'deploymentgate_phase_transitions_total{phase="RolledBack"} 1',
        'deploymentgate_rollbacks_total{reason="errorRate"} 1',
    ]
