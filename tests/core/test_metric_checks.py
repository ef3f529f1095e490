"""Metric checks in the pure core: where they run, and what their results mean.

No data is never a pass: `noData: hold` holds the step (and Blocks at
progressDeadline), `noData: fail` counts as a failure; `failureLimit` failures
in a row roll back; a `dryRun` check is shown but never acts.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from gatesim import T0, Sim, adopted, gate_spec, minutes, seconds

from deploymentgate.core import read_spec
from deploymentgate.core.actions import Reason
from deploymentgate.models import MetricsStatus, Phase, Trigger
from deploymentgate.observations import ProbeKind, ProbeObservation
from deploymentgate.probe_kinds import descriptor

M = ProbeKind.METRICS
PROMETHEUS = "http://127.0.0.1:9090"
STEP = minutes(1)


def check(name: str = "p95", **fields: Any) -> dict[str, Any]:
    return {"name": name, "query": "q", "condition": {"atMost": 0.5}, **fields}


def metric_gate(*checks: dict[str, Any], watch: str | None = None) -> Sim:
    """A gate whose only probe is its metric checks, stepped 50 -> 100, 1m a step;
    `watch`: rollback.watchAfterPromotion."""
    rollback: dict[str, Any] = {"errorRate": None}
    if watch is not None:
        rollback["watchAfterPromotion"] = watch
    spec = gate_spec(
        probes={
            "startup": None,
            "health": None,
            "websocket": None,
            "metrics": {"prometheusUrl": PROMETHEUS, "checks": list(checks or (check(),))},
        },
        rollback=rollback,
        traffic={"steps": [50, 100], "stepDuration": "1m", "progressDeadline": "5m"},
    )
    return adopted(spec)


def result(
    ok: bool | None, at: datetime, revision: str, name: str = "p95", value: float | None = None
) -> ProbeObservation:
    message = "no data: query returned no samples" if ok is None else f"{value:g}"
    details = {} if value is None else {"value": value}
    return ProbeObservation(
        kind=M, ok=ok, message=message, at=at, target=name, revision=revision, details=details
    )


def at_first_step(sim: Sim) -> tuple[str, datetime]:
    """Deploy and reach step 1 with its pods ready; returns (revision, when the step began)."""
    new = sim.deploy("chat:2")
    t = T0 + minutes(1)
    sim.tick(t)
    sim.tick(t + seconds(5))
    sim.tick(t + seconds(10))
    assert sim.phase() is Phase.PROGRESSING and sim.status.step == 0
    assert sim.status.step_ready_since == t + seconds(10)
    return new, t + seconds(10)


def metrics_of(sim: Sim) -> MetricsStatus:
    status = sim.status.probes.metrics
    assert isinstance(status, MetricsStatus)
    return status


def test_checks_run_under_traffic_only_not_at_zero() -> None:
    sim = metric_gate()
    sim.deploy("chat:2")
    sim.tick(T0 + minutes(1))
    assert sim.phase() is Phase.VERIFYING
    assert sim.probing is None  # nothing to probe at 0%: no user traffic on the revision
    sim.tick(T0 + minutes(1) + seconds(5))
    assert sim.probing is not None and sim.probing.kinds == frozenset({M})


def test_a_step_needs_a_pass_of_every_check_during_it() -> None:
    sim = metric_gate(check("p95"), check("errors"))
    new, began = at_first_step(sim)
    sim.tick(began + seconds(20), [result(True, began + seconds(20), new, "p95", 0.2)])
    sim.tick(began + STEP)
    assert sim.status.step == 0
    assert "metrics probe (no pass during this step yet)" in sim.status.message
    assert [c.name for c in metrics_of(sim).checks] == ["p95", "errors"]

    later = began + STEP + seconds(5)
    sim.tick(later, [result(True, later, new, "errors", 0.1)])
    assert sim.status.step == 1
    sim.tick(later + seconds(5))  # step 2's pods ready: its time counts from here
    second = sim.status.step_ready_since
    assert second is not None and sim.status.step == 1

    # In step 2 only `errors` passes again: p95's pass was in step 1, so it holds.
    at = second + seconds(10)
    sim.tick(at, [result(True, at, new, "errors", 0.1)])
    sim.tick(second + STEP)
    assert sim.phase() is Phase.PROGRESSING
    assert "metrics probe (no pass during this step yet)" in sim.status.message


def test_no_data_holds_the_step_until_progress_deadline_blocks_never_a_pass() -> None:
    sim = metric_gate(check(noData="hold", failureLimit=1))
    new, began = at_first_step(sim)
    for i in range(1, 8):
        at = began + seconds(30 * i)
        sim.tick(at, [result(None, at, new)])
    assert sim.phase() is Phase.PROGRESSING and sim.status.step == 0
    assert "holding" in sim.status.message
    metrics = metrics_of(sim)
    assert metrics.ok is None and metrics.checks[0].ok is None
    assert metrics.checks[0].consecutive_failures == 0  # no data held: not a failure either

    sim.tick(began + STEP + minutes(5))
    assert sim.phase() is Phase.BLOCKED
    assert sim.status.rollback_trigger is Trigger.PROGRESS_DEADLINE
    assert "metrics probe" in (sim.status.rollback_reason or "")


def test_no_data_with_fail_counts_to_the_failure_limit() -> None:
    sim = metric_gate(check(noData="fail", failureLimit=3))
    new, began = at_first_step(sim)
    for i in (1, 2):
        at = began + seconds(5 * i)
        sim.tick(at, [result(None, at, new)])
    assert sim.phase() is Phase.PROGRESSING
    assert metrics_of(sim).checks[0].ok is False
    assert metrics_of(sim).checks[0].consecutive_failures == 2

    at = began + seconds(15)
    sim.tick(at, [result(None, at, new)])
    assert sim.phase() is Phase.ROLLED_BACK
    assert sim.status.rollback_trigger is Trigger.METRIC_CHECK_FAILED
    assert sim.status.rollback_reason == (
        "metric check p95 failed 3 evaluations in a row (failureLimit 3):"
        " no data: query returned no samples (noData: fail)"
    )
    assert Reason.ROLLED_BACK.value in sim.reasons()


def test_failures_must_be_consecutive_a_pass_resets_the_count() -> None:
    sim = metric_gate(check(failureLimit=2))
    new, began = at_first_step(sim)
    verdicts: list[bool | None] = [False, True, False, None, True]
    for i, ok in enumerate(verdicts, start=1):
        at = began + seconds(5 * i)
        sim.tick(at, [result(ok, at, new, value=0.9 if ok is False else 0.1)])
    assert sim.phase() is Phase.PROGRESSING
    at = began + seconds(40)
    sim.tick(at, [result(False, at, new, value=0.9)])
    assert sim.phase() is Phase.PROGRESSING  # one failure since the last pass
    at = began + seconds(45)
    sim.tick(at, [result(False, at, new, value=0.8)])
    assert sim.phase() is Phase.ROLLED_BACK
    assert sim.status.rollback_trigger is Trigger.METRIC_CHECK_FAILED
    assert metrics_of(sim).values == {"p95": 0.8}


def test_a_failing_check_holds_the_step_before_it_reaches_its_limit() -> None:
    sim = metric_gate(check(failureLimit=5))
    new, began = at_first_step(sim)
    sim.tick(began + seconds(10), [result(True, began + seconds(10), new, value=0.1)])
    late = began + STEP + seconds(1)
    sim.tick(late, [result(False, late, new, value=0.9)])
    assert sim.status.step == 0
    assert "metrics probe failing (p95: 0.9)" in sim.status.message


def test_a_dry_run_check_is_shown_but_never_holds_fails_or_rolls_back() -> None:
    sim = metric_gate(check("p95", dryRun=True, failureLimit=1, noData="fail"))
    new, began = at_first_step(sim)
    for i in range(1, 5):
        at = began + seconds(10 * i)
        ok = None if i % 2 else False
        sim.tick(at, [result(ok, at, new, value=None if ok is None else 0.9)])
    shown = metrics_of(sim).checks[0]
    assert (shown.dry_run, shown.ok, shown.consecutive_failures) == (True, False, 4)
    assert metrics_of(sim).ok is True
    assert metrics_of(sim).message.startswith("dry run only: p95: 0.9")
    assert sim.phase() is Phase.PROGRESSING and sim.status.rollback_trigger is None

    sim.tick(began + STEP)
    assert sim.status.step == 1  # the step was not held either


def test_a_dry_run_check_beside_an_acting_one_leaves_the_verdict_to_the_other() -> None:
    sim = metric_gate(check("p95"), check("shadow", dryRun=True, failureLimit=1))
    new, began = at_first_step(sim)
    at = began + seconds(10)
    sim.tick(
        at,
        [result(True, at, new, "p95", 0.1), result(False, at, new, "shadow", 0.9)],
    )
    metrics = metrics_of(sim)
    assert metrics.ok is True and metrics.message == "1/1 checks passed"
    assert [(c.name, c.ok, c.dry_run) for c in metrics.checks] == [
        ("p95", True, False),
        ("shadow", False, True),
    ]
    sim.tick(began + STEP)
    assert sim.status.step == 1


def test_a_result_of_a_check_no_longer_declared_is_dropped() -> None:
    status = descriptor(M).fold
    assert status is not None
    spec = read_spec(
        {
            "targetRef": {"name": "chat"},
            "service": "chat",
            "probes": {"metrics": {"prometheusUrl": PROMETHEUS, "checks": [check("p95")]}},
        }
    )[0]
    assert spec is not None
    section = descriptor(M).section(spec)
    folded = status(section, None, [result(False, T0, "r", "gone", 9.0)])
    assert isinstance(folded, MetricsStatus)
    assert [(c.name, c.ok, c.message) for c in folded.checks] == [("p95", None, "no result yet")]
    assert folded.ok is None


BASE: dict[str, Any] = {"targetRef": {"name": "chat"}, "service": "chat"}


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (
            {"checks": [check(condition={})]},
            "spec.probes.metrics.checks[0].condition: set exactly one of atMost, atLeast, within",
        ),
        (
            {"checks": [check(condition={"atMost": 1, "atLeast": 0})]},
            "spec.probes.metrics.checks[0].condition: set exactly one of atMost, atLeast, within",
        ),
        (
            {"checks": [check(condition={"within": [2, 1]})]},
            "spec.probes.metrics.checks[0].condition: within needs [low, high] with low <= high",
        ),
        (
            {"checks": [check(interval="soon")]},
            "spec.probes.metrics.checks[0].interval: not a duration: 'soon'",
        ),
        (
            {"checks": [check(noData="pass")]},
            "spec.probes.metrics.checks[0].noData: Input should be 'hold' or 'fail'",
        ),
        (
            {"checks": [check("a"), check("a")]},
            "spec.probes.metrics.checks: check names must be unique, repeated: a",
        ),
        ({"checks": []}, "spec.probes.metrics.checks: List should have at least 1 item"),
    ],
)
def test_an_invalid_check_names_its_field(section: dict[str, Any], message: str) -> None:
    raw = {**BASE, "probes": {"metrics": {"prometheusUrl": PROMETHEUS, **section}}}
    spec, error = read_spec(raw)
    assert spec is None
    assert error is not None and error.startswith(message), error


def test_checks_go_on_in_the_watch_after_promotion_and_revert_at_the_limit() -> None:
    sim = metric_gate(check(failureLimit=2), watch="10m")
    new, at = at_first_step(sim)
    for _ in range(10):
        at += seconds(30)
        sim.tick(at, [result(True, at, new, value=0.1)])
        if sim.phase() is Phase.PROMOTED:
            break
    assert sim.phase() is Phase.PROMOTED and sim.status.previous_revision is not None
    assert sim.probing is not None and M in sim.probing.kinds

    for _ in range(2):
        at += seconds(30)
        sim.tick(at, [result(False, at, new, value=0.9)])

    assert sim.phase() is Phase.ROLLED_BACK
    assert sim.status.rollback_trigger is Trigger.METRIC_CHECK_FAILED
    assert Reason.REVERTED_AFTER_PROMOTION.value in sim.reasons()


def relative_result(
    ok: bool | None, at: datetime, revision: str, canary: float, stable: float, ratio: float
) -> ProbeObservation:
    return ProbeObservation(
        kind=M,
        ok=ok,
        message=f"canary {canary:g} = {ratio:.3g} × stable {stable:g}, at most 1.2×",
        at=at,
        target="p95-ratio",
        revision=revision,
        details={"value": ratio, "canary": canary, "stable": stable},
    )


def skipped_result(at: datetime, revision: str) -> ProbeObservation:
    return ProbeObservation(
        kind=M,
        ok=None,
        message="skipped: no other revision takes traffic beside this one",
        at=at,
        target="p95-ratio",
        revision=revision,
        details={"skipped": True},
    )


RELATIVE = check("p95-ratio", query='q{pod=~"{pod_regex}"}', relativeTo="stable")


def test_a_relative_check_shows_both_values_and_the_ratio_and_rolls_back_at_its_limit() -> None:
    sim = metric_gate({**RELATIVE, "condition": {"atMost": 1.2}, "failureLimit": 2})
    new, began = at_first_step(sim)
    sim.tick(
        began + seconds(5), [relative_result(True, began + seconds(5), new, 0.061, 0.058, 1.05)]
    )
    shown = metrics_of(sim).checks[0]
    assert (shown.ok, shown.value, shown.canary_value, shown.stable_value) == (
        True,
        1.05,
        0.061,
        0.058,
    )
    assert shown.message == "canary 0.061 = 1.05 × stable 0.058, at most 1.2×"
    for i in (2, 3):
        at = began + seconds(5 * i)
        sim.tick(at, [relative_result(False, at, new, 0.3, 0.1, 3.0)])
    assert sim.phase() is Phase.ROLLED_BACK
    assert sim.status.rollback_reason == (
        "metric check p95-ratio failed 2 evaluations in a row (failureLimit 2):"
        " canary 0.3 = 3 × stable 0.1, at most 1.2×"
    )


def test_a_relative_check_without_a_baseline_is_no_data_and_follows_no_data() -> None:
    held = metric_gate({**RELATIVE, "failureLimit": 1})
    new, began = at_first_step(held)
    held.tick(began + seconds(5), [result(None, began + seconds(5), new, "p95-ratio")])
    assert metrics_of(held).ok is None and held.phase() is Phase.PROGRESSING
    held.tick(began + STEP)
    assert held.status.step == 0  # no baseline: the step holds, never a pass

    failed = metric_gate({**RELATIVE, "failureLimit": 1, "noData": "fail"})
    new, began = at_first_step(failed)
    failed.tick(began + seconds(5), [result(None, began + seconds(5), new, "p95-ratio")])
    assert failed.phase() is Phase.ROLLED_BACK


def test_relative_checks_are_skipped_in_the_watch_after_promotion_neither_hold_nor_fail() -> None:
    absolute = check("p95", failureLimit=2)
    relative = {**RELATIVE, "failureLimit": 1, "noData": "fail"}
    sim = metric_gate(absolute, relative, watch="10m")
    new, at = at_first_step(sim)
    for _ in range(10):
        at += seconds(30)
        sim.tick(
            at,
            [result(True, at, new, value=0.1), relative_result(True, at, new, 0.1, 0.1, 1.0)],
        )
        if sim.phase() is Phase.PROMOTED:
            break
    assert sim.phase() is Phase.PROMOTED and sim.status.previous_revision is not None

    # Skipped with noData: fail and failureLimit 1: not a failure; the absolute check passes.
    for _ in range(3):
        at += seconds(30)
        sim.tick(at, [result(True, at, new, value=0.1), skipped_result(at, new)])
    assert sim.phase() is Phase.PROMOTED and sim.status.rollback_trigger is None
    metrics = metrics_of(sim)
    skipped = metrics.checks[1]
    assert (skipped.skipped, skipped.ok, skipped.consecutive_failures) == (True, None, 0)
    assert metrics.ok is True and metrics.message == "1/1 checks passed"

    # The absolute check still reverts at its limit.
    for _ in range(2):
        at += seconds(30)
        sim.tick(at, [result(False, at, new, value=0.9), skipped_result(at, new)])
    assert sim.phase() is Phase.ROLLED_BACK
    assert Reason.REVERTED_AFTER_PROMOTION.value in sim.reasons()


def test_a_100_percent_step_does_not_wait_for_relative_checks_it_skips() -> None:
    """At 100% the stable has no serving pod left: a relative check is skipped
    there (nothing to compare with), so the step must not hold for its pass (it
    Blocked every such gate at progressDeadline); an absolute check beside it
    still must pass during the step, and the kind's verdict is still no pass."""

    def second_step(sim: Sim) -> tuple[str, datetime]:
        """Step 1 passed by each check (p95 too, where declared); step 2's pods ready."""
        new, began = at_first_step(sim)
        at = began + seconds(20)
        sim.tick(
            at, [relative_result(True, at, new, 0.1, 0.1, 1.0), result(True, at, new, value=0.1)]
        )
        sim.tick(began + STEP)
        sim.tick(began + STEP + seconds(5))  # step 2's pods ready
        assert sim.status.step == 1 and sim.status.step_ready_since is not None
        return new, sim.status.step_ready_since

    alone = metric_gate(RELATIVE)
    new, began = second_step(alone)
    at = began + seconds(10)
    alone.tick(at, [skipped_result(at, new)])
    assert metrics_of(alone).ok is None  # a skip is never a pass ...
    for i in range(1, 6):
        alone.tick(began + STEP + seconds(5 * i))
    assert alone.phase() is Phase.PROMOTED, alone.status.message  # ... nor held for

    beside = metric_gate(check("p95"), RELATIVE)
    new, began = second_step(beside)
    at = began + seconds(10)
    beside.tick(at, [skipped_result(at, new)])
    beside.tick(began + STEP)
    assert beside.phase() is Phase.PROGRESSING and beside.status.step == 1
    assert "metrics probe (no pass during this step yet)" in beside.status.message
    at = began + STEP + seconds(5)
    beside.tick(at, [result(True, at, new, value=0.1), skipped_result(at, new)])
    for i in range(1, 6):
        beside.tick(at + seconds(5 * i))
    assert beside.phase() is Phase.PROMOTED, beside.status.message


def test_skipped_checks_alone_are_never_a_pass() -> None:
    fold = descriptor(M).fold
    assert fold is not None
    spec = read_spec(
        {**BASE, "probes": {"metrics": {"prometheusUrl": PROMETHEUS, "checks": [RELATIVE]}}}
    )[0]
    assert spec is not None
    folded = fold(descriptor(M).section(spec), None, [skipped_result(T0, "r")])
    assert isinstance(folded, MetricsStatus)
    assert folded.ok is None
    assert folded.message == "p95-ratio: skipped: no other revision takes traffic beside this one"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"query": "vector(1)", "relativeTo": "stable"},
            "a relative check's query names {pod_regex} or {revision}",
        ),
        (
            {"query": 'q{pod=~"{stable_pod_regex}|{pod_regex}"}', "relativeTo": "stable"},
            "a relative check's query names {pod_regex} or {revision}",
        ),
        ({"minBaseline": 0.01}, "minBaseline needs relativeTo"),
        (
            {"query": 'q{pod=~"{pod_regex}"}', "relativeTo": "canary"},
            "spec.probes.metrics.checks[0].relativeTo: Input should be 'stable'",
        ),
        (
            {"query": 'q{pod=~"{pod_regex}"}', "relativeTo": "stable", "minBaseline": -1},
            "spec.probes.metrics.checks[0].minBaseline: Input should be greater than or equal",
        ),
    ],
)
def test_an_invalid_relative_check_says_why(fields: dict[str, Any], message: str) -> None:
    raw = {
        **BASE,
        "probes": {"metrics": {"prometheusUrl": PROMETHEUS, "checks": [check(**fields)]}},
    }
    spec, error = read_spec(raw)
    assert spec is None
    assert error is not None and message in error, error
