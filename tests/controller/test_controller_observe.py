"""What a gate observes from the indexes: computed revisions, ownership by
reference, conflicts, one gate per Deployment/Service. Pure, no cluster."""

from __future__ import annotations

from typing import Any

from deploymentgate.controller.gate import GateIdentity, identity
from deploymentgate.controller.observe import observe
from deploymentgate.controller.pods import PodInfo, canary_pods, verification_pods
from deploymentgate.controller.workloads import (
    DeploymentInfo,
    GateRef,
    ServiceInfo,
    gate_claims,
    summarize_deployment,
    summarize_service,
)
from deploymentgate.controller.world import World
from deploymentgate.core.inputs import Conflict, ConflictCause, Holder, ServiceState
from deploymentgate.k8s.builders import (
    REVISION_LABEL,
    SERVING_LABEL,
    OwnerRef,
    build_serving,
    build_verification,
)
from deploymentgate.k8s.revision import template_revision
from deploymentgate.models import GateStatus

NOT_OWNED = ConflictCause.NOT_OWNED

NS = "shop"


def gate_body(
    name: str = "chat", uid: str = "uid-chat", created: str = "2026-01-01T00:00:00Z"
) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": NS, "uid": uid, "creationTimestamp": created},
        "spec": {"targetRef": {"kind": "Deployment", "name": "chat"}, "service": "chat"},
    }


def owner_of(gate: dict[str, Any]) -> OwnerRef:
    """What the builders know of a gate: as the pass parses it."""
    return identity(gate).owner


def template(image: str) -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": "chat"}},
        "spec": {"containers": [{"name": "chat", "image": image}]},
    }


def team(image: str = "chat:v1", replicas: int = 4) -> dict[str, Any]:
    return {
        "metadata": {"name": "chat", "namespace": NS, "uid": "uid-team", "generation": 1},
        "spec": {"replicas": replicas, "template": template(image)},
        "status": {"observedGeneration": 1, "readyReplicas": replicas},
    }


def created(body: dict[str, Any], uid: str) -> dict[str, Any]:
    """A built body as the API server would hold it."""
    body["metadata"]["uid"] = uid
    body["metadata"]["generation"] = 1
    body["status"] = {"observedGeneration": 1, "readyReplicas": body["spec"]["replicas"]}
    return body


def world_of(
    *deployments: dict[str, Any],
    selector: dict[str, str] | None = None,
    gates: tuple[dict[str, Any], ...] | list[dict[str, Any]] = (),
) -> World:
    infos = [summarize_deployment(d) for d in deployments]
    owned: dict[str, list[str]] = {}
    for info in infos:
        if info.owner_uid:
            owned.setdefault(info.owner_uid, []).append(info.name)
    claims: dict[Any, list[GateRef]] = {}
    for body in gates:
        for key, ref in gate_claims(NS, body).items():
            claims.setdefault(key, []).append(ref)
    services: dict[Any, list[ServiceInfo]] = {}
    if selector is not None:
        service = {"metadata": {"name": "chat", "namespace": NS}, "spec": {"selector": selector}}
        services[(NS, "chat")] = [summarize_service(service)]
    return World(
        deployments={(i.namespace, i.name): [i] for i in infos},
        owned=owned,
        services=services,
        claims=claims,
    )


def test_every_revision_is_computed_and_serving_is_keyed_by_it() -> None:
    g = gate_body()
    v1 = template_revision(template("chat:v1"))
    serving = created(build_serving(owner_of(g), "chat", template("chat:v1"), v1, 4), "uid-s1")
    # Someone edits the serving Deployment's image but not its labels or name:
    # it is no longer v1, whatever its revision label says.
    edited = created(build_serving(owner_of(g), "chat", template("chat:v1"), v1, 2), "uid-s2")
    edited["metadata"]["name"] = "chat-edited"
    edited["spec"]["template"]["spec"]["containers"][0]["image"] = "chat:evil"
    assert edited["spec"]["template"]["metadata"]["labels"][REVISION_LABEL] == v1
    obs = observe(identity(g), world_of(team("chat:v2"), serving, edited), GateStatus())
    v2 = template_revision(template("chat:v2"))
    evil = template_revision(edited["spec"]["template"])
    assert obs.target.revision == v2
    assert set(obs.serving) == {v1, evil}
    assert obs.serving[v1].replicas == 4 and obs.serving[v1].ready == 4
    assert not obs.verification.exists and not obs.conflicts and obs.held_by is None


def test_only_objects_controlled_by_this_gates_uid_are_its_own() -> None:
    g = gate_body()
    v2 = template_revision(template("chat:v2"))
    # The same name, built for a gate of the same name that was deleted and
    # recreated (another uid), and one with no ownerReference at all.
    stale = created(
        build_verification(owner_of(gate_body(uid="uid-old")), "chat", template("chat:v2"), v2),
        "x",
    )
    foreign = created(build_serving(owner_of(g), "chat", template("chat:v2"), v2, 1), "y")
    del foreign["metadata"]["ownerReferences"]
    obs = observe(identity(g), world_of(team("chat:v2"), stale, foreign), GateStatus(revision=v2))
    assert not obs.verification.exists and obs.serving == {}
    assert obs.conflicts == (
        Conflict(NOT_OWNED, "Deployment", NS, "chat-verify", "chat", owner_uid="uid-old"),
        Conflict(NOT_OWNED, "Deployment", NS, f"chat-{v2}", "chat", owner_uid=None),
    )
    assert [c.describe() for c in obs.conflicts] == [
        "Deployment chat-verify exists and is not owned by gate chat",
        f"Deployment chat-{v2} exists and is not owned by gate chat",
    ]


def test_a_target_that_is_some_gates_own_deployment_is_a_conflict() -> None:
    other = gate_body("other", uid="uid-other")
    v1 = template_revision(template("chat:v1"))
    owned = created(build_serving(owner_of(other), "chat", template("chat:v1"), v1, 1), "z")
    owned["metadata"]["name"] = "chat"
    obs = observe(identity(gate_body()), world_of(owned), GateStatus())
    assert obs.conflicts == (
        Conflict(ConflictCause.GATE_TARGET, "Deployment", NS, "chat", "chat", "uid-other"),
    )
    assert [c.describe() for c in obs.conflicts] == [
        "Deployment chat is controlled by a DeploymentGate, not written by a team"
    ]


def test_the_service_is_gated_only_by_this_gates_key() -> None:
    me = identity(gate_body())
    for selector, expected in (
        ({"app": "chat"}, ServiceState(exists=True, gated=False)),
        ({"app": "chat", SERVING_LABEL: "chat"}, ServiceState(exists=True, gated=True)),
        ({"app": "chat", SERVING_LABEL: "other"}, ServiceState(exists=True, gated=False)),
        (None, ServiceState(exists=False)),
    ):
        assert observe(me, world_of(team(), selector=selector), GateStatus()).service == expected


def test_the_oldest_gate_holds_then_the_first_name() -> None:
    first = gate_body("zeta", uid="u1", created="2026-01-01T00:00:00Z")
    later = gate_body("alpha", uid="u2", created="2026-01-01T00:00:05Z")
    tie = gate_body("beta", uid="u3", created="2026-01-01T00:00:00Z")
    world = world_of(team(), gates=[first, later])
    assert observe(identity(first), world, GateStatus()).held_by is None
    held = observe(identity(later), world, GateStatus()).held_by
    assert held == Holder(NS, "zeta", "u1")
    assert held.describe() == "gate zeta"
    world = world_of(team(), gates=[first, later, tie])
    assert observe(identity(first), world, GateStatus()).held_by == Holder(NS, "beta", "u3")
    # Naming only the same Service is enough.
    by_service = gate_body("svc", uid="u4", created="2026-02-01T00:00:00Z")
    by_service["spec"]["targetRef"]["name"] = "other"
    world = world_of(team(), gates=[first, by_service])
    assert observe(identity(by_service), world, GateStatus()).held_by == Holder(NS, "zeta", "u1")


def test_a_live_read_fills_what_the_index_has_not_seen() -> None:
    me = identity(gate_body())
    empty = World()
    assert not observe(me, empty, GateStatus()).target.exists
    live = empty.with_live(summarize_deployment(team()))
    assert observe(me, live, GateStatus()).target.exists
    assert empty.deployment(NS, "chat") is None, "with_live changed the original world"


def pod(name: str, owner: str, **labels: str) -> PodInfo:
    return PodInfo(
        name=name,
        namespace=NS,
        labels=dict(labels),
        ip="10.0.0.1",
        port=8000,
        ready=True,
        started_at=None,
        owner=owner,
        deleting=False,
    )


def test_pods_under_probe_carry_our_labels_and_belong_to_our_deployment() -> None:
    rev = "0123456789abcdef"
    ours = {
        "deploymentgate.dev/gate": "chat",
        "deploymentgate.dev/role": "verify",
        "deploymentgate.dev/revision": rev,
    }
    pods = [
        pod("good", "chat-verify-7d9f8", **ours),
        pod("copycat", "chat-5c6b7", **ours),  # the team's ReplicaSet, our labels copied
        pod("nested", "chat-verify-extra-5c6b7", **ours),
        pod("other-rev", "chat-verify-7d9f8", **{**ours, REVISION_LABEL: "f" * 16}),
    ]
    chosen = verification_pods(pods, gate="chat", revision=rev, deployment="chat-verify")
    assert [p.name for p in chosen] == ["good"]
    serving = {**ours, "deploymentgate.dev/role": "serving"}
    canaries = [pod("c", f"chat-{rev}-abcde", **serving), pod("t", "chat-abcde", **serving)]
    chosen = canary_pods(canaries, gate="chat", revision=rev, deployment=f"chat-{rev}")
    assert [p.name for p in chosen] == ["c"]


def test_identity_tolerates_a_spec_without_names() -> None:
    me = identity({"metadata": {"name": "g", "namespace": NS, "uid": "u"}, "spec": {}})
    assert me == GateIdentity(NS, "g", "u", None, None)
    assert observe(me, World(), GateStatus()).conflicts == ()


def test_summary_of_a_deployment_being_deleted_does_not_exist() -> None:
    body = team()
    body["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    info: DeploymentInfo = summarize_deployment(body)
    assert not info.state.exists and info.state.revision == template_revision(template("chat:v1"))


def test_owned_deployments_read_live_count_as_the_gates_own() -> None:
    """A standby that just took over may act before its index re-lists: the
    Deployments it reads live are checked for ownership like indexed ones."""
    g = gate_body()
    v1 = template_revision(template("chat:v1"))
    serving = created(build_serving(owner_of(g), "chat", template("chat:v1"), v1, 4), "uid-s1")
    theirs = created(
        build_serving(owner_of(gate_body(uid="uid-old")), "chat", template("chat:v1"), v1, 4),
        "o",
    )
    theirs["metadata"]["name"] = "chat-verify"
    stale = World()
    for body in (team(), serving, theirs):
        stale = stale.with_live(summarize_deployment(body))
    obs = observe(identity(g), stale, GateStatus(stable_revision=v1))
    assert set(obs.serving) == {v1} and obs.serving[v1].ready == 4
    assert [c.describe() for c in obs.conflicts] == [
        "Deployment chat-verify exists and is not owned by gate chat"
    ]
