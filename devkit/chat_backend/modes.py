"""The ways the backend can behave, and the pure rules behind each one.

Every misbehaviour is deterministic (a counter or a clock value decides it)
so that tests and probes can assert exact outcomes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class Mode(StrEnum):
    """Selected by ``--mode``; a simulated node maps image ``chat-backend:<mode>``."""

    HEALTHY = "healthy"
    SLOW_STARTUP = "slow-startup"  # DATABASE takes CHAT_SLOW_PHASE_SECONDS, then healthy
    PHASES_OUT_OF_ORDER = "phases-out-of-order"  # DATABASE before DEPENDENCIES, then healthy
    STARTUP_FAILS = "startup-fails"  # fails in DATABASE; 503 and no WebSocket forever
    HEALTH_FLAPPING = "health-flapping"  # 200/503 alternating every CHAT_FLAP_SECONDS
    HEALTH_FAILS_AFTER_START = "health-fails-after-start"  # 503 after CHAT_HEALTHY_SECONDS
    # After CHAT_HEALTHY_SECONDS, /health 503 and every /api/chat 500: a release
    # that breaks minutes after it started (a leak, a quota, a cache filling up).
    BREAKS_AFTER_START = "breaks-after-start"
    WS_MISSING_EVENT = "ws-missing-event"  # never sends tool_completed
    WS_SLOW_EVENTS = "ws-slow-events"  # CHAT_WS_EVENT_GAP_SECONDS before every event
    WS_DROPS = "ws-drops"  # closes with 1011 right after agent_thinking
    ERRORS_8PCT = "errors-8pct"  # 2 of every 25 traffic requests answer 500
    SLOW_CHAT = "slow-chat"  # /api/chat answers after CHAT_SLOW_REPLY_SECONDS; /health is fast


class UnknownModeError(ValueError):
    """A mode name that no behaviour exists for."""


def parse_mode(name: str) -> Mode:
    try:
        return Mode(name)
    except ValueError:
        valid = ", ".join(m.value for m in Mode)
        raise UnknownModeError(f"unknown mode {name!r}; valid modes: {valid}") from None


@dataclass(frozen=True)
class Knobs:
    """Durations that shape each mode; env-tunable so tests can run in seconds."""

    phase_seconds: float = 0.3
    slow_phase_seconds: float = 12.0  # over the seed's 10 s per-phase bound
    flap_seconds: float = 2.0
    healthy_seconds: float = 5.0
    ws_event_gap_seconds: float = 0.15  # over the seed's 100 ms event latency bound
    slow_reply_seconds: float = 0.1  # over the seed's 50 ms response-time bound
    # Added to every /api/chat in any mode: a slowdown shared by every revision
    # (a slow database, a noisy neighbour), which a relative check must not blame.
    extra_latency_seconds: float = 0.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Knobs:
        """Read once at start; a malformed value is an error, never a silent default."""
        names = {
            "phase_seconds": "CHAT_PHASE_SECONDS",
            "slow_phase_seconds": "CHAT_SLOW_PHASE_SECONDS",
            "flap_seconds": "CHAT_FLAP_SECONDS",
            "healthy_seconds": "CHAT_HEALTHY_SECONDS",
            "ws_event_gap_seconds": "CHAT_WS_EVENT_GAP_SECONDS",
            "slow_reply_seconds": "CHAT_SLOW_REPLY_SECONDS",
            "extra_latency_seconds": "CHAT_EXTRA_LATENCY_SECONDS",
        }
        values: dict[str, float] = {}
        for field_name, var in names.items():
            raw = env.get(var)
            if raw is None or raw.strip() == "":
                continue
            try:
                value = float(raw)
            except ValueError:
                raise ValueError(f"{var} must be a number of seconds, got {raw!r}") from None
            if value < 0 or value != value:  # negative or NaN
                raise ValueError(f"{var} must be a non-negative number of seconds, got {raw!r}")
            values[field_name] = value
        return cls(**values)


# errors-8pct: 2 failures in every 25 traffic requests, spread out (the 13th
# and the 25th of each block), so any multiple of 25 requests is exactly 8%.
ERROR_NUMERATOR = 2
ERROR_DENOMINATOR = 25


def is_injected_error(request_number: int) -> bool:
    """Whether the n-th (1-based) traffic request answers 500 in errors-8pct mode."""
    if request_number < 1:
        raise ValueError("request numbers start at 1")
    before = (request_number - 1) * ERROR_NUMERATOR // ERROR_DENOMINATOR
    return request_number * ERROR_NUMERATOR // ERROR_DENOMINATOR > before


def health_failure(mode: Mode, knobs: Knobs, seconds_since_ready: float) -> str | None:
    """Why /health fails at this moment after a completed startup, or None if healthy."""
    if mode is Mode.HEALTH_FLAPPING:
        period = knobs.flap_seconds
        if period > 0 and int(seconds_since_ready // period) % 2 == 1:
            return "Cache connection lost (flapping)"
        return None
    if mode in (Mode.HEALTH_FAILS_AFTER_START, Mode.BREAKS_AFTER_START):
        if seconds_since_ready >= knobs.healthy_seconds:
            return "Database connection lost"
        return None
    return None
