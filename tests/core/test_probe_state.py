"""Folding probe results into status.probes."""

from __future__ import annotations

from gatesim import T0, obs_for, seconds

from deploymentgate.core.probe_state import fold
from deploymentgate.models import ProbesStatus, ProbeStatus
from deploymentgate.observations import ProbeKind

H = ProbeKind.HEALTH
REV = "abc1234567"


def test_one_failing_pod_fails_the_probe_and_says_how_many() -> None:
    batch = [
        obs_for(H, True, T0, revision=REV, target="pod-a"),
        obs_for(H, False, T0 + seconds(1), revision=REV, target="pod-b", message="503"),
        obs_for(H, True, T0 + seconds(2), revision=REV, target="pod-c"),
    ]

    folded = fold(ProbesStatus(), batch, REV)

    health = folded.probes.health
    assert health is not None
    assert health.ok is False
    assert health.message == "503 (1/3 pods failing)"
    assert health.failing_since == T0 + seconds(1)
    assert health.last_run == T0 + seconds(2)
    assert [(f.kind, f.ok) for f in folded.flips] == [(H, False)]


def test_latest_result_per_pod_wins() -> None:
    batch = [
        obs_for(H, False, T0, revision=REV, target="pod-a"),
        obs_for(H, True, T0 + seconds(5), revision=REV, target="pod-a"),
    ]

    health = fold(ProbesStatus(), batch, REV).probes.health

    assert health is not None and health.ok is True
    assert health.failing_since is None and health.last_success == T0 + seconds(5)


def test_failing_since_is_kept_while_failures_continue() -> None:
    start = ProbesStatus(health=ProbeStatus(ok=False, failing_since=T0, last_run=T0))

    folded = fold(start, [obs_for(H, False, T0 + seconds(60), revision=REV)], REV)

    assert folded.probes.health is not None
    assert folded.probes.health.failing_since == T0
    assert folded.flips == ()  # still failing: nothing new to report


def test_no_data_keeps_the_verdict_but_updates_what_was_seen() -> None:
    start = ProbesStatus(health=ProbeStatus(ok=True, last_success=T0, last_run=T0))
    nodata = obs_for(H, None, T0 + seconds(5), revision=REV, message="no data", values={"n": 0})

    health = fold(start, [nodata], REV).probes.health

    assert health is not None
    assert (health.ok, health.message, health.values) == (True, "no data", {"n": 0})
    assert health.last_success == T0 and health.last_run == T0 + seconds(5)


def test_stale_and_foreign_results_are_skipped() -> None:
    start = ProbesStatus(health=ProbeStatus(ok=True, last_run=T0 + seconds(10)))
    batch = [
        obs_for(H, False, T0 + seconds(10), revision=REV),  # already folded
        obs_for(H, False, T0 + seconds(20), revision="other12345"),
    ]

    assert fold(start, batch, REV).probes == start


def test_final_failures_are_reported_for_the_triggers() -> None:
    failed = obs_for(ProbeKind.STARTUP, False, T0, revision=None, final=True, message="CACHE")

    folded = fold(ProbesStatus(), [failed], REV)

    assert [(f.kind, f.message) for f in folded.finals] == [(ProbeKind.STARTUP, "CACHE")]
    assert folded.probes.startup is not None and folded.probes.startup.ok is False


def test_consecutive_failed_runs_are_counted_across_batches_and_reset_by_a_pass() -> None:
    """What failureThreshold counts at 0% traffic; no data neither counts nor resets."""
    probes = ProbesStatus()
    runs = [(False, 0), (None, 1), (False, 2), (False, 3)]
    for ok, at in runs:
        probes = fold(probes, [obs_for(H, ok, T0 + seconds(at), revision=REV)], REV).probes
    assert probes.health is not None and probes.health.consecutive_failures == 3

    batch = [
        obs_for(H, True, T0 + seconds(4), revision=REV),
        obs_for(H, False, T0 + seconds(5), revision=REV),
    ]
    probes = fold(probes, batch, REV).probes
    assert probes.health is not None and probes.health.consecutive_failures == 1
    probes = fold(probes, [obs_for(H, True, T0 + seconds(6), revision=REV)], REV).probes
    assert probes.health is not None and probes.health.consecutive_failures == 0
