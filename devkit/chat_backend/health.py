"""What /health answers, as a pure function of the startup state and the clock.

Bodies follow seed §3: 503 with the current phase during startup, 503 with the
error after a failed startup, 200 ``{"status": "healthy"}`` only when fully up.
"""

from __future__ import annotations

from typing import Any

from chat_backend.config import BackendConfig
from chat_backend.modes import health_failure
from chat_backend.startup import StartupState


def health_response(
    state: StartupState, config: BackendConfig, now_monotonic: float
) -> tuple[int, dict[str, Any]]:
    identity = {"version": config.version, "mode": config.mode.value}
    phase = state.startup_phase.value if state.startup_phase is not None else None
    if state.startup_failed:
        return 503, {
            "status": "unhealthy",
            "message": "Startup failed",
            "startup_failed": True,
            "startup_complete": False,
            "startup_phase": phase,
            "error": state.error,
            **identity,
            **_record(state, config),
        }
    if not state.startup_complete or state.ready_monotonic is None:
        return 503, {
            "status": "unhealthy",
            "message": "Startup in progress",
            "startup_in_progress": True,
            "startup_complete": False,
            "startup_phase": phase,
            **identity,
            **_record(state, config),
        }
    failure = health_failure(config.mode, config.knobs, now_monotonic - state.ready_monotonic)
    if failure is not None:
        return 503, {
            "status": "unhealthy",
            "message": failure,
            "startup_complete": True,
            **identity,
        }
    return 200, {
        "status": "healthy",
        "startup_complete": True,
        **identity,
        **_record(state, config),
    }


def _record(state: StartupState, config: BackendConfig) -> dict[str, Any]:
    return {"phases": state.phases_json()} if config.phase_record else {}
