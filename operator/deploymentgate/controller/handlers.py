"""kopf wiring: indexes of what the gates look at, one loop per gate, and the
hand-back on deletion. Every rule is in `deploymentgate.core`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import zlib
from collections.abc import Mapping
from typing import Any

import kopf

from deploymentgate.controller.apihealth import describe, unreachable_error
from deploymentgate.controller.backoff import Backoff, outage_wait
from deploymentgate.controller.context import OperatorContext
from deploymentgate.controller.jobs import JobInfo, is_smoke_job, summarize_job
from deploymentgate.controller.kopf_workarounds import NoDiffBase, bounded, connection_limit
from deploymentgate.controller.pods import PodInfo, gate_of, summarize_pod
from deploymentgate.controller.reconcile import GateReconciler
from deploymentgate.controller.signoffs import policy_reader, summarize_approval
from deploymentgate.controller.workloads import (
    DeploymentInfo,
    GateRef,
    ServiceInfo,
    gate_claims,
    summarize_deployment,
    summarize_service,
)
from deploymentgate.controller.world import World
from deploymentgate.core.actions import Reason
from deploymentgate.core.inputs import ObservedSignOff
from deploymentgate.core.requires import index_entry
from deploymentgate.k8s.api import ApiError, Conflict, NotOwned
from deploymentgate.k8s.builders import GATE_LABEL, ROLE_LABEL, ROLE_SMOKE, controller_uid
from deploymentgate.models import API_GROUP, API_VERSION, APPROVAL_PLURAL, KIND, PLURAL, Phase

log = logging.getLogger(__name__)
registry = kopf.OperatorRegistry()
GATES = (API_GROUP, API_VERSION, PLURAL)
ACTIVE = {Phase.VERIFYING, Phase.PROGRESSING, Phase.PROMOTING, Phase.AWAITING_APPROVAL}
# A settled gate (nothing in flight, no time-based rule due) sleeps until an
# index wakes it: a change to an object it looked at, to its own spec, or to a
# gate it requires. It looks again on its own only every RESYNC seconds
# (jittered, so 10,000 gates do not tick together), a safety net for what no
# watch reports (the admission policy's state) and for a wake-up lost to a
# watch that lagged. A gate that reads routes live (router gatewayAPI) looks
# every IDLE_TICK, so a team's change to its HTTPRoute is seen within seconds.
IDLE_TICK = 10.0
RESYNC = 300.0
HAND_BACK_WAIT = 60.0  # seconds a deletion waits for the stable pods before retrying


@kopf.on.startup(registry=registry)
def configure(settings: kopf.OperatorSettings, memo: Any, **_: Any) -> None:
    settings.persistence.finalizer = "rollout.deploymentgate.dev/finalizer"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(
        prefix="rollout.deploymentgate.dev"
    )
    settings.persistence.diffbase_storage = NoDiffBase()  # see kopf_workarounds.diffbase
    # Our own Events say what happened; kopf's per-handler chatter would bury them.
    settings.posting.level = logging.WARNING
    # The pods index keeps only pods that carry a gate's label: the API server
    # filters, so the cluster's other pods are never sent to the operator.
    settings.watching.label_selectors["v1", "pods"] = GATE_LABEL
    # Likewise only the gates' smoke-test Jobs, not every Job of the cluster.
    settings.watching.label_selectors["batch", "jobs"] = f"{GATE_LABEL},{ROLE_LABEL}={ROLE_SMOKE}"
    # The first listing comes in pages (10,000 gates: 20,000 Deployments at once).
    settings.watching.chunk_size = 500
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
async def login(memo: Any, **kwargs: Any) -> kopf.ConnectionInfo | kopf.AiohttpSession | None:
    """The usual credentials, over a bounded connection pool (see kopf_workarounds.session)."""
    if memo.options.kubeconfig:
        os.environ["KUBECONFIG"] = memo.options.kubeconfig
        info = kopf.login_with_kubeconfig(**kwargs)
    else:
        info = kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)
    if info is None:
        return None
    return bounded(info, connection_limit(memo.options.namespaces))


# -- indexes: the world as the gates need it, kept by kopf's watches ----------
#
# Each index is keyed for the lookups a pass makes (World): nothing is copied
# or scanned per pass. async: kopf runs sync handlers in worker threads, and
# the wake-ups below are asyncio.Events, which only the loop's thread may set.


@kopf.index("apps", "v1", "deployments", registry=registry)
async def deployments_idx(
    namespace: str | None, name: str, body: kopf.Body, memo: Any, **_: Any
) -> dict[tuple[str, str], DeploymentInfo]:
    ns = namespace or ""
    info = summarize_deployment(body)
    memo.wake_interested("deployment", ns, name)
    owner = _controller_name(body)
    if owner is not None:
        memo.wake(ns, owner, "owned-deployment")
    return {(ns, name): info}


@kopf.index("apps", "v1", "deployments", registry=registry)
async def owned_idx(body: kopf.Body, name: str, **_: Any) -> dict[str, str]:
    """gate uid -> names of the Deployments that gate controls."""
    uid = controller_uid(body.metadata)
    return {uid: name} if uid else {}


@kopf.index("", "v1", "services", registry=registry)
async def services_idx(
    namespace: str | None, name: str, body: kopf.Body, memo: Any, **_: Any
) -> dict[tuple[str, str], ServiceInfo]:
    ns = namespace or ""
    memo.wake_interested("service", ns, name)
    return {(ns, name): summarize_service(body)}


@kopf.index("", "v1", "pods", registry=registry)
async def pods_idx(
    namespace: str | None, body: kopf.Body, memo: Any, **_: Any
) -> dict[tuple[str, str], PodInfo]:
    """Only pods carrying a gate's label: the team's other pods cost nothing."""
    gate = gate_of(dict(body.metadata.labels))
    if gate is None:
        return {}
    ns = namespace or ""
    info = summarize_pod(dict(body))
    # A gate's pod with an address: its prober may start the startup probe now,
    # before the app listens, rather than on the gate's next pass.
    reconciler = memo.reconcilers.get((ns, gate)) if info.ip else None
    if reconciler is not None:
        reconciler.prober.on_pod(info)
    memo.wake_interested("pods", ns, gate)
    return {(ns, gate): info}


@kopf.index("batch", "v1", "jobs", registry=registry)
async def jobs_idx(
    namespace: str | None, body: kopf.Body, memo: Any, **_: Any
) -> dict[tuple[str, str], JobInfo]:
    """Smoke-test Jobs (a gate's label and role smoke) by (namespace, gate label)."""
    labels = dict(body.metadata.labels)
    if not is_smoke_job(labels):
        return {}
    ns = namespace or ""
    owner = _controller_name(body)
    if owner is not None:
        memo.wake(ns, owner, "job")
    return {(ns, labels[GATE_LABEL]): summarize_job(body)}


@kopf.index(*GATES, registry=registry)
async def gates_idx(
    namespace: str | None,
    name: str,
    spec: kopf.Spec,
    status: kopf.Status,
    meta: kopf.Meta,
    memo: Any,
    **_: Any,
) -> dict[tuple[str, str], dict[str, Any]]:
    """What other gates' spec.requires may read, with whom this gate lets read it.

    Also the gate's own wake-up: any change but the echo of our own status
    write (a new spec, a status someone else wrote) runs its loop now; and the
    gates that require this one look again."""
    ns = namespace or ""
    memo.wake_interested("gate", ns, name, besides=(ns, name), cause="required-gate")
    reconciler = memo.reconcilers.get((ns, name))
    if reconciler is None or not reconciler.wrote(meta.get("resourceVersion")):
        memo.wake(ns, name, "gate")
    return {(ns, name): index_entry(spec, status)}


@kopf.index(API_GROUP, API_VERSION, APPROVAL_PLURAL, registry=registry)
async def approvals_idx(
    namespace: str | None, body: kopf.Body, memo: Any, **_: Any
) -> dict[tuple[str, str], ObservedSignOff]:
    """Sign-offs by (namespace, gate); core.signoff decides which count."""
    found = summarize_approval(body)
    if found is None:
        return {}
    ns = namespace or ""
    memo.wake(ns, found[0], "approval")
    return {(ns, found[0]): found[1]}


@kopf.index(*GATES, registry=registry)
async def claims_idx(
    namespace: str | None, name: str, body: kopf.Body, memo: Any, **_: Any
) -> dict[tuple[str, str, str], GateRef]:
    """The Deployment and Service each gate names, for "one gate per Deployment"."""
    claims = gate_claims(namespace or "", body)
    for kind, ns, claimed in claims:  # a gate came or went: the others look again
        memo.wake_interested(kind, ns, claimed, besides=(ns, name), cause="claim")
    return claims


def _controller_name(body: kopf.Body) -> str | None:
    for ref in body.metadata.get("ownerReferences") or []:
        if ref.get("controller") and ref.get("kind") == KIND:
            return str(ref.get("name"))
    return None


def world_of(kwargs: Mapping[str, Any]) -> World:
    """Lookups into the live indexes (nothing copied)."""
    return World(
        deployments=kwargs["deployments_idx"],
        owned=kwargs["owned_idx"],
        services=kwargs["services_idx"],
        pods=kwargs["pods_idx"],
        gates=kwargs["gates_idx"],
        claims=kwargs["claims_idx"],
        jobs=kwargs["jobs_idx"],
    )


# -- one loop per gate --------------------------------------------------------


def _reconciler(memo: OperatorContext, namespace: str, name: str) -> GateReconciler:
    key = (namespace, name)
    if key not in memo.reconcilers:
        memo.reconcilers[key] = GateReconciler(
            namespace,
            name,
            memo.api,
            memo.metrics,
            policy=policy_reader(memo.api),
            notifier=memo.notifier,
        )
    return memo.reconcilers[key]


def _forget(memo: OperatorContext, namespace: str, name: str) -> None:
    memo.reconcilers.pop((namespace, name), None)
    memo.set_interest((namespace, name), ())


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
    backoff = Backoff()
    cause = "start"
    while not stopped:
        wakeup.clear()
        delay, timer = IDLE_TICK, "unwatched-tick"
        try:
            sign_offs = tuple(kwargs["approvals_idx"].get((ns, name), ()))
            async with memo.passes:
                decision = await reconciler.reconcile(body, world_of(kwargs), sign_offs=sign_offs)
            memo.metrics.reconciled(cause)
            delay, timer = _settled_delay(reconciler, tick)
            if decision.status.phase in ACTIVE or decision.operations:
                delay, timer = tick, "tick"
            if decision.requeue_after is not None:
                requeue = max(decision.requeue_after.total_seconds(), 0.05)
                if requeue < delay:
                    delay, timer = requeue, "requeue"
        except Conflict:
            memo.metrics.reconcile_failed("conflict")
            delay, timer = tick, "retry"
        except Exception as exc:  # never let one gate's trouble stop its loop
            memo.metrics.reconcile_failed(type(exc).__name__)
            delay = max(tick, _failed(memo, backoff, "reconcile", ns, name, exc, body))
            timer = "retry"
        else:
            _passed(memo, backoff, "reconcile", ns, name)
        memo.set_interest((ns, name), reconciler.interest())
        await _sleep(delay, wakeup, stopped)
        if stopped:
            break
        cause = memo.cause_of_wake((ns, name)) if wakeup.is_set() else timer
    if stopped.reason is not None and stopped.reason & kopf.DaemonStoppingReason.RESOURCE_DELETED:
        return  # the deletion handler hands traffic back with this reconciler
    await reconciler.aclose()
    _forget(memo, ns, name)


def _failed(
    memo: OperatorContext,
    backoff: Backoff,
    what: str,
    ns: str,
    name: str,
    exc: Exception,
    body: kopf.Body | None = None,
) -> float:
    """Seconds until the gate's next attempt, after a failed one; logged only
    when the backoff says it is news (a streak's first failure, a new kind of
    error, the longest delay reached). No answer from the API server, or an
    error from one still starting, is the whole operator's news, said once by
    memo.api_health, which also wakes the gate when it is over: until then the
    gate waits the longest delay."""
    health = memo.api_health
    no_answer = unreachable_error(exc)
    if no_answer:
        health.unreachable((ns, name), exc)
    outage = no_answer or health.starting((ns, name))
    now = asyncio.get_running_loop().time()
    retry = backoff.failed(type(exc).__name__, now, random.random(), quiet=outage)
    if outage:  # memo.api_health wakes the gate once the API server is ready again
        log.debug("%s of %s/%s during an API outage: %s", what, ns, name, describe(exc))
        return outage_wait(random.random(), backoff.cap, backoff.jitter)
    if retry.log:
        again = "every" if retry.capped else "in"
        message = "%s of %s/%s failed (%d in a row): %s; next attempt %s %.0fs"
        args = (what, ns, name, retry.failures, describe(exc), again, retry.delay)
        if isinstance(exc, (ApiError, NotOwned)):  # the API server's answer says it all
            log.error(message, *args)
            if isinstance(exc, NotOwned) and body is not None:
                # A name taken by someone else that no index shows (say an
                # unlabelled Job at the smoke test's name): told on the gate too.
                kopf.warn(
                    body,
                    reason=Reason.NAME_CONFLICT.value,
                    message=f"name conflict: {exc}; next attempt in {retry.delay:.0f}s",
                )
        else:  # a bug: its traceback, once per streak and kind
            log.exception(message, *args)
    return retry.delay


def _passed(memo: OperatorContext, backoff: Backoff, what: str, ns: str, name: str) -> None:
    memo.api_health.answered()
    recovery = backoff.succeeded(asyncio.get_running_loop().time())
    if recovery is not None and recovery.logged:
        log.info(
            "%s of %s/%s succeeded again after %d failed attempts over %.0fs",
            what,
            ns,
            name,
            recovery.failures,
            recovery.seconds,
        )


async def _wait(delay: float, wakeup: asyncio.Event) -> None:
    """`delay` seconds, or less if the gate is woken (e.g. the API server is back)."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(wakeup.wait(), delay)


def _settled_delay(reconciler: GateReconciler, tick: float) -> tuple[float, str]:
    """How long a gate with nothing in flight sleeps unless woken (see RESYNC),
    and the name of that timer.

    A pass that wrote the status is followed by another (which may act on
    it): a gate settles only once a pass changes nothing."""
    if reconciler.wrote_status:
        return tick, "after-write"
    if reconciler.reads_unwatched:
        return IDLE_TICK, "unwatched-tick"
    return RESYNC * random.uniform(0.8, 1.2), "resync"


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
    gate: Mapping[str, Any] | None = body
    backoff = Backoff()
    wakeup = memo.wakeups.setdefault((ns, name), asyncio.Event())
    while True:
        wakeup.clear()
        delay = memo.options.tick
        try:
            if gate is None:  # this handler's body is a snapshot: read it afresh
                gate = await memo.api.get_gate(ns, name)
            decision = await reconciler.reconcile(gate, world_of(kwargs), deleting=True)
            if decision.deletion_complete:
                break
        except Conflict:
            memo.metrics.reconcile_failed("conflict")
        except Exception as exc:  # retried below with backoff, as a pass of the loop would
            memo.metrics.reconcile_failed(type(exc).__name__)
            delay = max(delay, _failed(memo, backoff, "hand-back", ns, name, exc))
        else:
            _passed(memo, backoff, "hand-back", ns, name)
        # Past the wait, kopf retries the handler; not while the API server is
        # gone (kopf could not record the retry either): waiting here is quieter.
        past = asyncio.get_running_loop().time() > deadline
        if past and memo.api_health.reachable:
            raise kopf.TemporaryError("still handing traffic back to the Deployment", delay=5)
        await _wait(delay, wakeup)
        gate = None
    _passed(memo, backoff, "hand-back", ns, name)
    await reconciler.aclose()
    _forget(memo, ns, name)
    memo.wakeups.pop((ns, name), None)
    memo.woken_by.pop((ns, name), None)
    memo.metrics.forget(ns, name)
