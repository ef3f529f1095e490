"""Reusable metric checks (issue 21 item 3) in the models and the pure core.

A gate's check names a template (templateRef) instead of writing its query;
it keeps its own name, condition, interval, failureLimit, noData and dryRun.
The template's query, prometheusUrl, relativeTo and minBaseline are its own.
A check whose template is missing is no data: held or failed per noData,
never a pass, and the gate's status says which template is missing.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from gatesim import seconds
from pydantic import ValidationError
from test_metric_checks import PROMETHEUS, at_first_step, metric_gate, metrics_of

from deploymentgate.core import read_spec
from deploymentgate.core.spec_errors import describe
from deploymentgate.models import (
    MetricCheck,
    MetricCheckTemplateSpec,
    NoData,
    Phase,
    RelativeTo,
    Trigger,
)
from deploymentgate.observations import ProbeKind, ProbeObservation

BASE: dict[str, Any] = {"targetRef": {"name": "chat"}, "service": "chat"}
REF = {"kind": "MetricCheckTemplate", "name": "p95-latency"}
MISSING = "no data: MetricCheckTemplate p95-latency not found in namespace shop"


def templated(name: str = "p95", **fields: Any) -> dict[str, Any]:
    return {"name": name, "templateRef": REF, "condition": {"atMost": 0.25}, **fields}


def spec_error(*checks: dict[str, Any]) -> str | None:
    raw = {**BASE, "probes": {"metrics": {"prometheusUrl": PROMETHEUS, "checks": list(checks)}}}
    spec, error = read_spec(raw)
    assert (spec is None) == (error is not None)
    return error


def test_a_check_may_name_a_template_instead_of_a_query() -> None:
    assert spec_error(templated()) is None
    cluster = templated(templateRef={"kind": "ClusterMetricCheckTemplate", "name": "errors.v1"})
    assert spec_error(cluster) is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"query": "q"},
            "spec.probes.metrics.checks[0]: set exactly one of query, templateRef",
        ),
        (
            {"templateRef": None},
            "spec.probes.metrics.checks[0]: set exactly one of query, templateRef",
        ),
        (
            {"relativeTo": "stable"},
            "spec.probes.metrics.checks[0]: a check with templateRef takes relativeTo and"
            " minBaseline from its template",
        ),
        (
            {"templateRef": {"kind": "AnalysisTemplate", "name": "x"}},
            "spec.probes.metrics.checks[0].templateRef.kind: Input should be"
            " 'MetricCheckTemplate' or 'ClusterMetricCheckTemplate'",
        ),
        (
            {"templateRef": {"kind": "MetricCheckTemplate", "name": "Not_A_Name"}},
            "spec.probes.metrics.checks[0].templateRef.name: String should match pattern",
        ),
        (
            {"templateRef": {"kind": "MetricCheckTemplate"}},
            "spec.probes.metrics.checks[0].templateRef.name: Field required",
        ),
    ],
)
def test_an_invalid_template_ref_names_its_field(fields: dict[str, Any], message: str) -> None:
    check = {k: v for k, v in templated(**fields).items() if v is not None}
    error = spec_error(check)
    assert error is not None and error.startswith(message), error


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"query": "vector(1)", "relativeTo": "stable"},
            "spec: a relative check's query names {pod_regex} or {revision}",
        ),
        (
            {"query": 'q{pod=~"{stable_pod_regex}"}', "relativeTo": "stable"},
            "spec: a relative check's query names {pod_regex} or {revision}",
        ),
        ({"query": "q", "minBaseline": 1}, "spec: minBaseline needs relativeTo"),
        ({"query": ""}, "spec.query: String should have at least 1 character"),
        ({}, "spec.query: Field required"),
        (
            {"query": "q", "prometheusUrl": "prometheus:9090"},
            "spec.prometheusUrl: String should match pattern",
        ),
    ],
)
def test_an_invalid_template_names_its_field(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        MetricCheckTemplateSpec.model_validate(fields)
    assert describe(caught.value).startswith(message), describe(caught.value)


def test_with_its_template_a_check_keeps_its_own_bounds_and_takes_the_query() -> None:
    own = MetricCheck.model_validate(
        templated(interval="10s", failureLimit=5, noData="fail", dryRun=True)
    )
    template = MetricCheckTemplateSpec.model_validate(
        {
            "query": 'lat{pod=~"{pod_regex}"}',
            "relativeTo": "stable",
            "minBaseline": 0.01,
            "prometheusUrl": "http://127.0.0.1:9091",
            "description": "p95 latency of /api/chat",
        }
    )
    runs = own.from_template(template)
    assert (runs.name, runs.condition, runs.interval, runs.failure_limit) == (
        "p95",
        own.condition,
        timedelta(seconds=10),
        5,
    )
    assert (runs.no_data, runs.dry_run) == (NoData.FAIL, True)
    assert (runs.query, runs.relative_to, runs.min_baseline) == (
        'lat{pod=~"{pod_regex}"}',
        RelativeTo.STABLE,
        0.01,
    )
    assert runs.template_ref is None


def missing(at: datetime, revision: str) -> ProbeObservation:
    """What the runner reports for a check whose template is not there."""
    return ProbeObservation(
        kind=ProbeKind.METRICS,
        ok=None,
        message=MISSING,
        at=at,
        target="p95",
        revision=revision,
        details={"template": "MetricCheckTemplate p95-latency"},
    )


def test_a_missing_template_holds_the_step_and_the_status_names_it() -> None:
    sim = metric_gate(templated(failureLimit=1))
    new, began = at_first_step(sim)
    for i in range(1, 5):
        at = began + seconds(30 * i)
        sim.tick(at, [missing(at, new)])
    assert sim.phase() is Phase.PROGRESSING and sim.status.step == 0
    assert "holding: metrics probe" in sim.status.message
    metrics = metrics_of(sim)
    assert (metrics.ok, metrics.checks[0].ok, metrics.checks[0].consecutive_failures) == (
        None,
        None,
        0,
    )
    assert metrics.message == f"p95: {MISSING}"
    assert metrics.checks[0].message == MISSING

    # At progressDeadline the step Blocks, and its reason (the Blocked Event's) names it.
    sim.tick(began + timedelta(minutes=7))
    assert sim.phase() is Phase.BLOCKED
    assert f"metrics probe (no pass during this step yet): p95: {MISSING}" in (
        sim.status.rollback_reason or ""
    )
    assert any(MISSING in event.message for event in sim.events), sim.events


def test_a_missing_template_with_no_data_fail_rolls_back_naming_it() -> None:
    sim = metric_gate(templated(noData="fail", failureLimit=2))
    new, began = at_first_step(sim)
    for i in (1, 2):
        at = began + seconds(5 * i)
        sim.tick(at, [missing(at, new)])
    assert sim.phase() is Phase.ROLLED_BACK
    assert sim.status.rollback_trigger is Trigger.METRIC_CHECK_FAILED
    assert MISSING in (sim.status.rollback_reason or "")
