"""Deployments, Services and pods on the sandbox behave as on a real cluster."""

from __future__ import annotations

import ipaddress
import json
import time
from typing import Any

import httpx
import pytest
from sandbox_helpers import (
    apply,
    chat_deployment,
    get_json,
    is_ready,
    pods,
    rollout_status,
    service,
    wait_ready_pods,
)
from websockets.sync.client import connect

from deploymentgate_devkit.sandbox import Sandbox

pytestmark = pytest.mark.timeout(120)


def _chat_processes(cluster: Sandbox, ip: str) -> list[int]:
    return [
        p.pid
        for p in cluster.processes()
        if "chat_backend" in p.cmdline and f"--host {ip} " in p.cmdline
    ]


def _websocket_events(address: str) -> list[str]:
    with connect(f"ws://{address}/ws", proxy=None, open_timeout=5) as ws:
        events = [json.loads(ws.recv(timeout=5))["type"]]
        ws.send(json.dumps({"type": "user_message", "text": "hello"}))
        while events[-1] != "agent_completed":
            events.append(json.loads(ws.recv(timeout=5))["type"])
    return events


def test_chat_deployment_runs_ready_pods_on_own_loopback_ips_and_leaves_nothing_when_deleted(
    cluster: Sandbox, namespace: str
) -> None:
    apply(cluster, namespace, chat_deployment("chat", version="v1"))
    rollout_status(cluster, namespace, "chat")

    replicasets = json.loads(cluster.kubectl("get", "rs", "-n", namespace, "-o", "json").stdout)
    (rs,) = replicasets["items"]
    assert rs["metadata"]["ownerReferences"][0]["name"] == "chat"
    running = wait_ready_pods(cluster, namespace, "app=chat", 2)
    ips = [p["status"]["podIP"] for p in running]
    assert len(set(ips)) == 2 and all(ipaddress.ip_address(ip).is_loopback for ip in ips)
    assert {p["spec"]["nodeName"] for p in running} == {"sandbox-node-1", "sandbox-node-2"}
    for pod in running:
        status = pod["status"]
        conditions = {c["type"]: c["status"] for c in status["conditions"]}
        assert {
            conditions[k] for k in ("PodScheduled", "Initialized", "ContainersReady", "Ready")
        } == {"True"}
        assert (
            status["phase"] == "Running" and status["hostIP"] == "127.0.0.1" and status["startTime"]
        )
        (container,) = status["containerStatuses"]
        assert container["ready"] and container["started"] and container["restartCount"] == 0
        assert "running" in container["state"]
        code, body = get_json(f"http://{status['podIP']}:8000/health")
        assert (code, body["status"], body["version"]) == (200, "healthy", "v1")
        assert cluster.pod_log(namespace, pod["metadata"]["name"])  # the backend's own output
    events = _websocket_events(f"{ips[0]}:8000")
    assert events[0] == "connection_established"
    assert {"agent_started", "tool_executing", "agent_completed"} <= set(events)

    assert all(_chat_processes(cluster, ip) for ip in ips)
    cluster.kubectl("delete", "deployment", "chat", "-n", namespace, "--wait=false")
    cluster.wait_for(lambda: not pods(cluster, namespace, "app=chat"), timeout=30)
    assert not any(_chat_processes(cluster, ip) for ip in ips)


def test_rolling_update_serves_both_revisions_through_the_service_proxy(
    cluster: Sandbox, namespace: str
) -> None:
    # Slower startup (7 phases x 0.35 s) so old and new pods serve side by side for a while.
    slow = {"CHAT_PHASE_SECONDS": "0.35"}
    apply(
        cluster,
        namespace,
        chat_deployment("chat", version="v1", extra_env=slow),
        service("chat", {"app": "chat"}),
    )
    rollout_status(cluster, namespace, "chat")
    host, port = cluster.service_address(namespace, "chat", 80)
    assert host == "127.0.0.1"
    url = f"http://{host}:{port}/version"
    assert {get_json(url)[1]["version"] for _ in range(4)} == {"v1"}

    cluster.kubectl("set", "env", "-n", namespace, "deployment/chat", "APP_VERSION=v2")
    mixed_window = False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        versions = {get_json(url)[1].get("version") for _ in range(6)}
        mixed_window |= versions == {"v1", "v2"}
        if versions == {"v2"} and _rolled_out(cluster, namespace):
            break
        time.sleep(0.05)
    else:
        pytest.fail("rollout did not finish in time")
    assert mixed_window, "no moment where the proxy spread traffic over both revisions"

    replicasets = json.loads(cluster.kubectl("get", "rs", "-n", namespace, "-o", "json").stdout)
    by_version = {
        rs["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"]: rs
        for rs in replicasets["items"]
    }
    assert by_version["v1"]["spec"]["replicas"] == 0
    assert by_version["v2"]["status"]["readyReplicas"] == 2


def _rolled_out(cluster: Sandbox, namespace: str) -> bool:
    deployment = cluster.request("GET", f"/apis/apps/v1/namespaces/{namespace}/deployments/chat")
    status = deployment["status"]
    return (
        status.get("observedGeneration") == deployment["metadata"]["generation"]
        and status.get("updatedReplicas") == 2
        and status.get("replicas") == 2
        and status.get("availableReplicas") == 2
    )


def _slice_endpoints(cluster: Sandbox, namespace: str, name: str) -> dict[str, dict[str, Any]]:
    slices = cluster.request(
        "GET",
        f"/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices",
        params={"labelSelector": f"kubernetes.io/service-name={name}"},
    )["items"]
    return {e["targetRef"]["name"]: e for s in slices for e in s.get("endpoints") or ()}


def test_endpointslices_and_proxy_follow_exactly_the_ready_pods(
    cluster: Sandbox, namespace: str
) -> None:
    never_ready = chat_deployment(
        "broken",
        version="broken",
        replicas=1,
        mode="startup-fails",
        labels={"app": "chat", "tier": "broken"},
    )
    apply(
        cluster,
        namespace,
        chat_deployment("chat", version="good", labels={"app": "chat", "tier": "good"}),
        never_ready,
        service("chat", {"app": "chat"}),
    )
    ready = wait_ready_pods(cluster, namespace, "tier=good", 2)
    (broken,) = cluster.wait_for(
        lambda: [p for p in pods(cluster, namespace, "tier=broken") if p["status"].get("podIP")]
    )
    expected = {p["metadata"]["name"]: p["status"]["podIP"] for p in ready}

    def ready_in_slices(endpoints: dict[str, dict[str, Any]]) -> dict[str, str]:
        return {n: e["addresses"][0] for n, e in endpoints.items() if e["conditions"]["ready"]}

    def slices_settled() -> dict[str, dict[str, Any]] | None:
        # The slices follow pods' readiness a moment after the pods API shows it:
        # settled once they list all three pods and mark exactly the ready ones.
        endpoints = _slice_endpoints(cluster, namespace, "chat")
        listed = len(endpoints) == 3 and broken["metadata"]["name"] in endpoints
        return endpoints if listed and ready_in_slices(endpoints) == expected else None

    try:
        cluster.wait_for(slices_settled, timeout=20)
    except TimeoutError:
        seen = ready_in_slices(_slice_endpoints(cluster, namespace, "chat"))
        raise AssertionError(f"slices mark ready {seen}, the ready pods are {expected}") from None
    assert not is_ready(pods(cluster, namespace, "tier=broken")[0])

    host, port = cluster.service_address(namespace, "chat")
    versions = [get_json(f"http://{host}:{port}/version")[1]["version"] for _ in range(10)]
    assert versions == ["good"] * 10
    assert _websocket_events(f"{host}:{port}")[-1] == "agent_completed"  # upgrades pass through

    cluster.kubectl("scale", "-n", namespace, "deployment/chat", "--replicas=0")
    cluster.wait_for(
        lambda: (
            not any(
                e["conditions"]["ready"]
                for e in _slice_endpoints(cluster, namespace, "chat").values()
            )
        )
    )
    started = time.monotonic()
    with pytest.raises(httpx.TransportError):
        get_json(f"http://{host}:{port}/version")
    assert time.monotonic() - started < 1.0, "with no ready endpoint a connection must fail at once"


def _container_status(cluster: Sandbox, namespace: str, pod: str) -> dict[str, Any] | None:
    obj = cluster.request("GET", f"/api/v1/namespaces/{namespace}/pods/{pod}")
    statuses = obj["status"].get("containerStatuses") or []
    return {"phase": obj["status"].get("phase"), **statuses[0]} if statuses else None


def _pod(
    name: str, image: str, *, restart_policy: str = "Always", **container: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": restart_policy,
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "main", "image": image, **container}],
        },
    }


def test_unknown_image_fails_to_pull_and_stays_pending(cluster: Sandbox, namespace: str) -> None:
    apply(cluster, namespace, _pod("nginx", "docker.io/library/nginx:1.27"))

    def pull_failed() -> dict[str, Any] | None:
        status = _container_status(cluster, namespace, "nginx")
        waiting = (status or {}).get("state", {}).get("waiting", {})
        return status if waiting.get("reason") == "ErrImagePull" else None

    status = cluster.wait_for(pull_failed, timeout=20)
    assert status["phase"] == "Pending"
    assert "not available in the sandbox" in status["state"]["waiting"]["message"]


def test_exec_image_runs_the_given_command_on_the_pod_address(
    cluster: Sandbox, namespace: str
) -> None:
    apply(
        cluster,
        namespace,
        _pod(
            "files",
            "sandbox/exec",
            command=["python", "-m", "http.server", "--bind", "$(POD_IP)", "$(PORT)"],
            ports=[{"containerPort": 8080}],
            readinessProbe={"tcpSocket": {"port": 8080}, "periodSeconds": 1},
            env=[{"name": "GREETING", "value": "hello from $(POD_NAME)"}],
        ),
    )
    (pod,) = wait_ready_pods(cluster, namespace, "", 1, timeout=30)
    ip = pod["status"]["podIP"]
    with httpx.Client(trust_env=False) as http:
        assert http.get(f"http://{ip}:8080/").status_code == 200
    assert f"{ip}" in cluster.pod_log(namespace, "files")  # http.server logs each request's client
    assert f"{ip}" in cluster.kubectl("logs", "-n", namespace, "files").stdout


def test_crashing_container_is_restarted_with_restart_count_incremented(
    cluster: Sandbox, namespace: str
) -> None:
    apply(
        cluster,
        namespace,
        _pod(
            "crasher",
            "sandbox/exec",
            command=["python", "-c", "import sys; print('boom'); sys.exit(3)"],
        ),
    )

    def restarted() -> dict[str, Any] | None:
        status = _container_status(cluster, namespace, "crasher")
        return status if status and status["restartCount"] >= 2 else None

    status = cluster.wait_for(restarted, timeout=30)
    assert status["lastState"]["terminated"]["exitCode"] == 3
    assert status["phase"] == "Running"
    assert cluster.pod_log(namespace, "crasher").count("boom") >= 2


def test_liveness_probe_failure_restarts_the_container(cluster: Sandbox, namespace: str) -> None:
    apply(
        cluster,
        namespace,
        _pod(
            "stuck",
            "sandbox/exec",
            command=["python", "-c", "import time; time.sleep(600)"],
            livenessProbe={"tcpSocket": {"port": 9}, "periodSeconds": 1, "failureThreshold": 1},
        ),
    )

    def restarted() -> dict[str, Any] | None:
        status = _container_status(cluster, namespace, "stuck")
        return status if status and status["restartCount"] >= 1 else None

    status = cluster.wait_for(restarted, timeout=30)
    assert status["lastState"]["terminated"]["exitCode"] in (137, 143)  # SIGKILL / SIGTERM
    events = cluster.kubectl("get", "events", "-n", namespace, "-o", "json").stdout
    assert "failed liveness probe" in events


def test_prestop_hook_runs_before_sigterm_and_the_pod_is_removed(
    cluster: Sandbox, namespace: str
) -> None:
    script = (
        "import os, signal, sys, time\n"
        "def bye(*_):\n"
        "    print('prestop seen:', os.path.exists('prestop-ran'), flush=True)\n"
        "    sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, bye)\n"
        "print('up', flush=True)\n"
        "time.sleep(600)\n"
    )
    apply(
        cluster,
        namespace,
        _pod(
            "graceful",
            "sandbox/exec",
            command=["python", "-c", script],
            lifecycle={"preStop": {"exec": {"command": ["touch", "prestop-ran"]}}},
        ),
    )
    cluster.wait_for(lambda: "up" in cluster.pod_log(namespace, "graceful"), timeout=20)
    cluster.kubectl("delete", "pod", "graceful", "-n", namespace, "--wait=true", timeout=30)
    assert "prestop seen: True" in cluster.pod_log(namespace, "graceful")


def test_pods_that_run_to_completion_end_succeeded_or_failed(
    cluster: Sandbox, namespace: str
) -> None:
    for name, code in (("ok", 0), ("bad", 4)):
        command = ["python", "-c", f"raise SystemExit({code})"]
        apply(
            cluster, namespace, _pod(name, "sandbox/exec", restart_policy="Never", command=command)
        )

    def phases() -> dict[str, str] | None:
        found = {
            p["metadata"]["name"]: p["status"].get("phase") for p in pods(cluster, namespace, "")
        }
        return found if set(found.values()) <= {"Succeeded", "Failed"} and len(found) == 2 else None

    assert cluster.wait_for(phases, timeout=30) == {"ok": "Succeeded", "bad": "Failed"}
    bad = _container_status(cluster, namespace, "bad")
    assert (
        bad is not None and bad["state"]["terminated"]["exitCode"] == 4 and bad["restartCount"] == 0
    )


def test_job_runs_to_completion(cluster: Sandbox, namespace: str) -> None:
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "once"},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {
                            "name": "main",
                            "image": "sandbox/exec",
                            "command": ["python", "-c", "print('done')"],
                        }
                    ],
                }
            },
        },
    }
    apply(cluster, namespace, job)
    cluster.kubectl(
        "wait", "-n", namespace, "job/once", "--for=condition=Complete", "--timeout=30s", timeout=40
    )
