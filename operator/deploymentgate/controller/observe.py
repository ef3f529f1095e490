"""What one gate sees of the cluster, as the pure core's `Observations`.

Trust rules, all applied here and nowhere else:
- every revision is the hash of a template (deploymentgate.k8s.revision);
- the gate's own objects are those whose controller ownerReference is this
  gate's uid; a name the gate would use, taken by anything else, is a
  conflict, and the gate touches nothing while one exists;
- one gate per Deployment and per Service: among the gates of a namespace
  naming the same ones, the oldest (creationTimestamp, then name) holds them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from deploymentgate.controller.identity import GateIdentity
from deploymentgate.controller.jobs import JobInfo
from deploymentgate.controller.pods import PodInfo, canary_pods
from deploymentgate.controller.routers import adapter_for
from deploymentgate.controller.workloads import DeploymentInfo, GateRef
from deploymentgate.controller.world import World
from deploymentgate.core.inputs import (
    ABSENT,
    NO_SERVICE,
    AutoscalerState,
    Conflict,
    ConflictCause,
    Holder,
    Observations,
    ServiceState,
)
from deploymentgate.k8s.builders import (
    SERVING_LABEL,
    autoscaler_name,
    serving_name,
    smoke_name,
    verify_name,
)
from deploymentgate.models import GateStatus
from deploymentgate.observations import WorkloadState


def serving_deployments(
    gate: GateIdentity, world: World
) -> tuple[DeploymentInfo | None, dict[str, DeploymentInfo]]:
    """The gate's owned `<target>-verify`, and its owned serving Deployments by
    the revision their template hashes to (not by name or label)."""
    verify = verify_name(gate.target) if gate.target else None
    verification: DeploymentInfo | None = None
    serving: dict[str, DeploymentInfo] = {}
    for info in world.owned_by(gate.namespace, gate.uid):
        if info.name == verify:
            verification = info
            continue
        revision = info.state.revision or ""
        # Two owned Deployments running one template: the one named for it counts.
        if revision in serving and gate.target and info.name != serving_name(gate.target, revision):
            continue
        serving[revision] = info
    return verification, serving


def serving_pods(world: World, gate: GateIdentity, revision: str, deployment: str) -> list[PodInfo]:
    """The live pods of the gate's serving Deployment `deployment` of `revision`
    (run by its own ReplicaSet), with or without the serving key."""
    return canary_pods(
        world.pods_of(gate.namespace, gate.label),
        gate=gate.label,
        revision=revision,
        deployment=deployment,
    )


def _with_pods(
    gate: GateIdentity, world: World, revision: str, info: DeploymentInfo
) -> WorkloadState:
    """`info`'s state with its pods counted: carrying the serving key, or parked."""
    pods = serving_pods(world, gate, revision, info.name)
    serving = sum(1 for p in pods if SERVING_LABEL in p.labels)
    return replace(info.state, pods_serving=serving, pods_parked=len(pods) - serving)


def not_owned(gate: GateIdentity, kind: str, name: str, owner_uid: str | None) -> Conflict:
    """`kind` `name`, a name the gate would use, is taken by an object it does not own."""
    return Conflict(ConflictCause.NOT_OWNED, kind, gate.namespace, name, gate.name, owner_uid)


def conflicts(
    gate: GateIdentity, world: World, revisions: Iterable[str | None]
) -> tuple[Conflict, ...]:
    """Each object in the gate's way."""
    if gate.target is None:
        return ()
    out: list[Conflict] = []
    target = world.deployment(gate.namespace, gate.target)
    if target is not None and target.owner_uid is not None:
        out.append(
            Conflict(
                ConflictCause.GATE_TARGET,
                "Deployment",
                gate.namespace,
                gate.target,
                gate.name,
                target.owner_uid,
            )
        )
    names = [verify_name(gate.target)]
    names += sorted({serving_name(gate.target, r) for r in revisions if r})
    for name in names:
        info = world.deployment(gate.namespace, name)
        if info is not None and not info.owned_by(gate.uid):
            out.append(not_owned(gate, "Deployment", name, info.owner_uid))
    if world.autoscalers_of(gate.namespace, gate.target):
        name = autoscaler_name(gate.target)
        scaler = world.autoscaler(gate.namespace, name)
        if scaler is not None and not scaler.owned_by(gate.uid):
            out.append(not_owned(gate, "HorizontalPodAutoscaler", name, scaler.owner_uid))
    adapter = adapter_for(gate.router)
    if adapter is not None:
        out += adapter.conflicts(gate, world)
    return tuple(out)


def autoscalers(
    gate: GateIdentity, world: World
) -> tuple[AutoscalerState | None, AutoscalerState | None]:
    """The team's HPA on the target Deployment (the first by name: the HPA
    controller itself refuses to act on a Deployment two HPAs scale), and the
    gate's own copy (at its name, controlled by this gate), each or None."""
    if gate.target is None:
        return None, None
    team = next((a for a in world.autoscalers_of(gate.namespace, gate.target)), None)
    own = world.autoscaler(gate.namespace, autoscaler_name(gate.target))
    mine = None
    if own is not None and own.owned_by(gate.uid):
        scaled = world.deployment(gate.namespace, own.state.target)
        ours = scaled is not None and scaled.owned_by(gate.uid)
        mine = replace(own.state, revision=scaled.state.revision if ours and scaled else None)
    return (team.state if team is not None else None), mine


def holder(claimants: Iterable[GateRef]) -> GateRef | None:
    return min(claimants, key=lambda g: g.seniority, default=None)


def held_by(gate: GateIdentity, world: World) -> Holder | None:
    """The older gate that names the same Deployment or Service, if any."""
    claims: list[GateRef] = []
    if gate.target:
        claims += world.claimants("deployment", gate.namespace, gate.target)
    if gate.service:
        claims += world.claimants("service", gate.namespace, gate.service)
    first = holder(claims)
    if first is None or first.uid == gate.uid:
        return None
    return Holder(gate.namespace, first.name, first.uid)


def service_state(gate: GateIdentity, world: World) -> ServiceState:
    info = world.service(gate.namespace, gate.service) if gate.service else None
    if info is None:
        return NO_SERVICE
    return ServiceState(exists=True, gated=info.selector.get(SERVING_LABEL) == gate.label)


def smoke_jobs(gate: GateIdentity, world: World) -> dict[str, JobInfo]:
    """The gate's own smoke-test Jobs by the revision they test: controlled by
    this gate and named for that revision (a label alone proves nothing)."""
    if gate.target is None:
        return {}
    out: dict[str, JobInfo] = {}
    for job in world.jobs_of(gate.namespace, gate.label):
        revision = job.revision
        ours = bool(revision) and job.owned_by(gate.uid)
        if not ours or job.name != smoke_name(gate.target, revision):
            continue
        if revision not in out or out[revision].state.deleting:
            out[revision] = job
    return out


def router_state(gate: GateIdentity, world: World, reads: object = None) -> object:
    """What the gate's router adapter makes of the cluster (None: it has none)."""
    adapter = adapter_for(gate.router)
    return adapter.observe(gate, world, reads) if adapter is not None else None


def _state(info: DeploymentInfo | None) -> WorkloadState:
    return info.state if info is not None else ABSENT


def observe(
    gate: GateIdentity,
    world: World,
    status: GateStatus,
    router_reads: object = None,
) -> Observations:
    """The workload part of a pass's Observations (the reconciler adds the rest);
    `router_reads`: what the router's adapter read live this pass (its `read`)."""
    target = world.deployment(gate.namespace, gate.target) if gate.target else None
    verification, serving = serving_deployments(gate, world)
    target_state = _state(target)
    revisions = (
        target_state.revision,
        status.revision,
        status.stable_revision,
        status.verified_revision,
    )
    team, own = autoscalers(gate, world)
    return Observations(
        target=target_state,
        serving={rev: _with_pods(gate, world, rev, info) for rev, info in serving.items()},
        verification=_state(verification),
        service=service_state(gate, world),
        conflicts=conflicts(gate, world, revisions),
        held_by=held_by(gate, world),
        router_state=router_state(gate, world, router_reads),
        smoke_jobs={rev: job.state for rev, job in smoke_jobs(gate, world).items()},
        autoscaler=team,
        own_autoscaler=own,
    )
