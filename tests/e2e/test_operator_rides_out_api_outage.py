"""The kube-apiserver is stopped for 60 s in the middle of a rollout (step 2 of
3, 50% of traffic on the new revision) while ten other gates sit idle.

Users see nothing of it: the Service keeps answering from both revisions. The
operator stays quiet: one line saying the API server is unreachable instead of
a traceback per gate and pass, each gate retrying within the backoff's bound
(at most one failed pass per gate and backoff step, instead of one every 2 s;
in fact a gate that got no answer waits for the readiness check to wake it),
and a fraction of a core. When the API server is back, the rollout resumes from its
status and is Promoted, every step taken exactly once; 100% is not called in
effect before the old revision's pods have really gone (terminating at least),
although the cluster's own controllers take up to a minute after the outage to
remove them.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path

import pytest
from rollout_helpers import (
    GateWorld,
    GiveUp,
    StartOperator,
    chat_deployment,
    chat_service,
    gate,
    gate_spec,
    metric_samples,
    metric_value,
    pod_version,
    step_endpoints,
    wait_until,
)

from deploymentgate.controller.backoff import CAP, FIRST, JITTER, base_delay
from deploymentgate.models import API_GROUP, API_VERSION, PLURAL
from deploymentgate_devkit.sandbox import KubectlError, Sandbox

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(360)]

OUTAGE = 60.0
REPLICAS = 4
STEPS = [25, 50, 100]
IDLE_GATES = 10
SPEC = gate_spec(traffic={"steps": STEPS, "stepDuration": "10s", "progressDeadline": "5m"})
ERRORS = "deploymentgate_reconcile_errors_total"


def attempts_within(seconds: float) -> int:
    """The most passes a failing gate can make in `seconds`: delays at their
    shortest (full jitter) from FIRST, doubling to CAP."""
    count, elapsed = 1, 0.0
    while True:
        elapsed += base_delay(count, FIRST, CAP) * (1 - JITTER)
        if elapsed > seconds:
            return count
        count += 1


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def failed_passes(metrics: str) -> float:
    """Reconcile passes that failed, lost write races aside."""
    return sum(metric_samples(metrics, ERRORS)) - metric_value(metrics, ERRORS, kind="conflict")


def test_a_rollout_rides_out_a_minute_without_api_server(
    cluster: Sandbox, world: GateWorld, start_operator: StartOperator
) -> None:
    world.apply(chat_deployment(version="v1", replicas=REPLICAS), chat_service())
    idle = [f"idle-{i}" for i in range(IDLE_GATES)]
    for name in idle:
        world.apply(
            chat_deployment(version="v1", replicas=0, name=name),
            chat_service(name),
            gate(gate_spec(targetRef={"kind": "Deployment", "name": name}, service=name), name),
        )
    operator = start_operator(world.namespace)
    world.apply(gate(SPEC))
    world.wait_phase("Idle", 60)
    world.set_version("v2")

    def mid_step_two() -> bool:
        st = world.status()
        if st.get("phase") in ("Promoting", "Promoted", "RolledBack", "Blocked"):
            raise GiveUp(f"step 2 passed before the outage could begin: {st}")
        return bool(st.get("step") == 1 and st.get("stepReadySince"))

    wait_until(mid_step_two, 90, describe=world.diagnostics, what="step 2 (50%) in effect")
    at_step_two = step_endpoints(REPLICAS, 50)
    world.wait_endpoints(20, **at_step_two)
    listing = world.get(f"/apis/{API_GROUP}/{API_VERSION}/namespaces/{world.namespace}/{PLURAL}")
    phases = Counter((g.get("status") or {}).get("phase") for g in listing["items"])
    assert phases["Idle"] == IDLE_GATES, phases
    assert operator.proc is not None
    pid = operator.proc.pid

    errors_before = failed_passes(operator.metrics())
    log_offset = len(operator.log().encode())
    cpu_before, began = cpu_seconds(pid), time.monotonic()
    cluster.stop_apiserver()
    try:
        with pytest.raises(KubectlError, match=r"(?i)refused"):
            world.kubectl("get", "deploymentgate", "chat")
        time.sleep(OUTAGE / 2)
        # Users see nothing: the Service answers from both revisions, as at step 2.
        served = world.traffic(40)
        assert set(served) == {"v1", "v2"}, served
        time.sleep(max(0.0, OUTAGE - (time.monotonic() - began)))
        errors_during = failed_passes(operator.metrics()) - errors_before
        cpu = cpu_seconds(pid) - cpu_before
        outage_log = operator.log().encode()[log_offset:].decode(errors="replace")
        elapsed = time.monotonic() - began
    finally:
        cluster.start_apiserver()  # never leave the session's cluster without API server

    # Quiet: one line for the operator, at most one per gate and backoff step.
    lines = outage_log.splitlines()
    gates = IDLE_GATES + 1
    steps = attempts_within(elapsed + 10)  # + the API server's own restart
    assert len(lines) <= 1 + gates * steps, outage_log
    assert sum("API server unreachable" in line for line in lines) == 1, outage_log
    assert "Traceback" not in outage_log and "Request attempt" not in outage_log, outage_log
    # Backing off: each gate tried a handful of times, not every 2 s (30 times).
    assert errors_during <= gates * steps, f"{errors_during} failed passes in {elapsed:.0f}s"
    assert errors_during >= 1, "no pass failed: was the API server really gone?"
    # Not spinning: a loop that retried without backing off burns a whole core. The
    # rollout's probes go on meanwhile, and two test workers share the machine's two
    # cores (bench/outage.py measures the figure itself, on an idle machine).
    assert cpu < 0.15 * elapsed, f"{cpu:.1f}s of CPU in {elapsed:.0f}s without API server"

    # Back: the rollout resumes from its status, and every step was taken once.
    def promoted() -> bool:
        st = world.status()
        if st.get("phase") in ("RolledBack", "Blocked", "Invalid"):
            raise GiveUp(f"rollout failed after the outage: {st}")
        return st.get("phase") == "Promoted"

    # kube-controller-manager's watches back off too: ~1 min before it scales anything.
    wait_until(promoted, 150, describe=world.diagnostics, what="Promoted after the outage")
    # No v1 pod left at Promoted: each one is gone or terminating. The Service's
    # EndpointSlices follow when the cluster's endpointslice controller, lagging
    # after the outage as well, catches up; the operator cannot hurry it.
    live = Counter(pod_version(p) for p in world.pods())
    assert live["v1"] == 0, live
    wait_until(
        lambda: world.endpoint_versions() == Counter(v2=REPLICAS),
        90,
        describe=world.diagnostics,
        what="the Service's endpoints all on v2",
    )
    wait_until(
        lambda: "API server answers again" in operator.log(),
        10,
        what="the operator saying the API server is back",
    )
    status = world.status()
    shifted = [h["message"] for h in status["history"] if h["reason"] == "TrafficShifted"]
    assert [int(m.split("%", 1)[0]) for m in shifted] == STEPS, status["history"]
    reasons = Counter(e["reason"] for e in world.events_once("Promoted"))
    assert reasons["TrafficShifted"] == len(STEPS) and reasons["Promoted"] == 1, reasons
    assert reasons["RolledBack"] == 0, reasons
    assert world.traffic(20) == Counter(v2=20)
    assert operator.running
