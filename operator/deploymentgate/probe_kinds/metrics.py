"""Metric checks: PromQL queries judged while the revision has user traffic.

The runner (probes.metric_checks) sends one observation per check and
evaluation, its target the check's name: ok True/False for a value, None for
no data. Here (pure) is what they mean:

- no data is never a pass: with `noData: hold` the check stays unconfirmed, so
  the step holds (and Blocks at progressDeadline); with `noData: fail` it
  counts as a failed evaluation;
- `failureLimit` failed evaluations in a row roll the revision back;
- a `dryRun` check is evaluated and shown, but the kind's verdict, the hold
  and the rollback leave it out;
- a relative check (`relativeTo: stable`) judges canary / stable; where no
  other revision serves beside the one under test (a 100% step, whose stable
  has no serving pod left; the watch after promotion) the runner reports it
  skipped: it neither holds nor fails, and is left out of the verdict like a
  dry run (the kind never passes on skipped checks alone, and a step does not
  wait for its pass while every acting check is skipped).

Not run at 0% traffic: the revision has no users then, so its series are empty.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from deploymentgate.models import (
    GateSpec,
    MetricCheck,
    MetricChecks,
    MetricCheckStatus,
    MetricsStatus,
    NoData,
    ProbeStatus,
    Trigger,
)
from deploymentgate.observations import ProbeKind, ProbeObservation
from deploymentgate.probe_kinds.base import ProbeDescriptor, Rule, Stage

MEASURE_MAX = 1e15  # status bound of a value (models.Measure)


def fold_checks(
    section: MetricChecks | None, previous: ProbeStatus | None, fresh: list[ProbeObservation]
) -> MetricsStatus:
    """Each check's results in time order, then the kind's verdict over the acting checks."""
    last = previous if isinstance(previous, MetricsStatus) else MetricsStatus()
    declared = {c.name: c for c in section.checks} if section else {}
    checks = {c.name: c for c in last.checks if c.name in declared}
    for obs in sorted(fresh, key=lambda o: o.at):
        check = declared.get(obs.target)
        if check is not None:
            checks[check.name] = _evaluated(check, checks.get(check.name), obs)
    # Every declared check is shown, one not evaluated yet as no data; dryRun as declared now.
    ordered = [
        (checks.get(name) or MetricCheckStatus(name=name, message="no result yet")).model_copy(
            update={"dry_run": check.dry_run}
        )
        for name, check in declared.items()
    ]
    return _verdict(last, ordered, max((o.at for o in fresh), default=last.last_run))


def _evaluated(
    check: MetricCheck, before: MetricCheckStatus | None, obs: ProbeObservation
) -> MetricCheckStatus:
    before = before or MetricCheckStatus(name=check.name)
    skipped = obs.details.get("skipped") is True
    ok = obs.ok
    message = obs.message
    if ok is None and check.no_data is NoData.FAIL and not skipped:
        ok, message = False, f"{message} (noData: fail)"
    update: dict[str, Any] = {
        "ok": ok,
        "message": message,
        "value": _number(obs, "value"),
        "canary_value": _number(obs, "canary"),
        "stable_value": _number(obs, "stable"),
        "skipped": skipped,
        "last_run": obs.at,
    }
    if ok is True:
        update |= {"last_success": obs.at, "consecutive_failures": 0}
    elif ok is False:
        update["consecutive_failures"] = before.consecutive_failures + 1
    # No data held: the count stays, neither a pass nor a failure.
    return before.model_copy(update=update)


def _verdict(
    last: MetricsStatus, checks: list[MetricCheckStatus], at: datetime | None
) -> MetricsStatus:
    """ok False if an acting check failed, True when every acting one passed, else None
    (also when every acting check was skipped: a skip is never a pass)."""
    skipped = [c for c in checks if c.skipped and not c.dry_run]
    acting = [c for c in checks if not c.dry_run and not c.skipped]
    failing = [c for c in acting if c.ok is False]
    waiting = [c for c in acting if c.ok is None] or ([] if acting else skipped)
    update: dict[str, Any] = {
        "checks": checks,
        "last_run": at,
        "values": {c.name: c.value for c in checks if c.value is not None},
        "consecutive_failures": max((c.consecutive_failures for c in acting), default=0),
    }
    if failing:
        update |= {
            "ok": False,
            "message": _summary(failing, len(acting), "failing"),
            "failing_since": last.failing_since or at,
        }
    elif waiting:
        update |= {"ok": None, "message": _summary(waiting, len(acting), "without data")}
    else:
        # Every acting check passed: the kind passed when the last of them did,
        # so "a pass during this step" means each check passed during it.
        passes = [c.last_success for c in acting if c.last_success is not None]
        update |= {
            "ok": True,
            "message": _passed(acting, checks),
            "last_success": min(passes, default=at),
            "failing_since": None,
        }
    return last.model_copy(update=update)


def _summary(checks: list[MetricCheckStatus], total: int, word: str) -> str:
    first = checks[0]
    text = f"{first.name}: {first.message}"
    return text if total <= 1 else f"{text} ({len(checks)}/{total} checks {word})"


def _passed(acting: list[MetricCheckStatus], checks: list[MetricCheckStatus]) -> str:
    if acting:
        return f"{len(acting)}/{len(acting)} checks passed"
    return "dry run only: " + "; ".join(f"{c.name}: {c.message}" for c in checks)


def _number(obs: ProbeObservation, key: str) -> float | None:
    value = obs.details.get(key)
    return (
        max(-MEASURE_MAX, min(MEASURE_MAX, float(value)))
        if isinstance(value, int | float)
        else None
    )


def _failed_too_often(
    spec: GateSpec, section: Any, result: ProbeStatus, now: datetime
) -> str | None:
    """An acting check failed failureLimit evaluations in a row."""
    if not isinstance(section, MetricChecks) or not isinstance(result, MetricsStatus):
        return None
    limits = {c.name: c.failure_limit for c in section.checks if not c.dry_run}
    for check in result.checks:
        limit = limits.get(check.name)
        if limit is not None and check.ok is False and check.consecutive_failures >= limit:
            return (
                f"metric check {check.name} failed {check.consecutive_failures} evaluations"
                f" in a row (failureLimit {limit}): {check.message}"
            )
    return None


def _judging(result: ProbeStatus) -> bool:
    """Whether some acting check was judged, or waits for data: not when every one
    is skipped (relative checks where no other revision takes traffic: a 100% step,
    the watch after promotion), so the step does not wait for a pass none can give.
    The verdict stays no pass (ok None): a skip is never a pass."""
    if not isinstance(result, MetricsStatus):
        return True
    acting = [c for c in result.checks if not c.dry_run]
    return not acting or not all(c.skipped for c in acting)


def _fold(section: Any, previous: ProbeStatus | None, fresh: list[ProbeObservation]) -> ProbeStatus:
    return fold_checks(section if isinstance(section, MetricChecks) else None, previous, fresh)


METRICS = ProbeDescriptor(
    kind=ProbeKind.METRICS,
    spec_path=("probes", "metrics"),
    field="metrics",
    title="Metric checks",
    label="metric checks",
    trigger=Trigger.METRIC_CHECK_FAILED,
    aliases=("metric", "metric-checks", "metricchecks"),
    gated=True,
    judging=_judging,
    at_zero=lambda section: False,
    rules=(Rule(Stage.OVER, _failed_too_often),),
    fold=_fold,
)
