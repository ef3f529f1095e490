"""Deleting a gate mid-rollout hands the Service and the Deployment back to the
team exactly as written (selector, replicas, template), with every request
answered meanwhile, and the operator forgets the gate."""

from __future__ import annotations

from collections import Counter

from rollout_helpers import (
    GATED_SELECTOR,
    TEAM_SELECTOR,
    GateWorld,
    Recorder,
    StartOperator,
    chat_deployment,
    chat_service,
    gate,
    gate_spec,
    metric_samples,
    metric_value,
    pod_version,
    step_endpoints,
    template_version,
    wait_until,
)

from deploymentgate_devkit.sandbox import SandboxApiError

REPLICAS = 4
SPEC = gate_spec(traffic={"steps": [50, 100], "stepDuration": "10m", "progressDeadline": "90s"})


def test_deleting_a_gate_mid_rollout_hands_service_and_deployment_back_as_written(
    world: GateWorld, start_operator: StartOperator
) -> None:
    world.apply(chat_deployment(version="v1", replicas=REPLICAS), chat_service())
    operator = start_operator(world.namespace)
    world.apply(gate(SPEC))
    world.wait_phase("Idle", 60)
    assert world.service_selector() == GATED_SELECTOR
    labels = {"namespace": world.namespace, "gate": "chat"}
    assert (
        metric_value(operator.metrics(), "deploymentgate_gate_phase", **labels, phase="Idle") == 1
    )

    world.set_version("v2")
    wait_until(
        lambda: world.status().get("stepReadySince") and world.status().get("canaryWeight") == 50,
        60,
        describe=world.diagnostics,
        what="step 1 (50%) in effect",
    )
    metrics = operator.metrics()
    assert metric_value(metrics, "deploymentgate_gate_phase", **labels, phase="Progressing") == 1
    assert metric_value(metrics, "deploymentgate_canary_weight_percent", **labels) == 50
    world.wait_endpoints(10, **step_endpoints(REPLICAS, 50))

    written = world.deployment("chat")
    assert written is not None
    recorder = Recorder(world, requests=5, interval=0.2).start()
    world.kubectl("delete", "deploymentgate", "chat", "--wait=false")

    def gate_gone() -> bool:
        try:
            world.gate()
        except SandboxApiError as exc:
            return exc.status == 404
        return False

    wait_until(gate_gone, 60, describe=world.diagnostics, what="the gate's finalizer done")
    recorder.stop()

    # Exactly as the team wrote them: the template they last applied (v2), their
    # replica count, their selector; nothing of the gate's left.
    target = world.deployment("chat")
    assert target is not None
    assert target["spec"]["template"] == written["spec"]["template"]
    assert template_version(target) == "v2"
    assert target["spec"]["replicas"] == REPLICAS
    assert world.service_selector() == TEAM_SELECTOR
    assert world.serving_deployments() == []
    assert world.deployment("chat-verify") is None
    wait_until(
        lambda: {pod_version(p) for p in world.pods()} == {"v2"},
        30,
        describe=world.diagnostics,
        what="only the team's own (v2) pods",
    )
    world.wait_endpoints(v2=REPLICAS)
    assert world.traffic(40) == Counter(v2=40)
    during = recorder.served()
    assert sum(during.values()) >= 20 and set(during) <= {"v1", "v2"}, (
        f"requests failed while traffic was handed back: {during} {recorder.errors}"
    )

    metrics = operator.metrics()
    assert metric_samples(metrics, "deploymentgate_gate_phase", **labels) == [], "a ghost gate"
