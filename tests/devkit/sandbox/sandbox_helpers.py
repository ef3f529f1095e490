"""Manifests and small waits shared by the sandbox's integration tests."""

from __future__ import annotations

import json
from typing import Any

import httpx
import yaml

from deploymentgate_devkit.sandbox import Sandbox


def chat_deployment(
    name: str,
    *,
    version: str,
    replicas: int = 2,
    mode: str = "healthy",
    extra_env: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    labels = labels or {"app": name}
    env = [{"name": "APP_VERSION", "value": version}]
    env += [{"name": k, "value": v} for k, v in (extra_env or {}).items()]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "strategy": {"rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "terminationGracePeriodSeconds": 2,
                    "containers": [
                        {
                            "name": "chat",
                            "image": f"example.com/chat-backend:{mode}",
                            "env": env,
                            "ports": [{"name": "http", "containerPort": 8000}],
                            "readinessProbe": {
                                "httpGet": {"path": "/health", "port": "http"},
                                "periodSeconds": 1,
                            },
                        }
                    ],
                },
            },
        },
    }


def service(name: str, selector: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {
            "selector": selector,
            "ports": [{"name": "web", "port": 80, "targetPort": "http"}],
        },
    }


def apply(cluster: Sandbox, namespace: str, *objects: dict[str, Any]) -> None:
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump_all(objects))


def pods(cluster: Sandbox, namespace: str, selector: str) -> list[dict[str, Any]]:
    listing = cluster.request(
        "GET", f"/api/v1/namespaces/{namespace}/pods", params={"labelSelector": selector}
    )
    return list(listing["items"])


def is_ready(pod: dict[str, Any]) -> bool:
    return any(
        c["type"] == "Ready" and c["status"] == "True"
        for c in (pod.get("status") or {}).get("conditions") or ()
    )


def wait_ready_pods(
    cluster: Sandbox, namespace: str, selector: str, count: int, timeout: float = 60
) -> list[dict[str, Any]]:
    def ready() -> list[dict[str, Any]] | None:
        found = pods(cluster, namespace, selector)
        live = [p for p in found if not p["metadata"].get("deletionTimestamp")]
        if len(live) == count and all(is_ready(p) for p in live):
            return live
        return None

    return cluster.wait_for(ready, timeout=timeout)


def rollout_status(cluster: Sandbox, namespace: str, name: str, timeout: int = 60) -> None:
    cluster.kubectl(
        "rollout", "status", "-n", namespace, f"deployment/{name}", f"--timeout={timeout}s",
        timeout=timeout + 10,
    )  # fmt: skip


def get_json(url: str, timeout: float = 3.0) -> tuple[int, dict[str, Any]]:
    """One request on a fresh connection (so a proxy picks a backend for each)."""
    with httpx.Client(trust_env=False, timeout=timeout) as http:
        response = http.get(url, headers={"Connection": "close"})
        return response.status_code, json.loads(response.text or "{}")
