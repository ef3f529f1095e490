"""Every field is bounded, and a value past a bound is `Invalid` naming the field.

Issue 9, item 4: `stepDuration: 99999999999h` passed the CRD and raised
OverflowError in every reconcile. The bounds live in the models; the CRD
states the same bounds to the API server (lengths, counts, and CEL rules for
durations), so what `kubectl apply` accepts is what the operator can act on.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from schema_check import errors

from deploymentgate.core import read_spec
from deploymentgate.durations import parse_duration
from deploymentgate.manifests import crdgen
from deploymentgate.models import (
    DURATION_LIMITS,
    STATUS_TEXT_MAX,
    GateStatus,
    dump,
    parse_spec,
    parse_status,
)

BASE: dict[str, Any] = {"targetRef": {"name": "chat"}, "service": "chat"}
# Sections with a required field get it, so only the field under test is wrong
# (`[]`: the one item of a list of sections).
REQUIRED: dict[str, dict[str, Any]] = {
    "probes.smoke": {"template": {"spec": {"containers": [{"name": "smoke", "image": "t"}]}}},
    "probes.metrics": {"prometheusUrl": "http://127.0.0.1:9090"},
    "probes.metrics.checks[]": {"name": "p95", "query": "up", "condition": {"atMost": 1}},
}
SPEC_SCHEMA = crdgen.build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"][
    "spec"
]


def _spec(path: str, value: Any) -> dict[str, Any]:
    raw: dict[str, Any] = yaml.safe_load(yaml.safe_dump(BASE))
    node = raw
    *parents, last = path.split(".")
    for depth, part in enumerate(parents):
        if part.endswith("[]"):
            item: dict[str, Any] = {}
            node.setdefault(part[:-2], []).append(item)
            node = item
        else:
            node = node.setdefault(part, {})
        node.update(REQUIRED.get(".".join(parents[: depth + 1]), {}))
    node[last] = value
    return raw


def _schema_at(path: str) -> dict[str, Any]:
    node = SPEC_SCHEMA
    for part in path.split("."):
        node = node["properties"][part.removesuffix("[]")]
        if part.endswith("[]"):
            node = node["items"]
    return node


def test_the_overflowing_step_duration_is_invalid_naming_the_field() -> None:
    spec, error = read_spec(_spec("traffic.stepDuration", "99999999999h"))
    assert spec is None
    assert error == "spec.traffic.stepDuration: must be at most 168h, got 99999999999h"


@pytest.mark.parametrize("text", ["1" * 31 + "h", "99999999999999999999ms", "1e400s"])
def test_no_duration_spelling_escapes_as_an_exception(text: str) -> None:
    _, error = read_spec(_spec("traffic.progressDeadline", text))
    assert error is not None and error.startswith("spec.traffic.progressDeadline: ")


@pytest.mark.parametrize("value", [float("inf"), float("nan"), 10**30, -1])
def test_numeric_durations_out_of_range_are_value_errors(value: float) -> None:
    with pytest.raises(ValueError):
        parse_duration(value)


@pytest.mark.parametrize("path", sorted(DURATION_LIMITS))
def test_every_duration_has_a_maximum_in_models_and_crd(path: str) -> None:
    limit = DURATION_LIMITS[path]
    rules = [r["rule"] for r in _schema_at(path).get("x-kubernetes-validations", [])]
    assert f"duration(self) <= duration('{limit.maximum_text}')" in rules
    over = limit.maximum_text + "1ms" if limit.maximum_text != "0s" else "1ms"
    _, error = read_spec(_spec(path, over))
    where = f"spec.{path}".replace("[]", "[0]")
    assert error is not None and error.startswith(f"{where}: must be at most"), error
    spec, error = read_spec(_spec(path, limit.maximum_text))
    # the maximum itself is accepted unless another rule (a gap of the startup
    # probe's timeout, say) refuses it; then the message names another rule
    assert spec is not None or "must be at most" not in (error or ""), error


def test_every_duration_field_of_the_crd_is_in_the_table() -> None:
    found: list[str] = []

    def walk(node: dict[str, Any], path: str) -> None:
        if node.get("type") == "string" and "duration(self)" in str(
            node.get("x-kubernetes-validations")
        ):
            found.append(path)
        for name, sub in node.get("properties", {}).items():
            walk(sub, f"{path}.{name}" if path else name)
        if node.get("type") == "array":
            walk(node["items"], f"{path}[]")

    walk(SPEC_SCHEMA, "")
    assert sorted(found) == sorted(DURATION_LIMITS)


def _unbounded(node: dict[str, Any], path: str) -> list[str]:
    """Strings without maxLength/enum, arrays without maxItems, maps without maxProperties."""
    out = []
    kind = node.get("type")
    if kind == "string" and "maxLength" not in node and "enum" not in node:
        out.append(path)
    if kind == "array":
        if "maxItems" not in node:
            out.append(path)
        out += _unbounded(node.get("items", {}), f"{path}[]")
    if kind == "object":
        free = node.get("x-kubernetes-preserve-unknown-fields") or "additionalProperties" in node
        if free and "maxProperties" not in node and "properties" not in node:
            out.append(path)
        for name, sub in node.get("properties", {}).items():
            out += _unbounded(sub, f"{path}.{name}")
    if kind in ("integer", "number") and ("minimum" not in node or "maximum" not in node):
        out.append(path)
    return out


def test_every_spec_field_is_bounded_in_the_crd() -> None:
    assert _unbounded(SPEC_SCHEMA, "spec") == []


def test_every_status_field_is_bounded_in_the_crd() -> None:
    schema = crdgen.build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert _unbounded(schema["properties"]["status"], "status") == []


def test_gate_name_is_limited_to_a_label_value_at_the_root() -> None:
    root = crdgen.build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert root["properties"]["metadata"]["properties"] == {
        "name": {"type": "string", "maxLength": 63}
    }


# (path, value) refused by the models and by the CRD schema alike
REFUSED: dict[str, tuple[str, Any]] = {
    "target name not a DNS label": ("targetRef.name", "Chat_App"),
    "target name of 64 characters": ("targetRef.name", "a" * 64),
    "service of 64 characters": ("service", "s" * 64),
    "service starting with a digit": ("service", "1chat"),
    "path without slash": ("probes.health.path", "health"),
    "path of 2 KiB": ("probes.health.path", "/" + "a" * 2048),
    "33 expected body fields": ("probes.health.expectBody", {f"k{i}": i for i in range(33)}),
    "65 startup phases": ("probes.startup.phases", [f"P{i}" for i in range(65)]),
    "empty event name": ("probes.websocket.expectEvents", [""]),
    "17 requirements": ("requires", [{"gate": f"g{i}"} for i in range(17)]),
    "min requests of a million": ("rollback.errorRate.minRequests", 1_000_000),
    "http route not a name": ("traffic.httpRoute", "Route!"),
    "prometheus url without scheme": ("rollback.errorRate.prometheusUrl", "prom:9090"),
    "required gate namespace of 64": ("requires", [{"gate": "a" * 64 + "/chat"}]),
}


@pytest.mark.parametrize("case", REFUSED)
def test_out_of_bounds_is_refused_by_models_and_crd(case: str) -> None:
    path, value = REFUSED[case]
    raw = _spec(path, value)
    assert errors(SPEC_SCHEMA, raw, "spec") != [], "the CRD accepts it"
    spec, error = read_spec(raw)
    assert spec is None and error is not None
    assert error.startswith(f"spec.{path}"), error


def test_expect_body_of_deep_nesting_is_refused_not_crashed() -> None:
    body: dict[str, Any] = {}
    node = body
    for _ in range(40):
        node["x"] = {}
        node = node["x"]
    _, error = read_spec(_spec("probes.health.expectBody", body))
    assert error is not None and error.startswith("spec.probes.health.expectBody"), error


def test_targetref_and_service_are_immutable_with_a_message_to_recreate() -> None:
    for field in ("targetRef", "service"):
        (rule,) = _schema_at(field)["x-kubernetes-validations"]
        assert rule["rule"] == "self == oldSelf"
        assert "delete the gate and create it again" in rule["message"]


def test_defaults_still_parse() -> None:
    spec = parse_spec(BASE)
    assert spec.traffic.step_duration.total_seconds() == 120


def test_the_operator_never_writes_a_status_text_past_its_bound() -> None:
    # Probe messages quote what pods answered; the write must still be accepted.
    status = GateStatus().model_copy(update={"message": "x" * 10_000})  # as Run.set does
    written = dump(status)
    assert len(written["message"]) == STATUS_TEXT_MAX
    schema = crdgen.build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert errors(schema["properties"]["status"], written, "status") == []


def test_a_stored_status_reads_back_whatever_its_lengths() -> None:
    status = parse_status({"message": "y" * 10_000, "history": []})
    assert len(status.message) == STATUS_TEXT_MAX and status.message.endswith("…")
