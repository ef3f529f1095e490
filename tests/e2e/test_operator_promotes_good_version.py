"""A good new version, end to end: verified at 0% traffic, stepped 25 -> 50 -> 100
through the Service, promoted without restarting the pods that serve it. Traffic
is measured where users meet it: the Service's EndpointSlices and requests
through the service proxy."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import httpx
from rollout_helpers import (
    GATED_SELECTOR,
    GateWorld,
    GiveUp,
    StartOperator,
    chat_deployment,
    chat_service,
    gate,
    gate_spec,
    history_reasons,
    metric_samples,
    metric_value,
    pod_version,
    step_endpoints,
    template_version,
    wait_until,
)

from deploymentgate.k8s.builders import ROLE_LABEL, ROLE_SERVING, ROLE_VERIFY

REPLICAS = 4
STEPS = [25, 50, 100]
SPEC = gate_spec(traffic={"steps": STEPS, "stepDuration": "8s", "progressDeadline": "90s"})


def share(counts: Counter[str], version: str) -> float:
    total = sum(counts.values())
    return counts[version] / total if total else 0.0


def sample_while_verifying(world: GateWorld) -> tuple[Counter[str], set[str]]:
    """Traffic through the proxy in small batches, each counted only if the gate was
    Verifying before and after it; and what the verification pod answered when
    asked directly (by pod IP) while the gate was Verifying. A thread asks it every
    0.1 s: a verification can pass within 2 s, shorter than a batch on a loaded
    machine. A pod not answering yet (still starting) says nothing."""
    seen: Counter[str] = Counter()
    direct: set[str] = set()
    stop = threading.Event()

    def ask_verification_pods() -> None:
        while not stop.is_set():
            if world.status().get("phase") == "Verifying":
                for pod in world.pods():
                    if _is_verification_pod(pod) and _has_ip(pod):
                        answer = _ask(pod)
                        if not answer.startswith("error:"):
                            direct.add(answer)
            stop.wait(0.1)

    asker = threading.Thread(target=ask_verification_pods, daemon=True)
    asker.start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            before = world.status().get("phase")
            batch = world.traffic(10)
            after = world.status().get("phase")
            if before == after == "Verifying":
                seen += batch
            elif {before, after} - {None, "Idle", "Verifying"}:
                break  # verification is over
    finally:
        stop.set()
        asker.join(10)
    return seen, direct


def serving_pods(world: GateWorld, version: str) -> set[str]:
    """Names of the live pods of the gate's serving Deployments running `version`."""
    return {
        p["metadata"]["name"]
        for p in world.pods()
        if p["metadata"]["labels"].get(ROLE_LABEL) == ROLE_SERVING and pod_version(p) == version
    }


def _is_verification_pod(pod: dict[str, Any]) -> bool:
    return pod["metadata"]["labels"].get(ROLE_LABEL) == ROLE_VERIFY


def _has_ip(pod: dict[str, Any]) -> bool:
    return bool((pod.get("status") or {}).get("podIP"))


def _ask(pod: dict[str, Any]) -> str:
    url = f"http://{pod['status']['podIP']}:8000/api/chat"
    try:
        response = httpx.get(url, timeout=3.0, trust_env=False)
        if response.status_code != 200:  # still starting
            return f"error:{response.status_code}"
        return str(response.json().get("version"))
    except (httpx.HTTPError, ValueError) as exc:
        return f"error:{type(exc).__name__}"


def wait_step(world: GateWorld, index: int, weight: int) -> None:
    """Until step `index` is in effect (its canary pods ready); fail if it went by."""

    def in_effect() -> bool:
        st = world.status()
        if st.get("phase") in ("Promoting", "Promoted", "RolledBack", "Blocked"):
            raise GiveUp(f"gate left step {index + 1} unobserved: {st}")
        return (
            st.get("phase") == "Progressing"
            and st.get("step") == index
            and bool(st.get("stepReadySince"))
            and st.get("canaryWeight") == weight
        )

    wait_until(in_effect, 60, describe=world.diagnostics, what=f"step {index + 1} ({weight}%)")


def test_good_version_is_verified_stepped_through_the_service_and_promoted(
    world: GateWorld, start_operator: StartOperator
) -> None:
    world.apply(chat_deployment(version="v1", replicas=REPLICAS), chat_service())
    operator = start_operator(world.namespace)
    world.apply(gate(SPEC))

    idle = world.wait_phase("Idle", 60)
    # The team's Deployment goes to 0 in the pass that writes Idle, right after it.
    wait_until(lambda: world.replicas("chat") == 0, 10, what="the team's Deployment at 0")
    # v1 now runs in the gate's own `chat-<revision>`, the only pods the Service selects.
    assert world.serving_versions() == {"v1": REPLICAS}
    assert world.serving_of(idle["stableRevision"]) is not None
    assert world.service_selector() == GATED_SELECTOR
    world.wait_endpoints(v1=REPLICAS)
    assert world.traffic(40) == Counter(v1=40)

    world.set_version("v2")
    during, verification_answers = sample_while_verifying(world)
    assert sum(during.values()) >= 20, f"too little traffic sampled while Verifying: {during}"
    assert set(during) == {"v1"}, f"traffic reached something but v1 while Verifying: {during}"
    # ... while the new revision was up and answering, just not to users.
    assert verification_answers == {"v2"}, verification_answers

    v2_pods: set[str] = set()
    for index, weight in enumerate(STEPS):
        wait_step(world, index, weight)
        world.wait_endpoints(5, **step_endpoints(REPLICAS, weight))
        counts = world.traffic(60)
        status = world.status()
        assert status.get("step") == index and status.get("phase") == "Progressing", (
            "the step ended while its traffic was being measured; lengthen stepDuration"
        )
        assert set(counts) <= {"v1", "v2"}, f"failed requests at {weight}%: {counts}"
        assert abs(share(counts, "v2") - weight / 100) <= 0.12, f"at {weight}%: {counts}"
        if weight < 100:
            assert counts["v1"] and counts["v2"], f"both versions should serve at {weight}%"
        v2_pods = serving_pods(world, "v2")

    status = world.wait_phase("Promoted", 60)
    serving = world.serving_of(status["revision"])
    assert serving is not None and template_version(serving) == "v2"
    assert world.replicas("chat") == 0
    assert status["canaryWeight"] == 100 and status["stableRevision"] == status["revision"]
    world.wait_endpoints(v2=REPLICAS)
    assert world.traffic(60) == Counter(v2=60)
    # Promotion restarted nothing: the pods that served v2 at 100% still do, and
    # the old stable's Deployment is gone.
    promoted_pods = serving_pods(world, "v2")
    assert promoted_pods == v2_pods and len(v2_pods) == REPLICAS, (v2_pods, promoted_pods)
    wait_until(
        lambda: world.serving_versions() == {"v2": REPLICAS},
        30,
        describe=world.diagnostics,
        what="only the v2 serving Deployment left",
    )
    assert world.service_selector() == GATED_SELECTOR

    reasons = history_reasons(status)
    shifted = [h["message"] for h in status["history"] if h["reason"] == "TrafficShifted"]
    assert [m.split("%")[0] for m in shifted] == [str(w) for w in STEPS], shifted
    assert reasons[-1] == "Promoted"
    labels = {"namespace": world.namespace, "gate": "chat"}
    metrics = operator.metrics()
    assert metric_value(metrics, "deploymentgate_gate_phase", **labels, phase="Promoted") == 1
    assert metric_value(metrics, "deploymentgate_canary_weight_percent", **labels) == 100
    assert metric_samples(metrics, "deploymentgate_rollbacks_total", **labels) == []
    events = [e["reason"] for e in world.events_once("Promoted")]
    for reason in (
        "Adopted",
        "RevisionDetected",
        "VerificationStarted",
        "TrafficShifted",
        "Promoted",
    ):
        assert reason in events, events
