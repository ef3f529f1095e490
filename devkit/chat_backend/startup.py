"""The seed's seven-phase startup as a state machine with timestamps.

The state mirrors the seed's ``app.state`` flags (startup_complete,
startup_in_progress, startup_phase) because those are what the checklist
tells a human to verify, and what /health reports to a probe.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum

from chat_backend.modes import Knobs, Mode

log = logging.getLogger("chat_backend")


class Phase(StrEnum):
    INIT = "INIT"
    DEPENDENCIES = "DEPENDENCIES"
    DATABASE = "DATABASE"
    CACHE = "CACHE"
    SERVICES = "SERVICES"
    WEBSOCKET = "WEBSOCKET"
    FINALIZE = "FINALIZE"


PHASE_ORDER: tuple[Phase, ...] = tuple(Phase)

# phases-out-of-order: DATABASE is reported before DEPENDENCIES.
OUT_OF_ORDER: tuple[Phase, ...] = (
    Phase.INIT,
    Phase.DATABASE,
    Phase.DEPENDENCIES,
    Phase.CACHE,
    Phase.SERVICES,
    Phase.WEBSOCKET,
    Phase.FINALIZE,
)

DATABASE_FAILURE = "Database connection failed: connection refused (simulated)"


@dataclass(frozen=True)
class StartupPlan:
    """What a startup will do: the phases in order, each one's duration, where it fails."""

    steps: tuple[tuple[Phase, float], ...]
    fail_at: Phase | None = None
    error: str = ""


def plan_for(mode: Mode, knobs: Knobs) -> StartupPlan:
    order = OUT_OF_ORDER if mode is Mode.PHASES_OUT_OF_ORDER else PHASE_ORDER
    steps = []
    for phase in order:
        seconds = knobs.phase_seconds
        if mode is Mode.SLOW_STARTUP and phase is Phase.DATABASE:
            seconds = knobs.slow_phase_seconds
        steps.append((phase, seconds))
    if mode is Mode.STARTUP_FAILS:
        return StartupPlan(tuple(steps), fail_at=Phase.DATABASE, error=DATABASE_FAILURE)
    return StartupPlan(tuple(steps))


@dataclass
class PhaseRecord:
    phase: Phase
    started_at: float  # epoch seconds
    completed_at: float | None = None
    failed_at: float | None = None

    def as_json(self) -> dict[str, object]:
        body: dict[str, object] = {
            "phase": self.phase.value,
            "started_at": self.started_at,
            "completed_at": self.completed_at,
        }
        if self.failed_at is not None:
            body["failed_at"] = self.failed_at
        return body


@dataclass
class StartupState:
    startup_complete: bool = False
    startup_in_progress: bool = True
    startup_failed: bool = False
    startup_phase: Phase | None = None
    error: str | None = None
    websocket_ready: bool = False
    ready_monotonic: float | None = None  # when startup completed, for time-based modes
    phases: list[PhaseRecord] = field(default_factory=list)

    def phases_json(self) -> list[dict[str, object]]:
        return [record.as_json() for record in self.phases]


Sleep = Callable[[float], Awaitable[object]]


async def run_startup(state: StartupState, plan: StartupPlan, sleep: Sleep = asyncio.sleep) -> None:
    """Walk the plan, updating `state` as the seed's app.state would be updated."""
    state.startup_complete = False
    state.startup_in_progress = True
    for phase, seconds in plan.steps:
        state.startup_phase = phase
        record = PhaseRecord(phase=phase, started_at=time.time())
        state.phases.append(record)
        log.info("startup phase %s started", phase.value)
        await sleep(seconds)
        if phase is plan.fail_at:
            record.failed_at = time.time()
            state.startup_failed = True
            state.startup_in_progress = False
            state.error = plan.error
            log.error("startup failed in phase %s: %s", phase.value, plan.error)
            return
        record.completed_at = time.time()
        if phase is Phase.WEBSOCKET:
            state.websocket_ready = True
    state.ready_monotonic = time.monotonic()
    state.startup_in_progress = False
    state.startup_complete = True
    log.info("startup complete")
