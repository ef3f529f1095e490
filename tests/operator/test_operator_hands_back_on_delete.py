"""Deleting a gate mid-rollout hands the traffic back to the team's own
Deployment, on the last verified revision, and the operator forgets the gate."""

from __future__ import annotations

from collections import Counter

from rollout_helpers import (
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
    wait_until,
)

from deploymentgate.sandbox import SandboxApiError

REPLICAS = 4
SPEC = gate_spec(traffic={"steps": [50, 100], "stepDuration": "10m", "progressDeadline": "90s"})


def test_deleting_a_gate_mid_rollout_hands_traffic_back_on_the_stable_revision(
    world: GateWorld, start_operator: StartOperator
) -> None:
    world.apply(chat_deployment(version="v1", replicas=REPLICAS), chat_service())
    operator = start_operator(world.namespace)
    world.apply(gate(SPEC))
    world.wait_phase("Idle", 60)
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
    world.wait_endpoints(10, v1=2, v2=2)

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

    target = world.deployment("chat")
    assert target is not None
    env = target["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "APP_VERSION", "value": "v1"} in env, "the unverified v2 template stayed"
    assert target["spec"]["replicas"] == REPLICAS
    assert world.deployment("chat-primary") is None
    assert world.deployment("chat-verify") is None
    wait_until(
        lambda: {pod_version(p) for p in world.pods()} == {"v1"},
        30,
        describe=world.diagnostics,
        what="only v1 pods",
    )
    world.wait_endpoints(v1=REPLICAS)
    assert world.traffic(40) == Counter(v1=40)
    during = recorder.served()
    assert sum(during.values()) >= 20 and set(during) <= {"v1", "v2"}, (
        f"requests failed while traffic was handed back: {during} {recorder.errors}"
    )

    metrics = operator.metrics()
    assert metric_samples(metrics, "deploymentgate_gate_phase", **labels) == [], "a ghost gate"
