"""kopf wiring: indexes of what the gates look at, one loop per gate, and the
hand-back on deletion. Every rule is in `deploymentgate.core`."""

from __future__ import annotations

import asyncio
import logging
import os
import zlib
from collections.abc import Mapping
from typing import Any

import kopf

from deploymentgate.controller.context import OperatorContext
from deploymentgate.controller.pods import PodInfo, summarize_pod
from deploymentgate.controller.reconcile import GateReconciler
from deploymentgate.controller.signoffs import policy_reader, summarize_approval
from deploymentgate.controller.workloads import DeploymentInfo, summarize_deployment
from deploymentgate.core.inputs import ObservedSignOff
from deploymentgate.core.requires import index_entry
from deploymentgate.k8s.api import Conflict
from deploymentgate.k8s.builders import GATE_LABEL
from deploymentgate.models import API_GROUP, API_VERSION, APPROVAL_PLURAL, PLURAL, Phase

log = logging.getLogger(__name__)
registry = kopf.OperatorRegistry()
GATES = (API_GROUP, API_VERSION, PLURAL)
ACTIVE = {Phase.VERIFYING, Phase.PROGRESSING, Phase.PROMOTING, Phase.AWAITING_APPROVAL}
IDLE_TICK = 10.0
HAND_BACK_WAIT = 60.0  # seconds a deletion waits for the stable pods before retrying


@kopf.on.startup(registry=registry)
def configure(settings: kopf.OperatorSettings, memo: Any, **_: Any) -> None:
    settings.persistence.finalizer = "rollout.deploymentgate.dev/finalizer"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(
        prefix="rollout.deploymentgate.dev"
    )
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix="rollout.deploymentgate.dev", key="last-handled-configuration"
    )
    # Our own Events say what happened; kopf's per-handler chatter would bury them.
    settings.posting.level = logging.WARNING
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.networking.request_timeout = 30
    settings.peering.priority = memo.options.priority or _default_priority()
    # A standby takes over within ~15 s of a leader's crash (kopf's default: 60 s).
    settings.peering.lifetime = 15


def _default_priority() -> int:
    """Distinct per replica, so two peers never freeze each other at equal priority."""
    return 1 + zlib.crc32(os.environ.get("POD_NAME", str(os.getpid())).encode()) % 10_000


@kopf.on.login(registry=registry)
def login(memo: Any, **kwargs: Any) -> kopf.ConnectionInfo | None:
    if memo.options.kubeconfig:
        os.environ["KUBECONFIG"] = memo.options.kubeconfig
        return kopf.login_with_kubeconfig(**kwargs)
    return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)


# -- indexes: the world as the gates need it, kept by kopf's watches ----------


# async: kopf runs sync handlers in worker threads, and the wakeup below is an
# asyncio.Event, which only the event loop's thread may set.
@kopf.index("apps", "v1", "deployments", registry=registry)
async def deployments_idx(
    namespace: str | None, name: str, body: kopf.Body, memo: Any, **_: Any
) -> dict[tuple[str, str], DeploymentInfo]:
    memo.wake_namespace(namespace or "")
    return {(namespace or "", name): summarize_deployment(dict(body))}


@kopf.index("", "v1", "pods", registry=registry)
async def pods_idx(
    namespace: str | None, body: kopf.Body, memo: Any, **_: Any
) -> dict[str, PodInfo]:
    info = summarize_pod(dict(body))
    # A gate's pod with an address: its prober may start the startup probe now,
    # before the app listens, rather than on the gate's next pass.
    gate = info.labels.get(GATE_LABEL)
    reconciler = memo.reconcilers.get((namespace or "", gate)) if gate and info.ip else None
    if reconciler is not None:
        reconciler.prober.on_pod(info)
    return {(namespace or ""): info}


@kopf.index(*GATES, registry=registry)
def gates_idx(
    namespace: str | None, name: str, spec: kopf.Spec, status: kopf.Status, **_: Any
) -> dict[Any, Any]:
    """What other gates' spec.requires may read, with whom this gate lets read it."""
    return {(namespace or "", name): index_entry(spec, status)}


@kopf.index(API_GROUP, API_VERSION, APPROVAL_PLURAL, registry=registry)
async def approvals_idx(
    namespace: str | None, body: kopf.Body, memo: Any, **_: Any
) -> dict[tuple[str, str], ObservedSignOff]:
    """Sign-offs by (namespace, gate); core.signoff decides which count."""
    found = summarize_approval(body)
    if found is None:
        return {}
    memo.wake_namespace(namespace or "")
    return {(namespace or "", found[0]): found[1]}


# -- one loop per gate --------------------------------------------------------


def _reconciler(memo: OperatorContext, namespace: str, name: str) -> GateReconciler:
    key = (namespace, name)
    if key not in memo.reconcilers:
        memo.reconcilers[key] = GateReconciler(
            namespace, name, memo.api, memo.metrics, policy=policy_reader(memo.api)
        )
    return memo.reconcilers[key]


def _snapshot(index: kopf.Index[Any, Any]) -> dict[Any, Any]:
    return {key: next(iter(store)) for key, store in index.items() if len(store)}


def _world(
    kwargs: dict[str, Any], namespace: str
) -> tuple[dict[tuple[str, str], DeploymentInfo], list[PodInfo], dict[tuple[str, str], Any]]:
    """Deployments, this namespace's pods and all gates' statuses, from kopf's indexes."""
    pods: kopf.Index[str, PodInfo] = kwargs["pods_idx"]
    return (
        _snapshot(kwargs["deployments_idx"]),
        list(pods.get(namespace, [])),
        _snapshot(kwargs["gates_idx"]),
    )


@kopf.daemon(*GATES, registry=registry, cancellation_timeout=10)
async def gate_loop(
    stopped: kopf.DaemonStopped,
    body: kopf.Body,
    namespace: str | None,
    name: str,
    memo: Any,
    **kwargs: Any,
) -> None:
    ns = namespace or ""
    reconciler = _reconciler(memo, ns, name)
    wakeup = memo.wakeups.setdefault((ns, name), asyncio.Event())
    tick = memo.options.tick
    while not stopped:
        wakeup.clear()
        delay = IDLE_TICK
        try:
            sign_offs = tuple(kwargs["approvals_idx"].get((ns, name), ()))
            decision = await reconciler.reconcile(body, *_world(kwargs, ns), sign_offs=sign_offs)
            memo.metrics.reconciled()
            if decision.status.phase in ACTIVE or decision.operations:
                delay = tick
            if decision.requeue_after is not None:
                delay = min(delay, max(decision.requeue_after.total_seconds(), 0.05))
        except Conflict:
            memo.metrics.reconcile_failed("conflict")
            delay = tick
        except Exception as exc:  # never let one gate's trouble stop its loop
            memo.metrics.reconcile_failed(type(exc).__name__)
            log.exception("reconcile of %s/%s failed", ns, name)
            delay = max(tick, 2.0)
        await _sleep(delay, wakeup, stopped)
        if stopped:
            break
    if stopped.reason is not None and "deletion" in str(stopped.reason).lower():
        return
    await reconciler.aclose()
    memo.reconcilers.pop((ns, name), None)


async def _sleep(delay: float, wakeup: asyncio.Event, stopped: kopf.DaemonStopped) -> None:
    """Until the next tick, an event worth a look, or the operator stopping."""
    waiters = [
        asyncio.ensure_future(wakeup.wait()),
        asyncio.ensure_future(stopped.wait()),
    ]
    try:
        await asyncio.wait(waiters, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)


@kopf.on.delete(*GATES, registry=registry)
async def gate_deleted(
    body: kopf.Body,
    namespace: str | None,
    name: str,
    memo: Any,
    **kwargs: Any,
) -> None:
    """Hand traffic back to the user's Deployment before the gate goes away.

    Waits here (bounded) rather than failing and retrying, which kopf would log
    as an error every second for what is a normal, short hand-back.
    """
    ns = namespace or ""
    reconciler = _reconciler(memo, ns, name)
    deadline = asyncio.get_running_loop().time() + HAND_BACK_WAIT
    gate: Mapping[str, Any] = body
    while True:
        decision = await reconciler.reconcile(gate, *_world(kwargs, ns), deleting=True)
        if decision.deletion_complete:
            break
        if asyncio.get_running_loop().time() > deadline:
            raise kopf.TemporaryError("still handing traffic back to the Deployment", delay=5)
        await asyncio.sleep(memo.options.tick)
        gate = await memo.api.get_gate(ns, name)  # this handler's body is a snapshot
    await reconciler.aclose()
    memo.reconcilers.pop((ns, name), None)
    memo.wakeups.pop((ns, name), None)
    memo.metrics.forget(ns, name)
