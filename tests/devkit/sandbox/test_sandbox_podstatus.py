"""Pod phase and conditions as the simulated node reports them."""

from __future__ import annotations

from typing import Any

from deploymentgate_devkit.sandbox.podstatus import (
    ConditionClock,
    ContainerView,
    pod_phase,
    pod_status,
)


def _running(name: str = "c", *, ready: bool = True) -> ContainerView:
    return ContainerView(
        name, "img", state={"running": {"startedAt": "t0"}}, ready=ready, started=True
    )


def _done(code: int) -> ContainerView:
    return ContainerView("c", "img", state={"terminated": {"exitCode": code}}, terminal=True)


def _conditions(status: dict[str, Any]) -> dict[str, str]:
    return {c["type"]: c["status"] for c in status["conditions"]}


def _status(
    pod: dict[str, Any], views: list[ContainerView], clock: ConditionClock, now: str = "t1"
) -> dict[str, Any]:
    return pod_status(
        pod, views, clock, pod_ip="127.0.0.2", host_ip="127.0.0.1", start_time="t0", now=now
    )


def test_phase_follows_container_lifecycle() -> None:
    never_started = ContainerView("c", "img", state={"waiting": {"reason": "ErrImagePull"}})
    crash_looping = ContainerView(
        "c", "img", state={"waiting": {"reason": "CrashLoopBackOff"}},
        last_state={"terminated": {"exitCode": 1}}, restart_count=2,
    )  # fmt: skip
    assert pod_phase([never_started]) == "Pending"
    assert pod_phase([_running(), never_started]) == "Pending"
    assert pod_phase([crash_looping]) == "Running"
    assert pod_phase([_running()]) == "Running"
    assert pod_phase([_done(0)]) == "Succeeded"
    assert pod_phase([_done(0), _done(2)]) == "Failed"


def test_ready_needs_every_container_ready() -> None:
    status = _status({}, [_running("a"), _running("b", ready=False)], ConditionClock())
    conditions = _conditions(status)
    assert conditions["ContainersReady"] == "False" and conditions["Ready"] == "False"
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["message"] == "containers with unready status: [b]"
    assert [c["ready"] for c in status["containerStatuses"]] == [True, False]
    assert status["podIP"] == "127.0.0.2" and status["podIPs"] == [{"ip": "127.0.0.2"}]


def test_readiness_gates_hold_ready_until_their_condition_is_true() -> None:
    pod: dict[str, Any] = {"spec": {"readinessGates": [{"conditionType": "example.com/gate"}]}}
    clock = ConditionClock()
    status = _status(pod, [_running()], clock)
    assert _conditions(status)["ContainersReady"] == "True"
    assert _conditions(status)["Ready"] == "False"
    pod["status"] = {"conditions": [{"type": "example.com/gate", "status": "True"}]}
    assert _conditions(_status(pod, [_running()], clock))["Ready"] == "True"


def test_transition_time_changes_only_when_the_status_does() -> None:
    clock = ConditionClock()

    def ready_since(views: list[ContainerView], now: str) -> str:
        status = _status({}, views, clock, now)
        return str(
            next(c for c in status["conditions"] if c["type"] == "Ready")["lastTransitionTime"]
        )

    assert ready_since([_running(ready=False)], "t1") == "t1"
    assert ready_since([_running(ready=False)], "t2") == "t1"
    assert ready_since([_running()], "t3") == "t3"
    assert ready_since([_running()], "t4") == "t3"


def test_completed_pod_is_not_ready() -> None:
    conditions = _conditions(_status({}, [_done(0)], ConditionClock()))
    assert conditions["Ready"] == "False" and conditions["ContainersReady"] == "False"
