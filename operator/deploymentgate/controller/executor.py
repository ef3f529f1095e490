"""Carry out the core's workload actions against the API server.

Each action maps to one idempotent call; the core re-emits anything a crash
or a failed call lost, so nothing here retries or remembers. The gate's own
Deployments are found in the indexes at the moment of acting and written
only with their uid and the gate's controller reference as preconditions
(k8s/api.py): an object the gate does not own is never scaled, converged or
deleted, whatever the action says.
"""

from __future__ import annotations

import contextlib
from typing import Any

from deploymentgate.controller.identity import GateIdentity
from deploymentgate.controller.observe import serving_deployments, serving_pods, smoke_jobs
from deploymentgate.controller.routers import adapter_of_action
from deploymentgate.controller.workloads import DeploymentInfo
from deploymentgate.controller.world import World
from deploymentgate.core import (
    Action,
    EnsureAutoscaler,
    EnsureServing,
    EnsureSmokeJob,
    EnsureVerification,
    GateService,
    ParkServing,
    RemoveAutoscaler,
    RemoveServing,
    RemoveSmokeJob,
    RemoveVerification,
    RevertTarget,
    RouterAction,
    ScaleServing,
    ScaleTarget,
)
from deploymentgate.k8s.api import Conflict, KubeApi, NotFound, NotOwned
from deploymentgate.k8s.builders import (
    autoscaler_name,
    build_autoscaler,
    build_serving,
    build_smoke_job,
    build_verification,
    controller_uid,
    serving_name,
    serving_selector,
    verify_name,
)


class Executor:
    def __init__(self, api: KubeApi) -> None:
        self.api = api

    async def apply(self, action: Action, *, gate: GateIdentity, world: World) -> None:
        """Carry out `action` for `gate` (parsed once, at the pass's entry)."""
        me = gate
        target = _require(me.target, "spec.targetRef.name")
        match action:
            case EnsureServing(revision=revision, template=template, replicas=replicas):
                body = build_serving(me.owner, target, template, revision, replicas)
                await self._ensure(me, world, body)
            case ScaleServing(revision=revision, replicas=replicas):
                info = _serving(me, world, revision)
                if info is None:
                    raise NotFound(404, f"gate {me.name} has no Deployment serving {revision}")
                await self.api.scale_owned_deployment(
                    me.namespace, info.name, replicas, uid=info.uid, gate_uid=me.uid
                )
            case ParkServing(revision=revision, parked=parked):
                await self._park(me, world, revision, parked)
            case RemoveServing(revision=revision):
                info = _serving(me, world, revision)
                if info is not None:  # already gone: done
                    await self._delete(me, info)
            case ScaleTarget(replicas=replicas):
                await self.api.scale_deployment(me.namespace, target, replicas)
            case GateService(gated=gated):
                key, value = serving_selector(me.name)
                service = _require(me.service, "spec.service")
                await self.api.set_service_selector_key(
                    me.namespace, service, key, value if gated else None
                )
            case EnsureVerification(revision=revision, template=template, replicas=replicas):
                body = build_verification(me.owner, target, template, revision, replicas)
                await self._ensure(me, world, body)
            case RemoveVerification():
                info = world.deployment(me.namespace, verify_name(target))
                if info is not None:
                    await self._delete(me, info)
            case EnsureSmokeJob(
                revision=revision,
                url=url,
                template=template,
                timeout_seconds=timeout,
                url_env=url_env,
            ):
                body = build_smoke_job(
                    me.owner, target, revision, url=url, template=template,
                    timeout_seconds=timeout, url_env=url_env,
                )  # fmt: skip
                await self._create_job(me, body)
            case RemoveSmokeJob(revision=revision):
                job = smoke_jobs(me, world).get(revision)
                if job is not None:  # already gone: done
                    if not job.owned_by(me.uid):
                        raise NotOwned(f"Job {job.name} is not owned by gate {me.name}")
                    with contextlib.suppress(NotFound):
                        await self.api.delete_owned_job(me.namespace, job.name, uid=job.uid)
            case EnsureAutoscaler(revision=revision, spec=hpa_spec):
                body = build_autoscaler(me.owner, target, revision, hpa_spec)
                existing = world.autoscaler(me.namespace, autoscaler_name(target))
                if existing is None:
                    await self.api.create_autoscaler(body)
                else:
                    if not existing.owned_by(me.uid):
                        raise NotOwned(
                            f"HPA {existing.name} exists and is not owned by gate {me.name}"
                        )
                    await self.api.converge_owned_autoscaler(
                        body, uid=existing.uid, gate_uid=me.uid
                    )
            case RemoveAutoscaler():
                existing = world.autoscaler(me.namespace, autoscaler_name(target))
                if existing is not None and existing.owned_by(me.uid):
                    with contextlib.suppress(NotFound):
                        await self.api.delete_owned_autoscaler(
                            me.namespace, existing.name, uid=existing.uid
                        )
            case RevertTarget(template=template):
                await self.api.set_deployment_template(me.namespace, target, dict(template))
            case RouterAction():
                adapter = adapter_of_action(action)
                await adapter.apply(self.api, action, me=me, world=world)
            case _:
                raise TypeError(f"not a workload action: {action!r}")

    async def _ensure(self, me: GateIdentity, world: World, body: dict[str, Any]) -> None:
        """Create when absent; converge only an object this gate controls."""
        name = body["metadata"]["name"]
        existing = world.deployment(me.namespace, name)
        if existing is None:
            await self.api.create_deployment(body)
            return
        _check_owned(me, existing)
        await self.api.converge_owned_deployment(body, uid=existing.uid, gate_uid=me.uid)

    async def _park(self, me: GateIdentity, world: World, revision: str, parked: bool) -> None:
        """Take the serving key off (or put it back on) each running pod of the
        gate's serving Deployment of `revision` that differs; a pod gone is done."""
        info = _serving(me, world, revision)
        if info is None:
            return
        key, value = serving_selector(me.name)
        for pod in serving_pods(world, me, revision, info.name):
            if (key in pod.labels) == parked:
                with contextlib.suppress(NotFound):
                    await self.api.set_pod_label(
                        me.namespace, pod.name, key, None if parked else value, uid=pod.uid
                    )

    async def _create_job(self, me: GateIdentity, body: dict[str, Any]) -> None:
        """Create; a name already taken is fine when the Job there is the gate's
        own (the index had not seen it yet), never when it is anyone else's."""
        name = body["metadata"]["name"]
        try:
            await self.api.create_job(body)
        except Conflict:
            live = await self.api.read_job(me.namespace, name)
            if controller_uid(live.get("metadata") or {}) != me.uid:
                raise NotOwned(f"Job {name} exists and is not owned by gate {me.name}") from None

    async def _delete(self, me: GateIdentity, info: DeploymentInfo) -> None:
        _check_owned(me, info)
        with contextlib.suppress(NotFound):  # gone already: what was asked
            await self.api.delete_owned_deployment(me.namespace, info.name, uid=info.uid)


def _serving(me: GateIdentity, world: World, revision: str) -> DeploymentInfo | None:
    """The owned Deployment whose template hashes to `revision` (its name is a
    convention; its template is its identity)."""
    _, serving = serving_deployments(me, world)
    info = serving.get(revision)
    if info is None and me.target is not None:
        named = world.deployment(me.namespace, serving_name(me.target, revision))
        if named is not None and named.owned_by(me.uid):
            return named
    return info


def _check_owned(me: GateIdentity, info: DeploymentInfo) -> None:
    if not info.owned_by(me.uid):
        raise NotOwned(f"Deployment {info.name} exists and is not owned by gate {me.name}")


def _require(value: str | None, field: str) -> str:
    if value is None:
        raise LookupError(f"{field} is not set; nothing to act on")
    return value
