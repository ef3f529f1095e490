"""The CRD and the pydantic models describe the same resource.

The CRD is generated from the models (deploymentgate.manifests.crdgen); these
tests fail when the committed file is stale, and check the result on its own
terms: every model field declared with its type, enum and requiredness, every
status the core writes kept intact by the schema, bad input refused by both.
"""

from __future__ import annotations

import types
import typing
from enum import Enum
from pathlib import Path
from typing import Any

import pytest
import yaml
from gatesim import (
    T0,
    Sim,
    approvals,
    deployment,
    gate_spec,
    minutes,
    obs_for,
    passing,
    seconds,
    sign_off,
)
from pydantic import BaseModel, PlainSerializer, ValidationError
from pydantic.fields import FieldInfo
from schema_check import errors

from deploymentgate.core.templates import OWN_PREFIX
from deploymentgate.k8s.revision import LABEL_PREFIX
from deploymentgate.manifests import crdgen
from deploymentgate.models import (
    API_GROUP,
    API_VERSION,
    CLUSTER_TEMPLATE_KIND,
    RELATIVE_RULES,
    STEPS_ASCENDING_RULE,
    TEMPLATE_KIND,
    GateSpec,
    GateStatus,
    MetricCheck,
    MetricCheckTemplateSpec,
    Phase,
    dump,
    parse_spec,
)
from deploymentgate.observations import ProbeKind

CRD_FILE = Path(__file__).resolve().parents[2] / "deploy" / "crds" / f"{crdgen.CRD_NAME}.yaml"
DESIGN_EXAMPLE = yaml.safe_load(
    """
targetRef: {kind: Deployment, name: chat}
service: chat
traffic:
  router: replicas
  steps: [10, 50, 100]
  stepDuration: 2m
probes:
  startup:
    path: /health
    port: 8000
    phases: [INIT, DEPENDENCIES, DATABASE, CACHE, SERVICES, WEBSOCKET, FINALIZE]
    phaseTimeout: 10s
    timeout: 30s
  health:
    path: /health
    expectStatus: 200
    expectBody: {status: healthy}
    maxLatency: 50ms
    interval: 5s
  websocket:
    path: /ws
    send: '{"type": "user_message", "text": "gate probe"}'
    expectEvents: [agent_started, agent_thinking, tool_executing, tool_completed, agent_completed]
    ordered: true
    maxEventLatency: 100ms
    timeout: 30s
rollback:
  errorRate: {threshold: 5%, window: 1m}
  healthFailingFor: 5m
  websocketSilentFor: 2m
  onStartupFailure: true
approvals:
  required: [engineering-lead, qa, product-owner, devops]
  roles:
    engineering-lead: {users: [erin], groups: [eng-leads]}
    qa: {groups: [qa]}
    product-owner: {users: [pat]}
    devops: {groups: [sre]}
requires: [{gate: staging/chat, sameImage: true}]
"""
)


@pytest.fixture(scope="module")
def crd() -> dict[str, Any]:
    loaded = yaml.safe_load(CRD_FILE.read_text())
    assert isinstance(loaded, dict)
    return loaded


def root(crd: dict[str, Any]) -> dict[str, Any]:
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert isinstance(schema, dict)
    return schema


def test_committed_crd_is_generated_from_the_current_models() -> None:
    assert CRD_FILE.read_text() == crdgen.render(), (
        f"{CRD_FILE.name} is stale: run {crdgen.REGENERATE}"
    )


def test_crd_identity_scope_and_subresources(crd: dict[str, Any]) -> None:
    spec = crd["spec"]
    assert crd["metadata"]["name"] == "deploymentgates.rollout.deploymentgate.dev"
    assert spec["group"] == "rollout.deploymentgate.dev" and spec["scope"] == "Namespaced"
    assert spec["names"]["kind"] == "DeploymentGate"
    assert {"dg", "dgate"} <= set(spec["names"]["shortNames"])
    (version,) = spec["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
    assert version["subresources"] == {"status": {}}
    assert root(crd)["required"] == ["spec"]


def _resolve(schema: dict[str, Any], json_path: str) -> dict[str, Any] | None:
    node: dict[str, Any] | None = schema
    for part in json_path.strip(".").split("."):
        node = (node or {}).get("properties", {}).get(part)
    return node


def test_printer_columns_point_at_declared_fields(crd: dict[str, Any]) -> None:
    columns = crd["spec"]["versions"][0]["additionalPrinterColumns"]
    names = [c["name"] for c in columns]
    assert names[:4] == ["Phase", "Target", "Revision", "Weight"] and names[-1] == "Age"
    schema = root(crd)
    for column in columns:
        if column["jsonPath"].startswith(".metadata"):
            continue
        node = _resolve(schema, column["jsonPath"])
        assert node is not None, column
        assert node["type"] == column["type"], column


# ------------------------------------------------- models <-> schema walk


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """(inner type, accepts None)."""
    args = typing.get_args(annotation)
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType) and type(None) in args:
        (inner,) = [a for a in args if a is not type(None)]
        return inner, True
    return annotation, False


def _expected_type(annotation: Any) -> str:
    if typing.get_origin(annotation) is typing.Annotated:  # bounded: Annotated[float, Field()]
        annotation = typing.get_args(annotation)[0]
    origin = typing.get_origin(annotation)
    if origin is list:
        return "array"
    if origin is dict or (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
        return "object"
    if origin is typing.Literal:
        return "string"
    if annotation is bool:
        return "boolean"
    if annotation is int:
        return "integer"
    if annotation is float:
        return "number"
    return "string"  # str, enums, datetimes, durations, percentages


def _enum_values(annotation: Any) -> list[Any] | None:
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return [m.value for m in annotation]
    if typing.get_origin(annotation) is typing.Literal:
        return list(typing.get_args(annotation))
    return None


def _wire_type(info: FieldInfo, inner: Any) -> str:
    """Durations and percentages are numbers in Python but strings on the wire."""
    for meta in info.metadata:
        if isinstance(meta, PlainSerializer) and meta.return_type is str:
            return "string"
    return _expected_type(inner)


def _walk(model: type[BaseModel], schema: dict[str, Any], path: str) -> list[str]:
    problems = []
    props = schema.get("properties", {})
    required = set(schema.get("required", []))
    aliases = set()
    for name, info in model.model_fields.items():
        alias = info.alias or name
        aliases.add(alias)
        where = f"{path}.{alias}"
        node = props.get(alias)
        if node is None:
            problems.append(f"{where}: not declared in the CRD")
            continue
        if info.is_required() != (alias in required):
            problems.append(
                f"{where}: required in models={info.is_required()}, CRD={alias in required}"
            )
        inner, _ = _unwrap(info.annotation)
        if node.get("type") != _wire_type(info, inner):
            problems.append(f"{where}: CRD type {node.get('type')} for {inner}")
        wanted_enum = _enum_values(inner)
        if wanted_enum is not None and node.get("enum") != wanted_enum:
            problems.append(f"{where}: enum {node.get('enum')} != {wanted_enum}")
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            problems += _walk(inner, node, where)
        if typing.get_origin(inner) is list:
            (item,) = typing.get_args(inner)
            if isinstance(item, type) and issubclass(item, BaseModel):
                problems += _walk(item, node["items"], f"{where}[]")
            elif node["items"].get("type") != _expected_type(item):
                problems.append(f"{where}[]: item type {node['items'].get('type')}")
        if typing.get_origin(inner) is dict:
            _, value = typing.get_args(inner)
            if value is typing.Any:
                if not node.get("x-kubernetes-preserve-unknown-fields"):
                    problems.append(f"{where}: free-form map must preserve unknown fields")
            elif node.get("additionalProperties", {}).get("type") != _expected_type(value):
                problems.append(f"{where}: map values should be {_expected_type(value)}")
    for extra in set(props) - aliases:
        problems.append(f"{path}.{extra}: in the CRD but not in the models")
    return problems


@pytest.mark.parametrize(("model", "key"), [(GateSpec, "spec"), (GateStatus, "status")])
def test_every_model_field_is_declared_with_its_type_enum_and_requiredness(
    crd: dict[str, Any], model: type[BaseModel], key: str
) -> None:
    assert _walk(model, root(crd)["properties"][key], key) == []


def test_cel_rules_sit_where_the_models_put_them(crd: dict[str, Any]) -> None:
    spec = root(crd)["properties"]["spec"]["properties"]
    traffic = spec["traffic"]
    steps_rules = [r["rule"] for r in traffic["properties"]["steps"]["x-kubernetes-validations"]]
    assert steps_rules == [STEPS_ASCENDING_RULE]
    assert "httpRoute" in traffic["x-kubernetes-validations"][0]["rule"]
    error_rate = spec["rollback"]["properties"]["errorRate"]
    assert "prometheusUrl" in error_rate["x-kubernetes-validations"][0]["rule"]
    assert error_rate["nullable"] is True  # errorRate: null switches it off


# ------------------------------------------------------- values both ways


def test_design_example_is_valid_for_both(crd: dict[str, Any]) -> None:
    spec_schema = root(crd)["properties"]["spec"]
    assert errors(spec_schema, DESIGN_EXAMPLE, "spec") == []
    parsed = parse_spec(DESIGN_EXAMPLE)
    # What the operator reads back is valid for the schema too.
    assert errors(spec_schema, dump(parsed), "spec") == []


def _with(path: str, value: Any) -> dict[str, Any]:
    raw = yaml.safe_load(yaml.safe_dump(DESIGN_EXAMPLE))
    node = raw
    *parents, last = path.split(".")
    for part in parents:
        node = node[part]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return raw


_DELETE = object()

REFUSED_BY_BOTH = {
    "duration without unit": ("traffic.stepDuration", "2 minutes"),
    "router not in enum": ("traffic.router", "istio"),
    "step above 100": ("traffic.steps", [10, 101]),
    "step of 0": ("traffic.steps", [0, 50]),
    "no steps": ("traffic.steps", []),
    "percentage without %": ("rollback.errorRate.threshold", "5"),
    "port out of range": ("probes.health.port", 70000),
    "status code out of range": ("probes.health.expectStatus", 999),
    "rollback action not in enum": ("rollback.action", "panic"),
    "error rate source not in enum": ("rollback.errorRate.source", "datadog"),
    "target kind not Deployment": ("targetRef.kind", "StatefulSet"),
    "empty target name": ("targetRef.name", ""),
    "missing target name": ("targetRef.name", _DELETE),
    "missing service": ("service", _DELETE),
    "bad required gate name": ("requires", [{"gate": "Staging/Chat"}]),
}


@pytest.mark.parametrize("case", REFUSED_BY_BOTH)
def test_bad_spec_is_refused_by_schema_and_models(crd: dict[str, Any], case: str) -> None:
    raw = _with(*REFUSED_BY_BOTH[case])
    assert errors(root(crd)["properties"]["spec"], raw, "spec") != []
    with pytest.raises(ValidationError):
        parse_spec(raw)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("traffic.steps", [50, 10]),
        ("traffic.steps", [10, 10, 50]),
        ("rollback.errorRate", {"source": "prometheus", "query": "x"}),
        ("traffic", {"router": "gatewayAPI"}),
    ],
)
def test_rules_beyond_the_schema_types_are_enforced_by_the_models(path: str, value: Any) -> None:
    # The CRD carries these as CEL rules (checked by the API server).
    with pytest.raises(ValidationError):
        parse_spec(_with(path, value))


def test_unknown_spec_fields_are_pruned_by_schema_and_refused_by_models(
    crd: dict[str, Any],
) -> None:
    raw = _with("traffic.stepDurration", "5m")
    assert errors(root(crd)["properties"]["spec"], raw, "spec") == [
        "spec.traffic.stepDurration: unknown field (would be pruned)"
    ]
    with pytest.raises(ValidationError, match="stepDurration"):
        parse_spec(raw)


def _statuses_of_a_busy_gate() -> list[GateStatus]:
    sim = Sim(spec=gate_spec(approvals=approvals("qa")), target=deployment("chat:1", 4))
    sim.settle(T0)
    new = sim.deploy("chat:2")
    t = T0 + minutes(1)
    sim.tick(t)
    sim.tick(t, [*passing(t, new), obs_for(ProbeKind.ERROR_RATE, None, t, revision=new)])
    sim.sign_offs = [sign_off("qa", new, t)]
    sim.tick(t + seconds(5))
    sim.tick(t + seconds(10))
    rate = obs_for(ProbeKind.ERROR_RATE, False, t + seconds(20), revision=new, values={"r": 0.2})
    sim.tick(t + seconds(20), [rate])
    sim.spec_error = "spec.service: field required"
    sim.tick(t + seconds(30))
    return sim.statuses


def test_every_status_the_core_writes_survives_the_schema(crd: dict[str, Any]) -> None:
    schema = root(crd)["properties"]["status"]
    statuses = _statuses_of_a_busy_gate()
    phases = {s.phase for s in statuses}
    assert {Phase.VERIFYING, Phase.PROGRESSING, Phase.ROLLED_BACK, Phase.INVALID} <= phases
    for status in statuses:
        assert errors(schema, dump(status), "status") == []


def test_operator_labels_are_recognised_by_core_and_k8s_alike() -> None:
    assert OWN_PREFIX == LABEL_PREFIX


# ------------------------------------------- reusable metric checks' templates

TEMPLATE_CRDS = {
    cluster: Path(__file__).resolve().parents[2]
    / "deploy"
    / "crds"
    / f"{'clustermetricchecktemplates' if cluster else 'metricchecktemplates'}.{API_GROUP}.yaml"
    for cluster in (False, True)
}


@pytest.mark.parametrize("cluster", [False, True], ids=["namespaced", "cluster"])
def test_template_crds_are_generated_with_their_scope_and_the_models_fields(cluster: bool) -> None:
    committed = [d for d in yaml.safe_load_all(TEMPLATE_CRDS[cluster].read_text()) if d]
    assert committed == [crdgen.build_template_crd(cluster=cluster)], (
        f"{TEMPLATE_CRDS[cluster].name} is stale: run {crdgen.REGENERATE}"
    )
    (template_crd,) = committed
    spec = template_crd["spec"]
    assert (spec["group"], spec["scope"]) == (API_GROUP, "Cluster" if cluster else "Namespaced")
    assert spec["names"]["kind"] == (CLUSTER_TEMPLATE_KIND if cluster else TEMPLATE_KIND)
    (version,) = spec["versions"]
    assert version["name"] == API_VERSION and "subresources" not in version  # no status
    spec_schema = root(template_crd)["properties"]["spec"]
    assert _walk(MetricCheckTemplateSpec, spec_schema, "spec") == []
    for column in version["additionalPrinterColumns"]:
        assert column["jsonPath"] == ".metadata.creationTimestamp" or _resolve(
            root(template_crd), column["jsonPath"]
        ), column


def test_a_template_is_valid_or_refused_alike_by_schema_and_model() -> None:
    spec_schema = root(crdgen.build_template_crd(cluster=False))["properties"]["spec"]
    good = {"query": 'lat{pod=~"{pod_regex}"}', "relativeTo": "stable", "minBaseline": 0.01}
    assert errors(spec_schema, good, "spec") == []
    MetricCheckTemplateSpec.model_validate(good)
    for bad in ({"relativeTo": "stable"}, {**good, "relativeTo": "canary"}, {**good, "x": 1}):
        assert errors(spec_schema, bad, "spec") != [], bad
        with pytest.raises(ValidationError):
            MetricCheckTemplateSpec.model_validate(bad)
    rules = [r["rule"] for r in spec_schema["x-kubernetes-validations"]]
    assert rules == [r["rule"] for r in RELATIVE_RULES]


def test_a_gate_check_takes_a_query_or_a_template_ref_as_cel_and_model_say(
    crd: dict[str, Any],
) -> None:
    metrics = root(crd)["properties"]["spec"]["properties"]["probes"]["properties"]["metrics"]
    check_schema = metrics["properties"]["checks"]["items"]
    assert "query" not in check_schema["required"]
    assert check_schema["properties"]["templateRef"]["required"] == ["kind", "name"]
    rules = {r["rule"]: r["message"] for r in check_schema["x-kubernetes-validations"]}
    assert rules["has(self.query) != has(self.templateRef)"] == (
        "set exactly one of query, templateRef"
    )
    ref = {"kind": TEMPLATE_KIND, "name": "p95"}
    base = {"name": "p95", "condition": {"atMost": 1}}
    assert errors(check_schema, {**base, "templateRef": ref}, "check") == []
    for both_or_neither in ({**base, "templateRef": ref, "query": "q"}, base):
        with pytest.raises(ValidationError, match="set exactly one of query, templateRef"):
            MetricCheck.model_validate(both_or_neither)
