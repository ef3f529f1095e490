"""Bad input gets a clear answer. What a schema can say, the API server says at
`kubectl apply`, naming the field; what it cannot, the operator says by marking
the gate Invalid, naming the field, without crashing and without touching traffic."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from rollout_helpers import (
    TEAM_SELECTOR,
    GateWorld,
    StartOperator,
    assert_clean_log,
    chat_deployment,
    chat_service,
    gate,
    gate_spec,
    wait_rested,
    wait_until,
)

from deploymentgate.k8s.builders import SERVING_LABEL

Edit = Callable[[dict[str, Any]], None]


def setting(path: str, value: Any) -> Edit:
    """Set spec.<path> (dotted) to `value`."""

    def edit(spec: dict[str, Any]) -> None:
        *parents, leaf = path.split(".")
        node = spec
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value

    return edit


def removing(path: str) -> Edit:
    def edit(spec: dict[str, Any]) -> None:
        *parents, leaf = path.split(".")
        node = spec
        for key in parents:
            node = node[key]
        del node[leaf]

    return edit


# (edit, what the API server must name, what it must say)
REJECTED: dict[str, tuple[Edit, str, str]] = {
    "steps-descending": (
        setting("traffic.steps", [50, 25, 100]),
        "spec.traffic.steps",
        "steps must be strictly ascending",
    ),
    "steps-repeated": (
        setting("traffic.steps", [50, 50, 100]),
        "spec.traffic.steps",
        "steps must be strictly ascending",
    ),
    "step-over-100": (
        setting("traffic.steps", [10, 150]),
        "spec.traffic.steps[1]",
        "less than or equal to 100",
    ),
    "step-zero": (
        setting("traffic.steps", [0, 100]),
        "spec.traffic.steps[0]",
        "greater than or equal to 1",
    ),
    "no-steps": (setting("traffic.steps", []), "spec.traffic.steps", "at least 1 items"),
    "duration-in-words": (
        setting("traffic.stepDuration", "5 minutes"),
        "spec.traffic.stepDuration",
        "should match",
    ),
    "percentage-without-percent-sign": (
        setting("rollback.errorRate.threshold", "5"),
        "spec.rollback.errorRate.threshold",
        "should match",
    ),
    "missing-target-name": (
        removing("targetRef.name"),
        "spec.targetRef.name",
        "Required value",
    ),
    "target-not-a-deployment": (
        setting("targetRef.kind", "StatefulSet"),
        "spec.targetRef.kind",
        "Unsupported value",
    ),
    "unknown-router": (
        setting("traffic.router", "istio"),
        "spec.traffic.router",
        "Unsupported value",
    ),
    "gateway-router-without-route": (
        setting("traffic.router", "gatewayAPI"),
        "spec.traffic",
        "router gatewayAPI needs httpRoute",
    ),
    "negative-port": (
        setting("probes.health.port", -1),
        "spec.probes.health.port",
        "greater than or equal to 1",
    ),
    "port-over-65535": (
        setting("probes.websocket.port", 70000),
        "spec.probes.websocket.port",
        "less than or equal to 65535",
    ),
    "missing-service": (removing("service"), "spec.service", "Required value"),
    "prometheus-without-query": (
        setting("rollback.errorRate.source", "prometheus"),
        "spec.rollback.errorRate",
        "errorRate.source=prometheus needs prometheusUrl and query",
    ),
    "misspelt-field": (
        setting("traffic.stepDurration", "5s"),
        "spec.traffic.stepDurration",
        "unknown field",
    ),
    "unknown-rollback-action": (
        setting("rollback.action", "pause"),
        "spec.rollback.action",
        "Unsupported value",
    ),
    "zero-probe-requests": (
        setting("rollback.errorRate.requestsPerInterval", 0),
        "spec.rollback.errorRate.requestsPerInterval",
        "greater than or equal to 1",
    ),
    # Duration bounds are CEL rules on the field (issue 9: this one overflowed).
    "zero-health-interval": (
        setting("probes.health.interval", "0s"),
        "spec.probes.health.interval",
        "must be at least 100ms",
    ),
    "step-duration-overflow": (
        setting("traffic.stepDuration", "99999999999h"),
        "spec.traffic.stepDuration",
        "DeploymentGate",
    ),
}


@pytest.mark.parametrize("case", list(REJECTED))
def test_invalid_gate_is_rejected_by_the_api_server_naming_the_field(
    world: GateWorld, case: str
) -> None:
    edit, field, says = REJECTED[case]
    spec = copy.deepcopy(gate_spec())
    edit(spec)
    result = world.kubectl(
        "apply", "-f", "-", input=yaml.safe_dump(gate(spec, name="bad")), check=False
    )
    assert result.returncode != 0, f"{case} was accepted:\n{result.stdout}"
    assert field in result.stderr and says in result.stderr, result.stderr
    assert "DeploymentGate" in result.stderr
    missing = world.kubectl("get", "deploymentgate", "bad", check=False)
    assert missing.returncode != 0 and "NotFound" in missing.stderr


# Accepted by the schema, refused by the operator: (edit, field named, words in the message).
MARKED_INVALID: dict[str, tuple[Edit, str, str]] = {
    "threshold-over-100-percent": (
        setting("rollback.errorRate.threshold", "150%"),
        "spec.rollback.errorRate.threshold",
        "out of range",
    ),
}


def test_gates_the_schema_cannot_judge_are_marked_invalid_and_never_touch_traffic(
    world: GateWorld, start_operator: StartOperator
) -> None:
    world.apply(chat_deployment(version="v1", replicas=2), chat_service())
    world.wait_endpoints(30, v1=2)
    pods_before = sorted(p["metadata"]["name"] for p in world.pods())
    operator = start_operator(world.namespace)

    for name, (edit, _, _) in MARKED_INVALID.items():
        spec = copy.deepcopy(gate_spec())
        edit(spec)
        world.apply(gate(spec, name=name))
    ghost = gate_spec(targetRef={"kind": "Deployment", "name": "ghost"}, service="ghost")
    world.apply(gate(ghost, name="ghost"))

    for name, (_, field, says) in MARKED_INVALID.items():
        gw = GateWorld(world.cluster, world.namespace, name)
        status = gw.wait_phase("Invalid", 30)
        assert status["message"].startswith(field) and says in status["message"], status
        (event,) = [e for e in gw.events() if e["reason"] == "InvalidSpec"]
        assert event["type"] == "Warning" and field in event["message"]
        by_type = {c["type"]: c["status"] for c in status["conditions"]}
        assert by_type["Degraded"] == "True" and by_type["Ready"] == "False"

    blocked = GateWorld(world.cluster, world.namespace, "ghost").wait_phase("Blocked", 30)
    assert "Deployment ghost not found" in blocked["message"]

    # Invalid gates changed nothing: same pods, same replicas, nothing created;
    # and they are not rewritten on every pass either.
    versions = {n: _resource_version(world, n) for n in MARKED_INVALID}
    wait_rested(operator)
    assert {n: _resource_version(world, n) for n in MARKED_INVALID} == versions
    assert world.replicas("chat") == 2
    assert world.deployment_names() == ["chat"]
    assert world.service_selector() == TEAM_SELECTOR
    assert sorted(p["metadata"]["name"] for p in world.pods()) == pods_before

    # The operator is still at work: the gate that never adopted anything is
    # deleted without a fuss, and the fixed gate resumes and adopts the Deployment.
    world.kubectl("delete", "deploymentgate", "ghost", "--timeout=30s")
    fixed = GateWorld(world.cluster, world.namespace, "threshold-over-100-percent")
    fixed.kubectl(
        "patch",
        "deploymentgate",
        fixed.gate_name,
        "--type=merge",
        "-p",
        '{"spec": {"rollback": {"errorRate": {"threshold": "5%"}}}}',
    )
    status = fixed.wait_phase("Idle", 60, allowed={"Invalid", "Initializing"})
    # The pass that writes Idle scales the team's Deployment after its status write.
    wait_until(lambda: world.replicas("chat") == 0, 10, what="the team's Deployment at 0")
    assert fixed.serving_versions() == {"v1": 2}
    assert world.service_selector() == {**TEAM_SELECTOR, SERVING_LABEL: fixed.gate_name}
    assert "SpecValid" in [h["reason"] for h in status["history"]]
    assert operator.running
    assert_clean_log(operator)


def _resource_version(world: GateWorld, gate_name: str) -> str:
    other = GateWorld(world.cluster, world.namespace, gate_name)
    return str(other.gate()["metadata"]["resourceVersion"])
