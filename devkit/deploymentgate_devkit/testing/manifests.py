"""Builders of the reference chat app and a fast gate, for tests and benchmarks.

One place for the objects every cluster test applies, so a change to the app's
contract (port, probe, env) is made once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from deploymentgate.models import API_GROUP, API_VERSION


def chat_deployment(
    name: str = "chat",
    *,
    version: str = "v1",
    replicas: int = 2,
    mode: str = "healthy",
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """`chat-backend:<mode>` with a readiness probe, fast startup phases and APP_VERSION."""
    variables = {"APP_VERSION": version, "CHAT_PHASE_SECONDS": "0.1", **(env or {})}
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "terminationGracePeriodSeconds": 2,
                    "containers": [
                        {
                            "name": "chat",
                            "image": f"chat-backend:{mode}",
                            "env": [{"name": k, "value": v} for k, v in variables.items()],
                            "ports": [{"name": "http", "containerPort": 8000}],
                            "readinessProbe": {
                                "httpGet": {"path": "/health", "port": 8000},
                                "periodSeconds": 1,
                            },
                        }
                    ],
                },
            },
        },
    }


def chat_service(name: str = "chat") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {
            "selector": {"app": name},
            "ports": [{"name": "web", "port": 80, "targetPort": 8000}],
        },
    }


def chat_autoscaler(
    name: str = "chat", *, min_replicas: int = 2, max_replicas: int = 6
) -> dict[str, Any]:
    """The team's HPA on their Deployment, as a team writes it (CPU at 70%)."""
    metric = {
        "type": "Resource",
        "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}},
    }
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": min_replicas,
            "maxReplicas": max_replicas,
            "metrics": [metric],
        },
    }


def fast_gate_spec(
    target: str = "chat",
    *,
    steps: tuple[int, ...] = (25, 50, 100),
    step_duration: str = "5s",
    max_latency: str = "1s",
) -> dict[str, Any]:
    """A gate with the seed's probes and triggers at test speed (seconds, not minutes)."""
    return {
        "targetRef": {"kind": "Deployment", "name": target},
        "service": target,
        "traffic": {"steps": list(steps), "stepDuration": step_duration},
        "probes": {
            "startup": {"phaseTimeout": "3s", "timeout": "15s"},
            "health": {"interval": "1s", "maxLatency": max_latency},
            "websocket": {"interval": "2s", "timeout": "5s"},
        },
        "rollback": {
            "errorRate": {
                "threshold": "5%",
                "window": "20s",
                "path": "/api/chat",
                "interval": "1s",
                "requestsPerInterval": 10,
                "minRequests": 25,
            },
            "healthFailingFor": "5s",
            "websocketSilentFor": "5s",
            # The previous revision goes at promotion (the watch after it is
            # tested on its own: tests/e2e/test_revert_after_promotion.py).
            "watchAfterPromotion": "0s",
        },
    }


def gate(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": f"{API_GROUP}/{API_VERSION}",
        "kind": "DeploymentGate",
        "metadata": {"name": name},
        "spec": spec,
    }
