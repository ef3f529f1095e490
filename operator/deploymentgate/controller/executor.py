"""Carry out the core's workload actions against the API server.

Each action maps to one idempotent call; the core re-emits anything a crash
or a failed call lost, so nothing here retries or remembers.
"""

from __future__ import annotations

import copy
from typing import Any

from deploymentgate.core import (
    Action,
    EnsurePrimary,
    EnsureVerification,
    RemovePrimary,
    RemoveVerification,
    RevertTarget,
    ScaleCanary,
    ScalePrimary,
)
from deploymentgate.k8s.api import KubeApi
from deploymentgate.k8s.builders import (
    build_primary,
    build_verification,
    primary_name,
    verify_name,
)


class Executor:
    def __init__(self, api: KubeApi) -> None:
        self.api = api

    async def apply(
        self, action: Action, *, gate: dict[str, Any], target: dict[str, Any] | None
    ) -> None:
        meta = gate["metadata"]
        namespace = meta["namespace"]
        target_name = gate["spec"]["targetRef"]["name"]
        match action:
            case EnsurePrimary(revision=revision, template=template, replicas=replicas):
                body = build_primary(
                    gate, _require(target), dict(copy.deepcopy(template)), revision, replicas
                )
                await self.api.apply_deployment(body)
            case ScalePrimary(replicas=replicas):
                await self.api.scale_deployment(namespace, primary_name(target_name), replicas)
            case ScaleCanary(replicas=replicas):
                await self.api.scale_deployment(namespace, target_name, replicas)
            case RemovePrimary():
                await self.api.delete_deployment(namespace, primary_name(target_name))
            case EnsureVerification(revision=revision, template=template, replicas=replicas):
                body = build_verification(
                    gate, _require(target), dict(copy.deepcopy(template)), revision, replicas
                )
                await self.api.apply_deployment(body)
            case RemoveVerification():
                await self.api.delete_deployment(namespace, verify_name(target_name))
            case RevertTarget(template=template):
                await self.api.set_deployment_template(
                    namespace, target_name, dict(copy.deepcopy(template))
                )
            case _:
                raise TypeError(f"not a workload action: {action!r}")


def _require(target: dict[str, Any] | None) -> dict[str, Any]:
    if target is None:
        raise LookupError("the target Deployment is gone; cannot build from it")
    return target
