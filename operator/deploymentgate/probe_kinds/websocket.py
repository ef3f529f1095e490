"""The WebSocket probe: a conversation with every serving pod, in rounds."""

from __future__ import annotations

from deploymentgate.models import Trigger
from deploymentgate.observations import ProbeKind
from deploymentgate.probe_kinds.base import ProbeDescriptor, at_zero_rule, failing_for_rule

WEBSOCKET = ProbeDescriptor(
    kind=ProbeKind.WEBSOCKET,
    spec_path=("probes", "websocket"),
    field="websocket",
    title="WebSocket events",
    trigger=Trigger.WEBSOCKET_FAILING,
    aliases=("ws",),
    gated=True,
    steady=True,
    rules=(
        at_zero_rule(ProbeKind.WEBSOCKET),
        failing_for_rule(
            lambda rollback: rollback.websocket_silent_for, "WebSocket events not flowing"
        ),
    ),
)
