"""The startup probe's judgement of phases seen by polling (pure)."""

from __future__ import annotations

from deploymentgate.models import DEFAULT_PHASES
from deploymentgate.probes.startup_sequence import StartupSequence


def sequence(phase_timeout: float = 10.0, timeout: float = 30.0) -> StartupSequence:
    return StartupSequence(list(DEFAULT_PHASES), phase_timeout=phase_timeout, timeout=timeout)


def test_all_phases_in_order_then_ready_passes_with_durations() -> None:
    seq = sequence()
    for i, phase in enumerate(DEFAULT_PHASES):
        assert seq.observe_phase(phase, at=i * 1.0) is None
        assert seq.observe_phase(phase, at=i * 1.0 + 0.5) is None  # repeated polls
    verdict = seq.observe_ready(at=7.0)
    assert verdict.ok
    assert seq.durations(now=7.0)["INIT"] == 1.0
    assert seq.durations(now=7.0)["FINALIZE"] == 1.0
    assert seq.summary(now=7.0).startswith("INIT 1.0s → DEPENDENCIES 1.0s")
    assert seq.summary(now=7.0).endswith("ready in 7.0s")


def test_fast_phases_skipped_between_polls_still_pass() -> None:
    seq = sequence()
    seq.observe_phase("INIT", 0.1)
    seq.observe_phase("CACHE", 0.3)
    seq.observe_phase("FINALIZE", 0.5)
    assert seq.observe_ready(0.7).ok
    assert seq.skipped() == ["DEPENDENCIES", "DATABASE", "SERVICES", "WEBSOCKET"]


def test_phase_seen_after_a_later_phase_fails_at_once() -> None:
    seq = sequence()
    seq.observe_phase("INIT", 0.1)
    seq.observe_phase("DATABASE", 0.2)
    verdict = seq.observe_phase("DEPENDENCIES", 0.3)
    assert verdict is not None and not verdict.ok
    assert "DEPENDENCIES seen after DATABASE" in verdict.reason
    # The verdict sticks: a later 200 does not turn it into a pass.
    assert not seq.observe_ready(0.4).ok


def test_undeclared_phase_fails() -> None:
    seq = sequence()
    verdict = seq.observe_phase("WARMUP", 0.1)
    assert verdict is not None and "undeclared phase 'WARMUP'" in verdict.reason


def test_phase_over_its_timeout_fails_while_still_in_it() -> None:
    seq = sequence(phase_timeout=10.0)
    seq.observe_phase("INIT", 0.0)
    seq.observe_phase("DATABASE", 1.0)
    assert seq.check_time(10.9) is None
    verdict = seq.check_time(11.2)
    assert verdict is not None and verdict.reason == "DATABASE exceeded 10s"
    assert seq.summary(11.2) == "INIT 1.0s → DATABASE 10.2s ; DATABASE exceeded 10s"


def test_phase_overrun_noticed_only_at_the_next_phase_still_fails() -> None:
    seq = sequence(phase_timeout=1.0)
    seq.observe_phase("INIT", 0.0)
    verdict = seq.observe_phase("DEPENDENCIES", 1.5)
    assert verdict is not None and verdict.reason == "INIT exceeded 1s"


def test_total_timeout_fails_even_if_each_phase_is_quick() -> None:
    seq = sequence(phase_timeout=10.0, timeout=5.0)
    for i, phase in enumerate(DEFAULT_PHASES[:6]):
        seq.observe_phase(phase, i * 0.9)
    verdict = seq.check_time(5.1)
    assert verdict is not None
    assert verdict.reason == "startup not complete within 5s (still in WEBSOCKET)"


def test_ready_after_the_total_timeout_fails() -> None:
    seq = sequence(phase_timeout=10.0, timeout=5.0)
    seq.observe_phase("INIT", 0.0)
    seq.observe_phase("FINALIZE", 4.0)
    assert not seq.observe_ready(5.5).ok


def test_ready_at_first_sight_long_after_the_start_is_not_a_timeout() -> None:
    """A probe started late (operator restart) sees 200 at once: nothing to judge."""
    seq = sequence(timeout=30.0)
    verdict = seq.observe_ready(at=300.0)
    assert verdict.ok
    assert seq.summary(300.0) == "ready in 300.0s (no phase seen in progress)"
