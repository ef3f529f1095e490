"""Each rollback trigger, driven by a reference-app mode that really misbehaves.

The four bad versions ship at once, each in its own namespace, under one
operator watching all four (the scenarios overlap in time, so the module costs
about as much as its slowest case). Each test then checks what users and
on-call see: the gate RolledBack with the trigger named, the canary's serving
Deployment and the verification pods gone, every endpoint and every request back on v1, a
RolledBack Event, and the rollback counter labelled with the trigger.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from rollout_helpers import (
    GATED_SELECTOR,
    ChartRbac,
    GateWorld,
    Recorder,
    assert_clean_log,
    chat_deployment,
    chat_service,
    failed,
    gate,
    gate_spec,
    metric_samples,
    metric_value,
    pod_version,
    wait_until,
)

from deploymentgate_devkit.sandbox import Sandbox
from deploymentgate_devkit.testing import OperatorProcess

REPLICAS = 2
BAD = "v-bad"


@dataclass(frozen=True)
class BadVersion:
    mode: str
    trigger: str  # the metric's reason label
    reason_says: str  # in status.rollbackReason and the RolledBack Event
    traffic_moves: bool | None  # must users meet it before the rollback? None: either way
    env: dict[str, str] = field(default_factory=dict)
    spec: dict[str, Any] = field(default_factory=dict)


SCENARIOS = {
    # Healthy through verification, then /health fails 7 s after startup: the
    # trigger fires while the first step (50%) is observed.
    "health-failing": BadVersion(
        mode="health-fails-after-start",
        env={"CHAT_HEALTHY_SECONDS": "7"},
        trigger="healthFailing",
        reason_says="health failing for 5s",
        traffic_moves=True,
        spec={"traffic": {"steps": [50, 100], "stepDuration": "30s", "progressDeadline": "90s"}},
    ),
    # 2 of every 25 requests fail: 8% > 5%, at 0% traffic or at the first step.
    "error-rate": BadVersion(
        mode="errors-8pct",
        trigger="errorRate",
        reason_says="error rate over 5%",
        traffic_moves=None,
        spec={"traffic": {"steps": [50, 100], "stepDuration": "30s", "progressDeadline": "90s"}},
    ),
    # tool_completed never arrives: verification can never pass.
    "websocket-missing-event": BadVersion(
        mode="ws-missing-event",
        trigger="websocketFailing",
        reason_says="websocket",
        traffic_moves=False,
    ),
    # Startup fails in DATABASE: the pod never serves.
    "startup-failed": BadVersion(
        mode="startup-fails",
        trigger="startupFailed",
        reason_says="startup",
        traffic_moves=False,
    ),
}


@dataclass
class Rollout:
    world: GateWorld
    bad: BadVersion
    recorder: Recorder


@dataclass
class Rollouts:
    operator: OperatorProcess
    by_id: dict[str, Rollout]


@pytest.fixture(scope="module")
def rollouts(
    cluster: Sandbox, chart_rbac: ChartRbac, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Rollouts]:
    """All four bad versions shipped at once, each gate adopted first (Idle)."""
    namespaces = [cluster.create_namespace() for _ in SCENARIOS]
    worlds = {sid: GateWorld(cluster, ns) for sid, ns in zip(SCENARIOS, namespaces, strict=True)}
    log = tmp_path_factory.mktemp("rollbacks") / "operator.log"
    operator = OperatorProcess(chart_rbac.grant(*namespaces), log, namespaces=namespaces)
    recorders: list[Recorder] = []
    try:
        for sid, bad in SCENARIOS.items():
            worlds[sid].apply(
                chat_deployment(version="v1", replicas=REPLICAS),
                chat_service(),
                gate(gate_spec(**bad.spec)),
            )
        operator.start()
        for world in worlds.values():
            world.wait_phase("Idle", 90)
        by_id = {}
        for sid, bad in SCENARIOS.items():
            recorder = Recorder(worlds[sid]).start()
            recorders.append(recorder)
            worlds[sid].set_version(BAD, mode=bad.mode, **bad.env)
            by_id[sid] = Rollout(worlds[sid], bad, recorder)
        yield Rollouts(operator, by_id)
    except BaseException:
        print(f"\n===== operator log {log} =====\n{operator.log()[-20000:]}")
        for world in worlds.values():
            print(f"\n===== namespace {world.namespace} =====\n{world.diagnostics()}")
        raise
    finally:
        for recorder in recorders:
            recorder.stop()
        operator.stop()
        for ns in namespaces:
            cluster.delete_namespace(ns)
    assert_clean_log(operator)


@pytest.fixture
def rollout(rollouts: Rollouts, request: pytest.FixtureRequest) -> Iterator[Rollout]:
    chosen = rollouts.by_id[request.param]
    yield chosen
    if failed(request):
        print(f"\n===== namespace {chosen.world.namespace} =====\n{chosen.world.diagnostics()}")
        recorder = chosen.recorder
        print(f"\n===== recorder saw phases {recorder.phases()}, weights {recorder.weights()}")
        log = rollouts.operator.log()
        print(f"\n===== operator log {rollouts.operator.log_path} =====\n{log[-20000:]}")


@pytest.mark.parametrize("rollout", list(SCENARIOS), indirect=True)
def test_bad_version_is_rolled_back_with_the_trigger_named_and_traffic_on_stable(
    rollout: Rollout, rollouts: Rollouts
) -> None:
    world, bad, recorder = rollout.world, rollout.bad, rollout.recorder
    status = world.wait_phase("RolledBack", 90, allowed={"Idle", "Verifying", "Progressing"})
    reason = status.get("rollbackReason") or ""
    assert bad.reason_says.lower() in reason.lower(), status
    message = status["message"]
    assert "rolled back" in message and bad.reason_says.lower() in message.lower(), message
    assert status.get("canaryWeight", 0) == 0

    def stable_only() -> bool:
        versions = {pod_version(p) for p in world.pods()}
        return (
            versions == {"v1"}
            and world.replicas("chat") == 0
            and world.deployment("chat-verify") is None
            and world.serving_versions() == {"v1": REPLICAS}
        )

    wait_until(stable_only, 30, describe=world.diagnostics, what="only v1 pods left")
    world.wait_endpoints(v1=REPLICAS)
    assert world.traffic(30) == Counter(v1=30)
    assert world.service_selector() == GATED_SELECTOR

    recorder.stop()
    assert recorder.samples, f"the recorder saw no traffic: {recorder.errors}"
    served = recorder.served()
    if bad.traffic_moves is False:
        assert BAD not in " ".join(served), f"{bad.mode} reached users: {served}"
    if bad.traffic_moves is True:
        during = recorder.served({"Progressing"})
        assert any(BAD in k for k in during), (
            f"{bad.mode} should have met users before the trigger fired:"
            f" {recorder.phases()} {during}"
        )

    rolled_back = [e for e in world.events_once("RolledBack") if e["reason"] == "RolledBack"]
    assert len(rolled_back) == 1, world.events()
    assert rolled_back[0]["type"] == "Warning"
    assert bad.reason_says.lower() in rolled_back[0]["message"].lower()

    metrics = rollouts.operator.metrics()
    labels = {"namespace": world.namespace, "gate": "chat"}
    rollbacks = metric_samples(metrics, "deploymentgate_rollbacks_total", **labels)
    assert rollbacks == [1.0], rollbacks  # one rollback, under one trigger label ...
    assert metric_value(metrics, "deploymentgate_rollbacks_total", **labels, reason=bad.trigger)
    assert metric_value(metrics, "deploymentgate_gate_phase", **labels, phase="RolledBack") == 1

    # ... the one named. The bad template stays in the Deployment; the gate does not retry it.
    final = world.status()
    assert final["phase"] == "RolledBack" and final["revision"] == status["revision"]
    assert world.replicas("chat") == 0
