"""What the reconcile calls once its status write has landed: find the
transitions of that pass worth a message and hand them to the sender."""

from __future__ import annotations

from collections.abc import Sequence

from deploymentgate.models import GateSpec, GateStatus
from deploymentgate.notify.payloads import notifications
from deploymentgate.notify.sender import WebhookSender
from deploymentgate.notify.targets import WebhookTarget, gate_webhooks


class Notifier:
    """Operator-wide webhooks plus each gate's own; one message per transition and webhook."""

    def __init__(self, sender: WebhookSender, webhooks: Sequence[WebhookTarget] = ()) -> None:
        self.sender = sender
        self.webhooks = tuple(webhooks)

    def gate_changed(
        self,
        namespace: str,
        gate: str,
        spec: GateSpec | None,
        before: GateStatus,
        after: GateStatus,
    ) -> int:
        """Queue the messages of one pass (never waits); returns how many were queued."""
        found = notifications(namespace, gate, before, after)
        if not found:
            return 0
        targets = [*self.webhooks, *gate_webhooks(namespace, spec)]
        return sum(self.sender.submit(transition, targets) for transition in found)

    async def aclose(self) -> None:
        await self.sender.aclose()
