"""Invalid specs get a message naming the field as the user wrote it."""

from __future__ import annotations

from typing import Any

import pytest

from deploymentgate.core import read_spec

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
