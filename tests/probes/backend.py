"""Shared settings for probing the reference chat backend quickly."""

from __future__ import annotations

from datetime import timedelta

from deploymentgate.models import ErrorRate, GateSpec, HealthProbe, StartupProbe, WebSocketProbe

# Phases long enough for 50ms polls to see each one even on a loaded CI box,
# short enough to keep a full startup under two seconds.
FAST_ENV = {
    "CHAT_PHASE_SECONDS": "0.25",
    "CHAT_SLOW_PHASE_SECONDS": "3",
    "CHAT_FLAP_SECONDS": "0.3",
    "CHAT_HEALTHY_SECONDS": "0.3",
    "CHAT_WS_EVENT_GAP_SECONDS": "0.3",
}

STARTUP = StartupProbe(
    phase_timeout=timedelta(milliseconds=600),
    timeout=timedelta(seconds=5),
    poll_interval=timedelta(milliseconds=50),
)
# The seed's 50ms / 100ms bounds are for production hardware; a loaded 2-core
# CI box gets slack here (the slow modes overshoot these bounds too).
HEALTH = HealthProbe(max_latency=timedelta(milliseconds=500), timeout=timedelta(seconds=2))
WEBSOCKET = WebSocketProbe(
    timeout=timedelta(seconds=3), max_event_latency=timedelta(milliseconds=250)
)
ERROR_RATE = ErrorRate(path="/api/chat", requests_per_interval=25, min_requests=50)


def gate_spec() -> GateSpec:
    return GateSpec.model_validate(
        {
            "targetRef": {"name": "chat"},
            "service": "chat",
            "probes": {"startup": STARTUP, "health": HEALTH, "websocket": WEBSOCKET},
            "rollback": {"errorRate": ERROR_RATE},
        }
    )
