"""The reference chat backend behind a DeploymentGate, and the waits a user would do.

Numbers are the seed checklist's, shrunk so a whole rollout takes seconds:
phases of 0.1 s, 2 s per traffic step, a 5% error-rate trigger over 25+
requests.
"""

from __future__ import annotations

import json
import time
from typing import Any

import yaml

from deploymentgate_devkit.sandbox import Sandbox
from deploymentgate_devkit.testing import manifests
from deploymentgate_devkit.testing.smoke import smoke_template

GATES = "deploymentgates.rollout.deploymentgate.dev"


def chat_objects(
    name: str = "chat",
    *,
    replicas: int = 2,
    steps: tuple[int, ...] = (50, 100),
    step_duration: str = "2s",
    smoke: bool = False,
    autoscaler: bool = False,
    watch: bool = False,
) -> list[dict[str, Any]]:
    """Deployment, Service and DeploymentGate of one chat backend (`smoke`: with a
    smoke-test Job that GETs the verification pod's /health; `autoscaler`: with
    the team's HPA on the Deployment, its minimum the Deployment's replicas;
    `watch`: with the default watch after promotion)."""
    hpa = [manifests.chat_autoscaler(name, min_replicas=replicas)] if autoscaler else []
    return [
        manifests.chat_deployment(name, replicas=replicas),
        manifests.chat_service(name),
        *hpa,
        gate_object(name, steps=steps, step_duration=step_duration, smoke=smoke, watch=watch),
    ]


def gate_object(
    name: str,
    *,
    target: str | None = None,
    steps: tuple[int, ...] = (50, 100),
    step_duration: str = "2s",
    smoke: bool = False,
    watch: bool = False,
) -> dict[str, Any]:
    """`watch`: the default watch after promotion (the previous revision's pods
    parked until it ends, a new revision ending it)."""
    spec = manifests.fast_gate_spec(
        # The shipping tests judge RBAC, HA and shards, not latency: a probe
        # answer may wait out a machine's stall (one of 487 ms failed HA once).
        target or name,
        steps=steps,
        step_duration=step_duration,
        max_latency="1s",
    )
    # Likewise an event's latency (the seed's 100 ms: 163 ms failed HA on a loaded machine).
    spec["probes"]["websocket"]["maxEventLatency"] = "1s"
    if smoke:
        spec["probes"]["smoke"] = {"template": smoke_template("--path", "/health")}
    if watch:
        del spec["rollback"]["watchAfterPromotion"]
    return manifests.gate(name, spec)


def apply(cluster: Sandbox, namespace: str, objects: list[dict[str, Any]]) -> None:
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump_all(objects))


def gate_status(cluster: Sandbox, namespace: str, name: str) -> dict[str, Any]:
    out = cluster.kubectl("get", GATES, name, "-n", namespace, "-o", "json").stdout
    status: dict[str, Any] = json.loads(out).get("status") or {}
    return status


TERMINAL = frozenset({"Promoted", "RolledBack", "Blocked", "Invalid"})


def wait_phase(
    cluster: Sandbox,
    namespace: str,
    name: str,
    phase: str,
    *,
    timeout: float,
    revision_not: str | None = None,
) -> dict[str, Any]:
    """Wait for the gate to reach `phase` (for a revision other than `revision_not`).

    Another terminal phase for that revision ends the wait at once. Either way
    the message carries the gate's last status, for the reader.
    """
    deadline = time.monotonic() + timeout
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        status = gate_status(cluster, namespace, name)
        fresh = revision_not is None or status.get("revision") not in (None, revision_not)
        if fresh and status.get("phase") == phase:
            return status
        if fresh and status.get("phase") in TERMINAL - {phase}:
            break
        time.sleep(0.25)
    shown = {k: v for k, v in status.items() if k not in ("conditions", "probes")}
    raise AssertionError(
        f"gate {namespace}/{name} not {phase} within {timeout:.0f}s; last status:\n"
        + json.dumps(shown, indent=1)
        + "\nevents:\n"
        + "\n".join(
            f"  {e['reason']}: {e['message']}" for e in gate_events(cluster, namespace, name)
        )
    )


def set_env(cluster: Sandbox, namespace: str, deployment: str, **env: str) -> None:
    pairs = [f"{k}={v}" for k, v in env.items()]
    cluster.kubectl("set", "env", "-n", namespace, f"deploy/{deployment}", *pairs)


def set_image(cluster: Sandbox, namespace: str, deployment: str, image: str) -> None:
    cluster.kubectl("set", "image", "-n", namespace, f"deploy/{deployment}", f"chat={image}")


def gate_events(cluster: Sandbox, namespace: str, name: str) -> list[dict[str, Any]]:
    """core/v1 Events whose involved object is the gate, oldest first."""
    out = cluster.kubectl(
        "get",
        "events",
        "-n",
        namespace,
        "--field-selector",
        f"involvedObject.kind=DeploymentGate,involvedObject.name={name}",
        "-o",
        "json",
    ).stdout
    items: list[dict[str, Any]] = json.loads(out)["items"]
    return sorted(items, key=lambda e: e.get("eventTime") or e.get("firstTimestamp") or "")


def delete_gate(cluster: Sandbox, namespace: str, name: str, timeout: float = 30) -> None:
    """Delete the gate and wait until the operator has handed traffic back and let it go."""
    cluster.kubectl("delete", GATES, name, "-n", namespace, f"--timeout={int(timeout)}s")
