"""Invalid specs get a message naming the field as the user wrote it."""

from __future__ import annotations

from typing import Any

import pytest
from gatesim import T0, adopted, minutes

from deploymentgate.core import read_spec
from deploymentgate.models import Phase

BASE: dict[str, Any] = {"targetRef": {"name": "chat"}, "service": "chat"}


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"traffic": {"steps": [50, 10]}},
            "spec.traffic.steps: steps must be strictly ascending, got [50, 10]",
        ),
        (
            {"rollback": {"errorRate": {"source": "prometheus"}}},
            "spec.rollback.errorRate: errorRate.source=prometheus needs prometheusUrl and query",
        ),
        ({"requires": [{"gate": "Staging"}]}, "spec.requires[0].gate: String should match"),
        ({"traffic": {"stepDuration": "2 minutes"}}, "spec.traffic.stepDuration: not a duration"),
        ({"service": None}, "spec.service: Input should be a valid string"),
    ],
)
def test_message_names_the_field(changes: dict[str, Any], expected: str) -> None:
    spec, error = read_spec({**BASE, **changes})
    assert spec is None
    assert error is not None and error.startswith(expected)


def test_many_errors_are_summarised() -> None:
    _, error = read_spec({"traffic": {"stepDuration": "x", "progressDeadline": "y"}, "z": 1})
    assert error is not None
    assert error.count(";") == 3 and error.endswith("and 2 more")


def test_valid_spec_has_no_error() -> None:
    spec, error = read_spec(BASE)
    assert error is None and spec is not None and spec.target_ref.name == "chat"


@pytest.mark.parametrize(
    ("probes", "expected"),
    [
        ({"health": {"interval": "0s"}}, "spec.probes.health.interval: must be at least 100ms"),
        ({"websocket": {"interval": "50ms"}}, "spec.probes.websocket.interval: must be at least"),
        ({"startup": {"pollInterval": "10ms"}}, "spec.probes.startup.pollInterval: must be at"),
        ({"startup": {"phaseTimeout": "0s"}}, "spec.probes.startup.phaseTimeout: must be longer"),
        ({"health": {"timeout": "0ms"}}, "spec.probes.health.timeout: must be longer than 0s"),
        ({"websocket": {"timeout": "0s"}}, "spec.probes.websocket.timeout: must be longer"),
    ],
)
def test_probe_intervals_and_timeouts_the_schema_allows_are_refused(
    probes: dict[str, Any], expected: str
) -> None:
    spec, error = read_spec({**BASE, "probes": probes})
    assert spec is None
    assert error is not None and error.startswith(expected), error


def test_error_rate_interval_of_zero_is_refused() -> None:
    _, error = read_spec({**BASE, "rollback": {"errorRate": {"interval": "0s"}}})
    assert error == "spec.rollback.errorRate.interval: must be at least 100ms, got 0s"


def test_the_shortest_allowed_intervals_are_accepted() -> None:
    spec, error = read_spec(
        {
            **BASE,
            "probes": {
                "startup": {"pollInterval": "50ms", "timeout": "1ms"},
                "health": {"interval": "100ms"},
            },
        }
    )
    assert error is None and spec is not None


def test_a_zero_interval_marks_the_gate_invalid_and_touches_nothing() -> None:
    _, error = read_spec({**BASE, "probes": {"health": {"interval": "0s"}}})
    sim = adopted()
    sim.spec_error = error

    decision = sim.tick(T0 + minutes(1))

    assert decision.status.phase is Phase.INVALID
    assert decision.status.message.startswith("spec.probes.health.interval")
    assert decision.operations == []
