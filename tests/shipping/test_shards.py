"""Two shards, as the chart runs them with `shards:` (issue 13, goal 7): each
operator serves only its own namespaces, under the chart's RBAC and its own
peering object, and neither pauses the other.

Both run `deploymentgate run` with the arguments the chart renders for its
shard, under the chart's ServiceAccount, at once; each adopts the gate of its
namespace, and neither reports the other's gate.
"""

from __future__ import annotations

from pathlib import Path

from api_recorder import ApiRecorder
from chart_install import InstallFn
from chat_app import apply, chat_objects, wait_phase
from operator_group import Operators, metric_value
from rbac_usage import refused_calls

from deploymentgate_devkit.sandbox import Sandbox

PHASE = "deploymentgate_gate_phase"


def test_two_shards_each_adopt_the_gates_of_their_own_namespaces(
    cluster: Sandbox,
    namespace: str,
    chart_identity: InstallFn,
    api_recorder: ApiRecorder,
    operators: Operators,
    tmp_path: Path,
) -> None:
    other = cluster.create_namespace()
    try:
        shards = [{"name": "a", "namespaces": [namespace]}, {"name": "b", "namespaces": [other]}]
        install = chart_identity({"shards": shards, "replicas": 2})
        user, token = install.credentials()
        kubeconfig = api_recorder.kubeconfig(tmp_path / "operator.kubeconfig", user, token)
        assert set(install.shard_args) == {"a", "b"}
        started = {
            shard: operators.start(
                f"shard-{shard}",
                kubeconfig,
                install.shard_args[shard],
                serves=[ns],
                env={"POD_NAME": f"deploymentgate-{shard}-0"},
            )
            for shard, ns in (("a", namespace), ("b", other))
        }
        for ns in (namespace, other):
            apply(cluster, ns, chat_objects(replicas=1))
        for ns in (namespace, other):
            wait_phase(cluster, ns, "chat", "Idle", timeout=60)

        served = {(namespace, "a"), (other, "b")}
        for ns in (namespace, other):
            for shard, process in started.items():
                idle = metric_value(process, PHASE, namespace=ns, gate="chat", phase="Idle")
                if (ns, shard) in served:
                    assert idle == 1.0, f"shard {shard} does not report {ns}/chat Idle"
                else:
                    assert idle is None, f"shard {shard} reports {ns}/chat, not its namespace"
        for shard, process in started.items():
            assert "Pausing operations" not in process.log(), f"shard {shard} was paused"
        refused = refused_calls(api_recorder.calls())
        assert not refused, "the API server refused a shard:\n" + "\n".join(map(str, refused))
    finally:
        operators.release_gates()
        cluster.delete_namespace(other)
