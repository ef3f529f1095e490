"""The pure rules behind each mode, checked without a server."""

from __future__ import annotations

import pytest

from chat_backend.conversation import AGENT_EVENTS, parse_client_message, plan_reply
from chat_backend.modes import (
    Knobs,
    Mode,
    UnknownModeError,
    health_failure,
    is_injected_error,
    parse_mode,
)
from chat_backend.startup import PHASE_ORDER, Phase, StartupState, plan_for, run_startup

KNOBS = Knobs(phase_seconds=0.3, slow_phase_seconds=12, flap_seconds=2, healthy_seconds=5)


def test_error_pattern_is_exactly_8_percent_in_every_block_of_25() -> None:
    failures = [n for n in range(1, 101) if is_injected_error(n)]
    assert failures == [13, 25, 38, 50, 63, 75, 88, 100]
    for start in range(1, 101, 25):
        block = range(start, start + 25)
        assert sum(is_injected_error(n) for n in block) == 2


def test_default_phase_order_is_the_seed_order() -> None:
    plan = plan_for(Mode.HEALTHY, KNOBS)
    assert [phase for phase, _ in plan.steps] == list(PHASE_ORDER)
    assert [p.value for p in PHASE_ORDER] == [
        "INIT", "DEPENDENCIES", "DATABASE", "CACHE", "SERVICES", "WEBSOCKET", "FINALIZE"
    ]  # fmt: skip
    assert all(seconds == 0.3 for _, seconds in plan.steps)
    assert plan.fail_at is None


def test_out_of_order_mode_reports_database_before_dependencies() -> None:
    order = [phase for phase, _ in plan_for(Mode.PHASES_OUT_OF_ORDER, KNOBS).steps]
    assert sorted(order) == sorted(PHASE_ORDER)
    assert order.index(Phase.DATABASE) < order.index(Phase.DEPENDENCIES)


def test_slow_startup_stretches_only_the_database_phase_past_ten_seconds() -> None:
    steps = dict(plan_for(Mode.SLOW_STARTUP, Knobs()).steps)
    assert steps[Phase.DATABASE] > 10
    assert set(steps) == set(PHASE_ORDER)  # the others are all there to compare
    assert all(s == Knobs().phase_seconds for p, s in steps.items() if p is not Phase.DATABASE)


async def test_startup_fails_stops_at_database_and_records_the_error() -> None:
    state = StartupState()

    async def no_wait(_: float) -> None:
        return None

    await run_startup(state, plan_for(Mode.STARTUP_FAILS, KNOBS), sleep=no_wait)
    assert state.startup_failed and not state.startup_complete and not state.startup_in_progress
    assert state.startup_phase is Phase.DATABASE
    assert [r.phase for r in state.phases] == [Phase.INIT, Phase.DEPENDENCIES, Phase.DATABASE]
    assert state.phases[-1].completed_at is None and state.phases[-1].failed_at is not None
    assert state.error and "Database" in state.error
    assert not state.websocket_ready


def test_flapping_alternates_every_period_after_startup() -> None:
    times = (0, 1.9, 2.1, 3.9, 4.1)
    healthy = [health_failure(Mode.HEALTH_FLAPPING, KNOBS, t) is None for t in times]
    assert healthy == [True, True, False, False, True]


def test_fails_after_start_is_healthy_only_for_the_configured_time() -> None:
    assert health_failure(Mode.HEALTH_FAILS_AFTER_START, KNOBS, 4.9) is None
    assert health_failure(Mode.HEALTH_FAILS_AFTER_START, KNOBS, 5.0) is not None
    assert health_failure(Mode.HEALTH_FAILS_AFTER_START, KNOBS, 500) is not None
    assert health_failure(Mode.HEALTHY, KNOBS, 500) is None


def test_reply_plans_per_mode() -> None:
    assert plan_reply(Mode.HEALTHY, KNOBS, "hi").events == AGENT_EVENTS
    assert plan_reply(Mode.HEALTHY, KNOBS, "hi").gap_seconds == 0
    assert "tool_completed" not in plan_reply(Mode.WS_MISSING_EVENT, KNOBS, "hi").events
    assert plan_reply(Mode.WS_SLOW_EVENTS, KNOBS, "hi").gap_seconds > 0.1
    assert plan_reply(Mode.WS_DROPS, KNOBS, "hi").drop_after == "agent_thinking"
    failed = plan_reply(Mode.HEALTHY, KNOBS, "please Fail Tool now").events
    assert failed == (
        "agent_started", "agent_thinking", "tool_executing", "error", "agent_completed"
    )  # fmt: skip


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ('{"type": "subscribe"}', "unknown message type"),
        ('{"type": "user_message"}', "string 'text'"),
    ],
)
def test_bad_client_messages_are_explained(raw: str, problem: str) -> None:
    result = parse_client_message(raw)
    assert isinstance(result, str) and problem in result


def test_client_message_id_is_kept() -> None:
    assert parse_client_message('{"type": "user_message", "text": "x", "message_id": "a1"}') == (
        "x",
        "a1",
    )


def test_unknown_mode_names_the_valid_ones() -> None:
    with pytest.raises(UnknownModeError, match="valid modes: healthy, slow-startup"):
        parse_mode("sometimes-broken")


@pytest.mark.parametrize("raw", ["fast", "-1", "nan"])
def test_malformed_duration_env_is_rejected_with_its_name(raw: str) -> None:
    with pytest.raises(ValueError, match="CHAT_FLAP_SECONDS"):
        Knobs.from_env({"CHAT_FLAP_SECONDS": raw})


def test_durations_come_from_env() -> None:
    knobs = Knobs.from_env({"CHAT_PHASE_SECONDS": "0.01", "CHAT_WS_EVENT_GAP_SECONDS": "0.2"})
    assert knobs.phase_seconds == 0.01 and knobs.ws_event_gap_seconds == 0.2
    assert knobs.slow_phase_seconds == 12.0
    assert knobs.extra_latency_seconds == 0.0  # no shared slowdown unless asked
    assert Knobs.from_env({"CHAT_EXTRA_LATENCY_SECONDS": "0.3"}).extra_latency_seconds == 0.3
