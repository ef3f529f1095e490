"""One reconcile pass of one gate: observe, decide, write status, act, tell.

The status is written once, with a conflict check, before anything is
changed; only after it lands are workloads changed and Events recorded, so a
lost race (409) repeats nothing and emits nothing twice. When an action
fails, the pass still records its Events and metrics (the status already
says what happened), then reports the error.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, cast

import kopf

from deploymentgate.controller.check_templates import template_lookup
from deploymentgate.controller.executor import Executor
from deploymentgate.controller.gate import Gate, parse_gate, spec_error
from deploymentgate.controller.identity import GateIdentity
from deploymentgate.controller.jobs import pod_outcome
from deploymentgate.controller.observe import observe, serving_deployments, smoke_jobs
from deploymentgate.controller.pods import PodInfo, canary_pods, verification_pods
from deploymentgate.controller.probing import GateProber
from deploymentgate.controller.routers import adapter_for
from deploymentgate.controller.signoffs import PolicyReader
from deploymentgate.controller.steady import STEADY_INTERVAL_SECONDS, SteadyWatch, steady_plan
from deploymentgate.controller.transition_log import TransitionLog
from deploymentgate.controller.workloads import summarize_deployment, summarize_service
from deploymentgate.controller.world import World
from deploymentgate.core import (
    Decision,
    ObservedSignOff,
    PolicyState,
    ProbeWorkload,
    Reason,
    RecordEvent,
    StartProbes,
    StopProbes,
    decide,
    status_patch,
)
from deploymentgate.core.requires import required_gates
from deploymentgate.k8s.api import Conflict, KubeApi, NotFound
from deploymentgate.k8s.builders import GATE_LABEL, SERVING_LABEL, serving_name, verify_name
from deploymentgate.metrics import GateMetrics
from deploymentgate.models import GateSpec, GateStatus, Phase, dump
from deploymentgate.notify import Notifier
from deploymentgate.observations import SmokeJobState

log = logging.getLogger(__name__)
ECHOES_KEPT = 4  # our own status writes whose watch events are recognised

Clock = Callable[[], datetime]
Interest = tuple[str, str, str]  # ("deployment"|"service"|"pods"|"gate", namespace, name)


class GateReconciler:
    """Everything one gate needs between passes: its prober and nothing else."""

    def __init__(
        self,
        namespace: str,
        name: str,
        api: KubeApi,
        metrics: GateMetrics,
        clock: Clock = lambda: datetime.now(UTC),
        policy: PolicyReader | None = None,
        notifier: Notifier | None = None,
        steady_interval: float = STEADY_INTERVAL_SECONDS,
    ) -> None:
        self.namespace, self.name = namespace, name
        self.policy = policy  # None: no sign-off counts
        self.api = api
        self.metrics = metrics
        self.clock = clock
        self.prober = GateProber(namespace, name, metrics)
        # Idle or Promoted: the low-rate watch on what serves (metrics only).
        self.steady = SteadyWatch(namespace, name, metrics, steady_interval)
        self.executor = Executor(api)
        self.transitions = TransitionLog(namespace, name)
        self.notifier = notifier  # None: no webhooks anywhere (tests)
        self._interest: frozenset[Interest] = frozenset()
        # What each finished smoke Job's pod said, by Job uid: read once, not every pass.
        self._outcomes: dict[str, tuple[str, str]] = {}
        # The gate's resourceVersions after our last few status writes: their
        # watch events are our own echoes and wake nobody (see handlers.gates_idx).
        # More than the last one: on a busy operator the echo of a write can
        # arrive after the next write, and was a pass for nothing.
        self._written: collections.deque[str] = collections.deque(maxlen=ECHOES_KEPT)
        # True when the last pass read state that no watch reports (its router's
        # adapter read objects live, e.g. routes and endpoints).
        self.reads_unwatched = False
        # True when the last pass wrote the status: the next pass may act on it.
        self.wrote_status = False

    def wrote(self, resource_version: str | None) -> bool:
        """Whether this version of the gate is the result of our own status write."""
        return resource_version is not None and resource_version in self._written

    def interest(self) -> frozenset[Interest]:
        """The objects whose changes should wake this gate (as of its last pass)."""
        return self._interest

    async def reconcile(
        self,
        body: Mapping[str, Any],
        world: World,
        *,
        deleting: bool = False,
        sign_offs: Sequence[ObservedSignOff] = (),
    ) -> Decision:
        """One pass; the body is parsed here, once, and nothing below sees it."""
        gate = parse_gate(body)
        world = await self._confirm(gate.me, world, gate.status)
        signed = (tuple(sign_offs), await self._policy_state())
        self.wrote_status = False
        for attempt in range(3):
            reads = await self._router_reads(gate.me)
            smoke = await self._smoke_outcomes(gate.me, world)
            decision, probes = self._decide(gate, world, deleting, signed, reads, smoke)
            stored = gate.stored_status
            patch = _with_unstored(status_patch(gate.status, decision.status), stored, decision)
            if patch is None:
                break
            try:
                written = await self.api.patch_gate_status(
                    self.namespace, self.name, _resource_version(gate), patch
                )
                version = (written.get("metadata") or {}).get("resourceVersion")
                if version:
                    self._written.append(str(version))
                self.wrote_status = True
                break
            except Conflict:
                # Someone wrote the gate since we read it: read again, decide again,
                # and keep the probe results for that second decision.
                self.prober.requeue(probes)
                if attempt == 2:
                    raise
                gate = parse_gate(await self.api.get_gate(self.namespace, self.name))
            except NotFound:
                return decision
            except Exception:  # e.g. no answer: keep the probe results for the next pass
                self.prober.requeue(probes)
                raise
        await self._act(gate, decision, world)
        return decision

    async def _confirm(self, me: GateIdentity, world: World, status: GateStatus) -> World:
        """Never call the target, the Service or the stable revision's serving
        Deployment missing on the index's word alone.

        kopf's indexes can lag (a standby that just took over re-lists while
        it already acts), and "missing" stops or reshapes the rollout; one live
        read settles it.
        """
        stable = status.stable_revision
        if stable and me.target and stable not in serving_deployments(me, world)[1]:
            selector = f"{GATE_LABEL}={me.label}"
            for body in await self.api.list_deployments(me.namespace, selector):
                world = world.with_live(summarize_deployment(body))
        if me.target and world.deployment(me.namespace, me.target) is None:
            try:
                live = await self.api.read_deployment(me.namespace, me.target)
                world = world.with_live(summarize_deployment(live))
            except NotFound:
                pass
        if me.service and world.service(me.namespace, me.service) is None:
            try:
                service = await self.api.read_service(me.namespace, me.service)
                world = world.with_live(summarize_service(service))
            except NotFound:
                pass
        return world

    async def _policy_state(self) -> PolicyState:
        if self.policy is None:
            return PolicyState(False, "this operator does not read the admission policy")
        return await self.policy.state()

    async def _router_reads(self, me: GateIdentity) -> object:
        """What the gate's router adapter reads live on every pass (None: nothing)."""
        adapter = adapter_for(me.router)
        self.reads_unwatched = adapter is not None and me.traffic is not None
        if adapter is None or me.traffic is None:
            return None
        return await adapter.read(self.api, me)

    async def _smoke_outcomes(self, me: GateIdentity, world: World) -> dict[str, SmokeJobState]:
        """The gate's smoke Jobs by revision; a finished one with its pod's exit
        code and log tail (read live once per Job)."""
        jobs = smoke_jobs(me, world)
        out: dict[str, SmokeJobState] = {}
        for revision, job in jobs.items():
            if job.state.finished and not job.state.deleting:
                if job.uid not in self._outcomes:
                    self._outcomes[job.uid] = await pod_outcome(self.api, job)
                detail, log_tail = self._outcomes[job.uid]
                out[revision] = replace(job.state, detail=detail, log_tail=log_tail)
            else:
                out[revision] = job.state
        live = {job.uid for job in jobs.values()}
        self._outcomes = {uid: o for uid, o in self._outcomes.items() if uid in live}
        return out

    def _decide(
        self,
        gate: Gate,
        world: World,
        deleting: bool,
        signed: tuple[tuple[ObservedSignOff, ...], PolicyState],
        router_reads: object = None,
        smoke: dict[str, SmokeJobState] | None = None,
    ) -> tuple[Decision, tuple[Any, ...]]:
        spec, status, me = gate.spec, gate.status, gate.me
        self._interest = _interest_of(me, status, spec)
        probes = tuple(self.prober.drain())
        observed = observe(me, world, status, router_reads)
        obs = replace(
            observed,
            smoke_jobs=observed.smoke_jobs if smoke is None else smoke,
            verification_url=_verification_url(me, world, spec, status),
            probes=probes,
            probing=self.prober.plan,
            generation=gate.generation,
            deleting=deleting,
            deleting_since=gate.deletion_timestamp if deleting else None,
            spec_error=gate.spec_error,
            sign_offs=signed[0],
            sign_off_policy=signed[1],
            created=gate.created,
            commands=gate.commands,
            required_gates=required_gates(
                spec, self.namespace, self.name, _gate_entries(spec, world, self.namespace)
            ),
        )
        return decide(spec, status, obs, self.clock()), probes

    async def _act(self, gate: Gate, decision: Decision, world: World) -> None:
        """Carry out the operations in order; stop at the first that fails, but
        record the pass's metrics and Events (the status already holds them)
        before reporting that failure."""
        spec = gate.spec
        failure: Exception | None = None
        for action in decision.operations:
            try:
                if isinstance(action, StartProbes):
                    if spec is not None:
                        self.prober.start(spec, action.run)
                elif isinstance(action, StopProbes):
                    self.prober.stop()
                else:
                    await self.executor.apply(action, gate=gate.me, world=world)
            except Exception as exc:
                failure = exc
                log.warning(
                    "%s/%s: %s failed: %s", self.namespace, self.name, type(action).__name__, exc
                )
                break
        self._point_prober(gate.me, world, decision.status.stable_revision)
        self._point_steady(gate, world, decision.status)
        # The status write has landed: metrics, log lines, notifications and
        # Events of this pass are told even when one of its actions failed.
        before = gate.status
        self._observe(before, decision)
        self.transitions.record(before, decision.status, decision.actions)
        if self.notifier is not None:  # queues only: never waits for a webhook
            self.notifier.gate_changed(self.namespace, self.name, spec, before, decision.status)
        for event in decision.events:
            _post_event(gate, event)
        if failure is not None:
            raise failure

    def _point_prober(self, me: GateIdentity, world: World, stable: str | None) -> None:
        """Aim the probes at the pods under test, read afresh from the index on
        every probe round (the pods come and go between passes); and, for the
        kinds that name them, at the stable revision's serving pods."""
        plan = self.prober.plan
        if plan is None or me.target is None:
            return
        revision, target = plan.revision, me.target

        def pods() -> list[PodInfo]:
            if plan.workload is ProbeWorkload.VERIFICATION:
                ours = world.pods_of(me.namespace, me.label)
                return verification_pods(
                    ours, gate=me.label, revision=revision, deployment=verify_name(target)
                )
            return _serving_pods(me, world, revision)

        def stable_pods() -> tuple[str | None, list[PodInfo]]:
            # Only pods that take users' traffic are a baseline: at a 100% step the
            # stable's pods may run on parked, out of the Service, kept for a revert.
            if stable is None or stable == revision:
                return None, []
            serving = [p for p in _serving_pods(me, world, stable) if SERVING_LABEL in p.labels]
            return stable, serving

        templates = template_lookup(me.namespace, world.templates, world.cluster_templates)
        self.prober.sync_targets(pods, stable_pods, templates)

    def _point_steady(self, gate: Gate, world: World, status: GateStatus) -> None:
        """Watch the stable revision's serving pods while nothing else is probed."""
        me, spec = gate.me, gate.spec
        settled = status.phase in (Phase.IDLE, Phase.PROMOTED) and self.prober.plan is None
        plan = steady_plan(spec, status.stable_revision) if spec is not None and settled else None
        if spec is None or plan is None or me.target is None:
            self.steady.stop()
            return
        self.steady.start(spec, plan)
        self.steady.sync_targets(lambda: _serving_pods(me, world, plan.revision))

    def _observe(self, before: GateStatus, decision: Decision) -> None:
        after = decision.status
        self.metrics.observe_status(self.namespace, self.name, after)
        if after.phase is not None and after.phase != before.phase:
            self.metrics.transition(self.namespace, self.name, after.phase)
        trigger = after.rollback_trigger.value if after.rollback_trigger else "other"
        if any(e.reason is Reason.ROLLED_BACK for e in decision.events):
            self.metrics.rollback(self.namespace, self.name, trigger)
        if any(e.reason is Reason.REVERTED_AFTER_PROMOTION for e in decision.events):
            self.metrics.revert_after_promotion(self.namespace, self.name, trigger)

    async def aclose(self) -> None:
        await self.prober.aclose()
        await self.steady.aclose()


def _serving_pods(me: GateIdentity, world: World, revision: str) -> list[PodInfo]:
    """The pods of `revision`'s serving Deployment, from the pod index."""
    assert me.target is not None
    serving = serving_deployments(me, world)[1].get(revision)
    name = serving.name if serving is not None else serving_name(me.target, revision)
    ours = world.pods_of(me.namespace, me.label)
    return canary_pods(ours, gate=me.label, revision=revision, deployment=name)


def _verification_url(
    me: GateIdentity, world: World, spec: GateSpec | None, status: GateStatus
) -> str | None:
    """The URL of a ready verification pod of the revision under test, at the smoke
    test's port (only asked for when a smoke test is configured)."""
    if spec is None or spec.probes.smoke is None or me.target is None or not status.revision:
        return None
    pods = verification_pods(
        world.pods_of(me.namespace, me.label),
        gate=me.label,
        revision=status.revision,
        deployment=verify_name(me.target),
    )
    for pod in sorted(pods, key=lambda p: p.name):
        if pod.ready and pod.ip:
            host = f"[{pod.ip}]" if ":" in pod.ip else pod.ip
            return f"http://{host}:{spec.probes.smoke.port or pod.port or 80}"
    return None


def _interest_of(
    me: GateIdentity, status: GateStatus, spec: GateSpec | None = None
) -> frozenset[Interest]:
    keys: set[Interest] = {("pods", me.namespace, me.label)}
    for req in spec.requires if spec else []:  # their status changes wake this gate
        ns, _, name = req.gate.rpartition("/")
        keys.add(("gate", ns or me.namespace, name))
    if me.target:
        keys.add(("deployment", me.namespace, me.target))
        keys.add(("autoscaler", me.namespace, me.target))  # the team's HPA on it
        keys.add(("deployment", me.namespace, verify_name(me.target)))
        for revision in (status.revision, status.stable_revision, status.verified_revision):
            if revision:
                keys.add(("deployment", me.namespace, serving_name(me.target, revision)))
    if me.service:
        keys.add(("service", me.namespace, me.service))
    adapter = adapter_for(me.router)
    if adapter is not None:
        keys |= adapter.interest(me)
    return frozenset(keys)


def _with_unstored(
    patch: dict[str, Any] | None, stored: Mapping[str, Any], decision: Decision
) -> dict[str, Any] | None:
    """`status_patch` compares parsed statuses, where a field never written reads as
    its default and so is never written (`canaryWeight: 0` would stay absent and
    the WEIGHT column blank). Write such fields once, as they are."""
    missing = {k: v for k, v in dump(decision.status).items() if k not in stored}
    if not missing:
        return patch
    return {**missing, **(patch or {})}


def _resource_version(gate: Gate) -> str:
    """The version the status write is conditional on (a body without one cannot be
    written safely: that pass fails, as any failed write does)."""
    if gate.resource_version is None:
        raise KeyError("resourceVersion")
    return gate.resource_version


def _gate_entries(
    spec: GateSpec | None, world: World, namespace: str
) -> dict[tuple[str, str], Mapping[str, Any]]:
    """The index entries of the gates `spec.requires` names (looked up, not copied)."""
    out: dict[tuple[str, str], Mapping[str, Any]] = {}
    for req in spec.requires if spec else []:
        ns, _, name = req.gate.rpartition("/")
        key = (ns or namespace, name)
        entry = world.gate_status(*key)
        if entry is not None:
            out[key] = entry
    return out


def _event_reference(gate: Gate) -> kopf.Body:
    """The minimal body kopf builds an Event's involvedObject from (apiVersion,
    kind, name, uid, namespace): the one place a body is made from the gate."""
    raw = {
        "apiVersion": gate.api_version,
        "kind": gate.kind,
        "metadata": {"name": gate.me.name, "uid": gate.me.uid, "namespace": gate.me.namespace},
    }
    return kopf.Body(cast(kopf.RawBody, raw))


def _post_event(gate: Gate, event: RecordEvent) -> None:
    kopf.event(
        _event_reference(gate),
        type=event.type.value,
        reason=event.reason.value,
        message=event.message,
    )


__all__ = ["GateReconciler", "Phase", "spec_error"]
