"""Kubernetes Events from the simulated nodes and scheduler: `kubectl describe` tells the story."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from deploymentgate_devkit.sandbox.kubeapi import ApiError, KubeApi
from deploymentgate_devkit.sandbox.podstatus import timestamp

log = logging.getLogger(__name__)


class EventRecorder:
    """Fire-and-forget: an event that cannot be written must never stall a pod."""

    def __init__(self, api: KubeApi) -> None:
        self._api = api
        self._pending: set[asyncio.Task[None]] = set()

    def pod_event(
        self,
        pod: Mapping[str, Any],
        kind: str,
        reason: str,
        message: str,
        *,
        component: str = "kubelet",
        host: str | None = None,
    ) -> None:
        meta = pod.get("metadata") or {}
        namespace = str(meta.get("namespace") or "default")
        now = timestamp()
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{meta.get('name')}.", "namespace": namespace},
            "involvedObject": {
                "apiVersion": "v1",
                "kind": "Pod",
                "name": meta.get("name"),
                "namespace": namespace,
                "uid": meta.get("uid"),
            },
            "type": kind,
            "reason": reason,
            "message": message,
            "source": {"component": component, **({"host": host} if host else {})},
            "reportingComponent": component,
            "reportingInstance": host or component,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        task = asyncio.get_running_loop().create_task(self._post(namespace, body))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _post(self, namespace: str, body: dict[str, Any]) -> None:
        try:
            await self._api.create(f"/api/v1/namespaces/{namespace}/events", body)
        except (ApiError, OSError) as exc:
            log.debug("event %s not recorded: %s", body["reason"], exc)
        except Exception as exc:  # an HTTP client error must not escape a background task
            log.debug("event %s not recorded: %s", body["reason"], exc)

    async def drain(self, timeout: float = 1.0) -> None:
        if self._pending:
            await asyncio.wait(set(self._pending), timeout=timeout)
