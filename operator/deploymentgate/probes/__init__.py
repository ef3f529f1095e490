"""The gate's probes: each run against a target returns a ProbeObservation.

Every probe is bounded in time, bytes and messages, and reports a broken or
hostile target as a failed observation rather than raising.
"""

from deploymentgate.probes.error_rate import (
    judge_window,
    new_window,
    run_error_rate_probe,
    run_prometheus_error_rate,
    send_probe_traffic,
)
from deploymentgate.probes.error_window import ErrorRateReading, ErrorRateWindow
from deploymentgate.probes.health import run_health_probe
from deploymentgate.probes.health_tracker import HealthTracker
from deploymentgate.probes.http_client import hardened_client
from deploymentgate.probes.promql import PLACEHOLDERS, render_query
from deploymentgate.probes.runner import (
    PrometheusContext,
    configured_probes,
    run_gate_probes,
)
from deploymentgate.probes.startup import run_startup_probe
from deploymentgate.probes.urls import probe_url, redact
from deploymentgate.probes.websocket import run_websocket_probe
from deploymentgate.probes.websocket_throughput import run_websocket_throughput

__all__ = [
    "PLACEHOLDERS",
    "ErrorRateReading",
    "ErrorRateWindow",
    "HealthTracker",
    "PrometheusContext",
    "configured_probes",
    "hardened_client",
    "judge_window",
    "new_window",
    "probe_url",
    "redact",
    "render_query",
    "run_error_rate_probe",
    "run_gate_probes",
    "run_health_probe",
    "run_prometheus_error_rate",
    "run_startup_probe",
    "run_websocket_probe",
    "run_websocket_throughput",
    "send_probe_traffic",
]
