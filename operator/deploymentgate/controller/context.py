"""Process-wide state shared by the handlers (passed to kopf as `memo`)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from deploymentgate.controller.apihealth import ApiHealth
from deploymentgate.controller.kopf_workarounds.memo import SharedMemo
from deploymentgate.controller.options import OperatorOptions
from deploymentgate.k8s.api import KubeApi, load_client
from deploymentgate.k8s.secrets import SecretReader
from deploymentgate.metrics import GateMetrics
from deploymentgate.notify import Notifier, WebhookSender, operator_webhooks

PASSES_AT_ONCE = 64

if TYPE_CHECKING:
    from deploymentgate.controller.reconcile import GateReconciler


@dataclass
class OperatorContext(SharedMemo):  # kopf's copies of the memo are the memo itself
    options: OperatorOptions
    metrics: GateMetrics
    api: KubeApi
    notifier: Notifier | None = None
    reconcilers: dict[tuple[str, str], GateReconciler] = field(default_factory=dict)
    wakeups: dict[tuple[str, str], asyncio.Event] = field(default_factory=dict)
    # Why each woken gate was woken (the first cause since its last pass): the
    # metric of passes by cause says what keeps an operator busy.
    woken_by: dict[tuple[str, str], str] = field(default_factory=dict)
    # (kind, namespace, name) of an object -> the gates (namespace, name) it may concern.
    interested: dict[tuple[str, str, str], set[tuple[str, str]]] = field(default_factory=dict)
    interests: dict[tuple[str, str], frozenset[tuple[str, str, str]]] = field(default_factory=dict)
    # Outages of the API server: said once, and every waiting gate woken when it is back.
    api_health: ApiHealth = field(init=False)

    def __post_init__(self) -> None:
        self.api_health = ApiHealth(
            lambda: self.api.ready(), lambda ns, name: self.wake(ns, name, "apiserver")
        )

    # Reconcile passes in flight at once, over all gates. Without a bound, 10,000
    # gates adopted together hold 10,000 passes' worth of bodies and requests in
    # memory while they queue for the API client's 100 connections; with it
    # they queue here, holding nothing.
    passes: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(PASSES_AT_ONCE))

    @classmethod
    async def create(cls, options: OperatorOptions, metrics: GateMetrics) -> OperatorContext:
        api = KubeApi(await load_client(options.kubeconfig))
        sender = WebhookSender(lookup=SecretReader(api.api_client), on_result=metrics.notification)
        webhooks = operator_webhooks(options.webhooks, options.webhooks_from_env)
        notifier = Notifier(sender, webhooks)
        return cls(options=options, metrics=metrics, api=api, notifier=notifier)

    def wake(self, namespace: str, name: str, cause: str) -> None:
        """Something this gate cares about changed (`cause`): run its loop now."""
        key = (namespace, name)
        event = self.wakeups.get(key)
        if event is not None:
            if not event.is_set():
                self.woken_by[key] = cause
            event.set()

    def cause_of_wake(self, gate: tuple[str, str]) -> str:
        """Why `gate` was woken since its last pass (said once)."""
        return self.woken_by.pop(gate, "other")

    def wake_interested(
        self,
        kind: str,
        namespace: str,
        name: str,
        *,
        besides: tuple[str, str] | None = None,
        cause: str | None = None,
    ) -> None:
        """Wake the gates that looked at this object in their last pass (a
        lookup by key: one event costs the same with 10 gates or 10,000),
        except the gate `besides` (the one whose own change this is)."""
        for gate in self.interested.get((kind, namespace, name), ()):
            if gate != besides:
                self.wake(*gate, cause or kind)

    def set_interest(self, gate: tuple[str, str], keys: Iterable[tuple[str, str, str]]) -> None:
        """What `gate` looks at now (replacing what it looked at before)."""
        new = frozenset(keys)
        old = self.interests.get(gate, frozenset())
        if new == old:
            return
        for key in old - new:
            gates = self.interested.get(key)
            if gates is not None:
                gates.discard(gate)
                if not gates:
                    del self.interested[key]
        for key in new - old:
            self.interested.setdefault(key, set()).add(gate)
        if new:
            self.interests[gate] = new
        else:
            self.interests.pop(gate, None)

    async def close(self) -> None:
        await self.api_health.aclose()
        for reconciler in list(self.reconcilers.values()):
            await reconciler.aclose()
        if self.notifier is not None:
            await self.notifier.aclose()  # up to 2 s for queued messages
        await self.api.close()
