"""Two operator replicas, as the chart runs them with `replicas: 2`: kopf
peering lets one act, and the other takes over when it dies.

Both replicas run `deploymentgate run` with the chart's arguments
(`--peering=<release>`), RBAC and KopfPeering, and distinct POD_NAMEs, from
which the operator derives each replica's peering priority. They start in the
order of a rolling update: the running replica acts until a replica of higher
priority arrives, then stands by; that one dies mid-rollout, and the first
must finish the rollout it never saw begin.

They reach the API server through the recording proxy, which answers a list
of Deployments 3 s late from the moment both are up, as a cluster with very
many Deployments would: a standby that resumes must not act on what it knew
before it paused while its fresh list is still on the way.
"""

from __future__ import annotations

import time
from pathlib import Path

from api_recorder import ApiRecorder
from chart_install import InstallFn
from chat_app import apply, chat_objects, gate_events, set_env, wait_phase
from operator_group import Operators, metric_value

from deploymentgate_devkit.sandbox import Sandbox
from deploymentgate_devkit.testing import OperatorProcess

# POD_NAMEs of the two replicas; the operator's priorities for them are 109
# and 9143, so the one started first ends up the standby.
FIRST, SECOND = "deploymentgate-b", "deploymentgate-a"
RECONCILES = "deploymentgate_reconciles_total"
# kopf's peering lifetime (settings.peering.lifetime, 60 s by default): a
# replica that dies without a word is presumed dead once its last keep-alive
# is that old. Plus a few seconds for the standby to notice.
PEER_LIFETIME = 60.0
TAKEOVER_SLACK = 15.0


def reconciles(process: OperatorProcess) -> float:
    return metric_value(process, RECONCILES) or 0.0


def wait_log(process: OperatorProcess, text: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in process.log():
        assert time.monotonic() < deadline, f"{text!r} not logged:\n{process.log()[-3000:]}"
        time.sleep(0.1)


def revision_events(cluster: Sandbox, namespace: str, reason: str, revision: str) -> list[str]:
    return [
        e["message"]
        for e in gate_events(cluster, namespace, "chat")
        if e["reason"] == reason and revision in e["message"]
    ]


def test_two_replicas_only_one_acts_and_the_standby_finishes_a_rollout_when_it_dies(
    cluster: Sandbox,
    namespace: str,
    chart_identity: InstallFn,
    api_recorder: ApiRecorder,
    operators: Operators,
    tmp_path: Path,
) -> None:
    install = chart_identity({"watchNamespaces": [namespace], "replicas": 2})
    user, token = install.credentials()
    kubeconfig = api_recorder.kubeconfig(tmp_path / "operator.kubeconfig", user, token)

    def start(pod_name: str) -> OperatorProcess:
        return operators.start(
            pod_name,
            kubeconfig,
            install.operator_args,
            serves=[namespace],
            env={"POD_NAME": pod_name},
        )

    standby = start(FIRST)
    wait_log(standby, "Resuming operations")  # alone: it acts
    leader = start(SECOND)
    wait_log(standby, "Pausing operations in favour of")  # a higher priority arrived
    api_recorder.answer_delay[("list", "deployments")] = 3.0

    # A rollout with both replicas up: exactly one of them does the work.
    apply(cluster, namespace, chat_objects(steps=(50, 100)))
    idle = wait_phase(cluster, namespace, "chat", "Idle", timeout=60)
    set_env(cluster, namespace, "chat", APP_VERSION="v2")
    v2 = wait_phase(
        cluster, namespace, "chat", "Promoted", timeout=90, revision_not=idle["stableRevision"]
    )
    assert reconciles(leader) > 0
    assert reconciles(standby) == 0
    shifted = revision_events(cluster, namespace, "TrafficShifted", v2["revision"])
    assert len(shifted) == 2 and len(set(shifted)) == 2, shifted  # 50% then 100%, once each
    assert len(revision_events(cluster, namespace, "Promoted", v2["revision"])) == 1

    # The next rollout loses its leader half-way (SIGKILL: no goodbye to its peers).
    set_env(cluster, namespace, "chat", APP_VERSION="v3")
    wait_phase(cluster, namespace, "chat", "Progressing", timeout=60, revision_not=v2["revision"])
    leader.kill()
    killed_at = time.monotonic()
    deadline = killed_at + PEER_LIFETIME + TAKEOVER_SLACK
    while reconciles(standby) == 0:
        assert time.monotonic() < deadline, "the standby never took over"
        time.sleep(0.2)
    print(f"the standby took over {time.monotonic() - killed_at:.1f}s after the leader died")

    v3 = wait_phase(cluster, namespace, "chat", "Promoted", timeout=60, revision_not=v2["revision"])
    shifted = revision_events(cluster, namespace, "TrafficShifted", v3["revision"])
    assert len(shifted) == len(set(shifted)), f"a traffic step was announced twice: {shifted}"
    warnings = [
        f"{e['reason']}: {e['message']}"
        for e in gate_events(cluster, namespace, "chat")
        if e["type"] == "Warning"
    ]
    assert not warnings, f"the takeover disturbed the rollout: {warnings}"
