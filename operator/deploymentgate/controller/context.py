"""Process-wide state shared by the handlers (passed to kopf as `memo`)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from deploymentgate.k8s.api import KubeApi, load_client
from deploymentgate.metrics import GateMetrics

if TYPE_CHECKING:
    from deploymentgate.controller.reconcile import GateReconciler
    from deploymentgate.controller.runner import OperatorOptions


@dataclass
class OperatorContext:
    options: OperatorOptions
    metrics: GateMetrics
    api: KubeApi
    reconcilers: dict[tuple[str, str], GateReconciler] = field(default_factory=dict)
    wakeups: dict[tuple[str, str], asyncio.Event] = field(default_factory=dict)

    @classmethod
    async def create(cls, options: OperatorOptions, metrics: GateMetrics) -> OperatorContext:
        api = KubeApi(await load_client(options.kubeconfig))
        return cls(options=options, metrics=metrics, api=api)

    def wake_namespace(self, namespace: str, target: str | None = None) -> None:
        """Something a gate may care about changed: run its loop now."""
        for (ns, _name), event in self.wakeups.items():
            if ns == namespace:
                event.set()

    async def close(self) -> None:
        for reconciler in list(self.reconcilers.values()):
            await reconciler.aclose()
        await self.api.close()
