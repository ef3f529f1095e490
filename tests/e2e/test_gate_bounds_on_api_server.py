"""The CRD's bounds and immutable fields, as the real kube-apiserver enforces them.

Issue 9: `stepDuration: 99999999999h` passed the CRD and crashed every
reconcile; a changed `targetRef` silently re-pointed a gate at another
Deployment. Both are now refused at `kubectl apply`, with a message that says
what to do.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from rollout_helpers import gate

from deploymentgate_devkit.sandbox import Sandbox

pytestmark = pytest.mark.timeout(120)

SPEC: dict[str, Any] = {"targetRef": {"name": "chat"}, "service": "chat"}


def _apply(
    cluster: Sandbox, namespace: str, spec: dict[str, Any], name: str = "chat"
) -> tuple[bool, str]:
    body = gate(spec, name)
    body["metadata"]["namespace"] = namespace
    result = cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(body), check=False)
    return result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("traffic", "said"),
    [
        ({"stepDuration": "99999999999h"}, "spec.traffic.stepDuration"),
        ({"stepDuration": "169h"}, "must be at most 168h"),
        ({"progressDeadline": "8d"}, "spec.traffic.progressDeadline"),
    ],
    ids=["overflow", "over-a-week", "no-days-unit"],
)
def test_an_out_of_range_duration_is_refused_at_apply(
    cluster: Sandbox, gate_crd: str, namespace: str, traffic: dict[str, Any], said: str
) -> None:
    ok, stderr = _apply(cluster, namespace, {**SPEC, "traffic": traffic})
    assert not ok and said in stderr, stderr
    listed = cluster.kubectl("get", "deploymentgates", "-n", namespace, "-o", "name").stdout
    assert listed.strip() == ""


def test_probe_timings_beyond_an_hour_and_below_the_floor_are_refused(
    cluster: Sandbox, gate_crd: str, namespace: str
) -> None:
    ok, stderr = _apply(cluster, namespace, {**SPEC, "probes": {"health": {"interval": "61m"}}})
    assert not ok and "spec.probes.health.interval" in stderr and "at most 1h" in stderr, stderr
    ok, stderr = _apply(cluster, namespace, {**SPEC, "probes": {"health": {"interval": "50ms"}}})
    assert not ok and "must be at least 100ms" in stderr, stderr
    ok, stderr = _apply(cluster, namespace, {**SPEC, "probes": {"health": {"interval": "1h"}}})
    assert ok, stderr


def test_the_smoke_template_is_kept_whole_and_its_timeout_is_bounded(
    cluster: Sandbox, gate_crd: str, namespace: str
) -> None:
    pod = {
        "metadata": {"labels": {"team": "chat"}},
        "spec": {
            "serviceAccountName": "smoke",
            "containers": [{"name": "smoke", "image": "curl", "args": ["$(SMOKE_URL)/health"]}],
        },
    }
    ok, stderr = _apply(
        cluster, namespace, {**SPEC, "probes": {"smoke": {"template": pod, "timeout": "2h"}}}
    )
    assert not ok and "spec.probes.smoke.timeout" in stderr and "at most 1h" in stderr, stderr
    empty: dict[str, Any] = {"spec": {"containers": []}}
    ok, stderr = _apply(cluster, namespace, {**SPEC, "probes": {"smoke": {"template": empty}}})
    assert not ok and "spec.probes.smoke.template.spec.containers" in stderr, stderr
    ok, stderr = _apply(cluster, namespace, {**SPEC, "probes": {"smoke": {"template": pod}}})
    assert ok, stderr
    stored = json.loads(
        cluster.kubectl("get", "deploymentgate", "chat", "-n", namespace, "-o", "json").stdout
    )
    assert stored["spec"]["probes"]["smoke"]["template"] == pod  # nothing pruned


def test_names_are_dns_labels_and_the_gate_name_fits_a_label(
    cluster: Sandbox, gate_crd: str, namespace: str
) -> None:
    ok, stderr = _apply(cluster, namespace, {**SPEC, "targetRef": {"name": "Chat_App"}})
    assert not ok and "spec.targetRef.name" in stderr, stderr
    ok, stderr = _apply(cluster, namespace, {**SPEC, "service": "s" * 64})
    assert not ok and "spec.service" in stderr, stderr
    ok, stderr = _apply(cluster, namespace, SPEC, name="g" * 64)
    assert not ok and "metadata.name: Too long" in stderr, stderr
    ok, stderr = _apply(cluster, namespace, SPEC, name="g" * 63)
    assert ok, stderr


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"targetRef": {"name": "email"}}, "targetRef"),
        ({"service": "email"}, "service"),
    ],
)
def test_target_and_service_cannot_change_after_creation(
    cluster: Sandbox, gate_crd: str, namespace: str, change: dict[str, Any], field: str
) -> None:
    ok, stderr = _apply(cluster, namespace, SPEC)
    assert ok, stderr
    ok, stderr = _apply(cluster, namespace, {**SPEC, **change})
    assert not ok, "the change was accepted"
    assert f"{field} is immutable" in stderr, stderr
    assert "delete the gate and create it again" in stderr, stderr
    # Every other field stays editable.
    ok, stderr = _apply(cluster, namespace, {**SPEC, "traffic": {"stepDuration": "5m"}})
    assert ok, stderr
    stored = json.loads(
        cluster.kubectl("get", "deploymentgate", "chat", "-n", namespace, "-o", "json").stdout
    )
    assert stored["spec"]["targetRef"]["name"] == "chat" and stored["spec"]["service"] == "chat"


def test_a_stored_time_out_of_range_is_refused_in_the_status(
    cluster: Sandbox, gate_crd: str, namespace: str
) -> None:
    ok, stderr = _apply(cluster, namespace, SPEC)
    assert ok, stderr

    def patch_status(status: dict[str, Any]) -> tuple[bool, str]:
        result = cluster.kubectl(
            "patch",
            "deploymentgate",
            "chat",
            "-n",
            namespace,
            "--subresource=status",
            "--type=merge",
            "-p",
            json.dumps({"status": status}),
            check=False,
        )
        return result.returncode == 0, result.stderr

    ok, stderr = patch_status({"phase": "Verifying", "phaseSince": "9999-12-31T23:59:59Z"})
    assert not ok and "status.phaseSince" in stderr, stderr
    ok, stderr = patch_status({"phase": "Verifying", "step": 100})
    assert not ok and "status.step" in stderr, stderr
    ok, stderr = patch_status({"phase": "Verifying", "phaseSince": "2026-03-01T12:00:00Z"})
    assert ok, stderr
    # What the operator writes is within every bound (it once was not: an
    # int64 maximum made the API server refuse every status with a generation).
    ok, stderr = patch_status(FULL_STATUS)
    assert ok, stderr


T = "2026-03-01T12:00:00Z"
PROBE = {
    "ok": False,
    "message": "health: 503 in 12ms",
    "lastRun": T,
    "lastSuccess": T,
    "failingSince": T,
    "values": {"latency_ms": 12.5, "status_code": 503},
}
FULL_STATUS: dict[str, Any] = {
    "phase": "Progressing",
    "message": "step 2 of 3",
    "observedGeneration": 12,
    "target": "chat",
    "revision": "0123456789abcdef",
    "stableRevision": "fedcba9876543210",
    "step": 1,
    "canaryWeight": 50,
    "replicas": 4,
    "phaseSince": T,
    "stepSince": T,
    "stepReadySince": T,
    "frozen": False,
    "images": ["registry.example/chat:2"],
    "stableImages": ["registry.example/chat:1"],
    "probes": {"startup": PROBE, "health": PROBE, "websocket": PROBE, "errorRate": PROBE},
    "conditions": [
        {"type": "Ready", "status": "False", "reason": "Progressing", "lastTransitionTime": T}
    ],
    "history": [{"time": T, "revision": "0123456789abcdef", "phase": "Verifying", "reason": "New"}],
}
