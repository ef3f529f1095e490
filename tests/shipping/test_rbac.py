"""The operator runs under exactly the chart's RBAC, not as cluster-admin.

The chart is rendered with the real `helm template`; its ServiceAccount,
roles, bindings and peering object are applied; the operator runs with that
ServiceAccount's token through a recording proxy, through a rollout that is
promoted (after its smoke-test Job passed), one that is rolled back, and the
gate's deletion. Then:

- no call was refused (proxy record, the operator's log, and the API server's
  own 403 counters for the resources only the operator touches);
- every verb of every rule the chart grants was used by at least one call the
  API server authorized. Since nothing else grants the ServiceAccount these
  permissions, dropping any one of them would refuse a call the operator made:
  each rule is needed, and the recorded calls are the proof.

Gate watch events reach the operator 1 s late (a slow watch), so its status
writes race kopf's own patches and take the conflict path (409, re-read): a
path a fast sandbox would only hit by luck.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from api_recorder import ApiRecorder
from chart_install import InstallFn
from chat_app import (
    apply,
    chat_objects,
    delete_gate,
    gate_events,
    gate_status,
    set_env,
    set_image,
    wait_phase,
)
from operator_group import Operators
from rbac_usage import operator_only_403s, refusals_in_log, refused_calls, unused_grants

from deploymentgate_devkit.sandbox import Sandbox

Values = Callable[[str], dict[str, Any]]
SCOPES: dict[str, tuple[Values, str]] = {
    # values for the gate's namespace -> (chart values, image of the rejected revision)
    "listed-namespace": (lambda ns: {"watchNamespaces": [ns]}, "chat-backend:errors-8pct"),
    "all-namespaces": (lambda ns: {}, "chat-backend:startup-fails"),
}


GOOD_IMAGE = "chat-backend:healthy"  # the image of chat_objects()' Deployment


def api_server_403s(cluster: Sandbox) -> float:
    return operator_only_403s(cluster.kubectl("get", "--raw", "/metrics").stdout)


def promote_then_roll_back(cluster: Sandbox, namespace: str, bad_image: str) -> list[str]:
    """v1 adopted, v2 promoted, a bad image rolled back; the Event reasons seen."""
    idle = wait_phase(cluster, namespace, "chat", "Idle", timeout=60)
    set_env(cluster, namespace, "chat", APP_VERSION="v2")
    promoted = wait_phase(
        cluster, namespace, "chat", "Promoted", timeout=90, revision_not=idle["stableRevision"]
    )
    # In its watch after promotion, v1's pods parked; an abort reverts to them
    # (their serving label patched back, v2 scaled away), then v2 is shipped again.
    revision = promoted["revision"]
    cluster.kubectl(
        "annotate", "-n", namespace, "deploymentgate", "chat",
        f"rollout.deploymentgate.dev/abort={revision}/rbac",
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while gate_status(cluster, namespace, "chat").get("stableRevision") != idle["stableRevision"]:
        assert time.monotonic() < deadline, gate_status(cluster, namespace, "chat")
        time.sleep(0.25)
    set_image(cluster, namespace, "chat", bad_image)
    wait_phase(
        cluster, namespace, "chat", "RolledBack", timeout=90, revision_not=promoted["revision"]
    )
    # The team puts its last good image back, as it would after a rollback: the
    # hand-back on deletion gives the Deployment back as written and waits for
    # its pods to be ready before the Service selects them: with a template whose
    # pods never get ready, the deletion waits until the team fixes it.
    set_image(cluster, namespace, "chat", GOOD_IMAGE)
    return [e["reason"] for e in gate_events(cluster, namespace, "chat")]


@pytest.mark.parametrize("scope", list(SCOPES))
def test_operator_under_the_charts_rbac_promotes_rolls_back_and_uses_every_rule(
    cluster: Sandbox,
    namespace: str,
    chart_identity: InstallFn,
    api_recorder: ApiRecorder,
    operators: Operators,
    tmp_path: Path,
    scope: str,
) -> None:
    values, bad_image = SCOPES[scope]
    install = chart_identity(values(namespace))
    user, token = install.credentials()
    kubeconfig = api_recorder.kubeconfig(tmp_path / "operator.kubeconfig", user, token)
    api_recorder.watch_lag["deploymentgates"] = 1.0
    refused_before = api_server_403s(cluster)

    # With a smoke test (its Jobs and their pods' logs are part of what is granted),
    # the team's HPA (the gate's copy of it is created, moved and deleted) and the
    # watch after promotion (v1's pods parked: their serving label patched off).
    # Steps 25 -> 100 of 2 replicas: the canary starts at 1 pod and is scaled to 2
    # (a 50% step of 2 would create it at full size: patching Deployments would
    # then hang on whether an eviction scaled or removed, a race).
    apply(
        cluster, namespace,
        chat_objects(steps=(25, 100), smoke=True, autoscaler=True, watch=True),
    )  # fmt: skip  # pods start while the operator does
    operator = operators.start("main", kubeconfig, install.operator_args, serves=[namespace])
    reasons = promote_then_roll_back(cluster, namespace, bad_image)
    delete_gate(cluster, namespace, "chat", timeout=60)
    operator.stop()  # its last calls (leaving the peering) are recorded too

    calls = api_recorder.calls()
    assert {"TrafficShifted", "Promoted", "RolledBack"} <= set(reasons), reasons
    refused = refused_calls(calls)
    assert not refused, "the API server refused the operator:\n" + "\n".join(map(str, refused))
    assert not refusals_in_log(operator.log())
    assert api_server_403s(cluster) == refused_before
    unused = unused_grants(install.rules(), calls)
    assert not unused, (
        f"the chart grants {install.user} more than the operator used; prune:\n" + "\n".join(unused)
    )
