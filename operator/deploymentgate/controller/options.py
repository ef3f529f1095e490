"""What `deploymentgate run` was asked for: the options every part of the
operator process reads (kept apart from the runner, so the shared state and
the handlers can name them without importing the process set-up)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OperatorOptions:
    namespaces: tuple[str, ...] = ()
    kubeconfig: str | None = None
    metrics_host: str = "0.0.0.0"
    metrics_port: int = 9090
    liveness: str | None = "http://0.0.0.0:8080/healthz"
    peering: str | None = None
    priority: int = 0
    tick: float = 1.0
    steady_interval: float = 30.0  # Idle/Promoted gates' stable checks (0: off)
    log_level: str = "INFO"
    log_format: str = "text"  # or "json"
    webhooks: tuple[str, ...] = ()  # TYPE=URL, notified of every gate's transitions
    webhooks_from_env: tuple[str, ...] = ()  # TYPE=VAR, the URL in environment variable VAR
