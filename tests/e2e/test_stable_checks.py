"""Once a rollout is over, the gate keeps checking what serves (issue 20, part 2).

An Idle gate probes its stable revision's serving pods with its own health and
WebSocket probes at a low rate (here `--steady-interval 1`, 30 s by default).
Its verdicts go to `deploymentgate_stable_check_success`, which the chart's
alert DeploymentGateStableFailingChecklist pages on; the gate itself reverts
nothing and writes nothing.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from rollout_helpers import (
    GateWorld,
    StartOperator,
    chat_deployment,
    chat_service,
    gate,
    gate_spec,
    wait_until,
)

from deploymentgate_devkit.testing import OperatorProcess

METRIC = "deploymentgate_stable_check_success"


def checks(operator: OperatorProcess, namespace: str) -> dict[str, float]:
    """The gate's stable-check verdicts by probe, as Prometheus would scrape them."""
    out = {}
    for line in operator.metrics().splitlines():
        if line.startswith(METRIC + "{") and f'namespace="{namespace}"' in line:
            probe = line.split('probe="', 1)[1].split('"', 1)[0]
            out[probe] = float(line.rsplit(" ", 1)[1])
    return out


def fading(replicas: int) -> dict[str, Any]:
    """v1 whose /health turns 503 five seconds after it starts (the reference
    backend's health-fails-after-start); a TCP readiness probe keeps its pods
    Ready, so only the gate's check can tell."""
    deployment = chat_deployment(version="v1", replicas=replicas, mode="health-fails-after-start")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["readinessProbe"] = {"tcpSocket": {"port": 8000}, "periodSeconds": 1}
    return deployment


@pytest.mark.timeout(180)
def test_an_idle_gate_reports_a_healthy_stable_passing_its_checks(
    world: GateWorld, start_operator: StartOperator
) -> None:
    world.apply(chat_deployment(version="v1", replicas=2), chat_service())
    operator = start_operator(world.namespace, extra_args=("--steady-interval", "1"))
    world.apply(gate(gate_spec()))
    world.wait_phase("Idle", 60)
    wait_until(
        lambda: checks(operator, world.namespace) == {"health": 1.0, "websocket": 1.0},
        30,
        describe=lambda: str(checks(operator, world.namespace)),
        what="both stable checks passing",
    )


@pytest.mark.timeout(180)
def test_an_idle_gate_reports_its_stable_failing_its_checks_and_reverts_nothing(
    world: GateWorld, start_operator: StartOperator
) -> None:
    world.apply(fading(2), chat_service())
    operator = start_operator(world.namespace, extra_args=("--steady-interval", "1"))
    world.apply(gate(gate_spec()))
    world.wait_phase("Idle", 60)
    # Healthy for its first 5 s (a pod still starting may fail a first check), then 503.
    wait_until(
        lambda: checks(operator, world.namespace).get("health") == 1.0,
        30,
        describe=lambda: str(checks(operator, world.namespace)),
        what="the stable's health check passing while the app is young",
    )
    wait_until(
        lambda: checks(operator, world.namespace).get("health") == 0.0,
        30,
        describe=lambda: str(checks(operator, world.namespace)),
        what="the stable's health check failing",
    )
    # Nothing acts on it: the gate stays Idle on v1, its status untouched by the checks.
    before = world.gate()["metadata"]["resourceVersion"]
    time.sleep(3)  # three check rounds
    assert world.gate()["metadata"]["resourceVersion"] == before
    status = world.status()
    assert status["phase"] == "Idle"
    assert world.serving_versions() == {"v1": 2}
    assert checks(operator, world.namespace).get("health") == 0.0
