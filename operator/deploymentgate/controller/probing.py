"""Background probing of the pods under test, one prober per gate.

Probes run as asyncio tasks beside the reconcile loop and leave their
observations in an inbox; the loop drains it and hands the batch to the pure
core. The prober holds no verdicts: anything that must survive a restart is
kept by the core in the gate's status.

Timing matters for verdicts, so: a verification pod's startup probe starts the
moment the pod index sees the pod's address (`on_pod`), not on the next
reconcile pass, so its first phases are seen; the health and WebSocket loops
look for a serving pod every `IDLE_RECHECK_SECONDS` until there is one; and
after a failed run the next comes within `FAILURE_RETRY_SECONDS`, so that
`failureThreshold` consecutive failures at 0% traffic take seconds, not
minutes (issue 13 item 3).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from deploymentgate.controller.pods import PodInfo, verification_pods
from deploymentgate.core import ProbeRun, ProbeWorkload
from deploymentgate.k8s.builders import gate_label_value, verify_name
from deploymentgate.metrics import GateMetrics
from deploymentgate.models import GateSpec
from deploymentgate.observations import ProbeKind, ProbeObservation
from deploymentgate.probe_kinds import descriptor
from deploymentgate.probes.budget import owner_scope
from deploymentgate.probes.kind_runner import (
    NO_STABLE,
    PodTarget,
    Rounds,
    Stable,
    TemplateLookup,
)
from deploymentgate.probes.registry import runner

log = logging.getLogger(__name__)

TargetsFn = Callable[[], list[PodInfo]]
# The stable revision and its serving pods (None, []: none beside the revision under test).
StableFn = Callable[[], tuple[str | None, list[PodInfo]]]
IDLE_RECHECK_SECONDS = 0.25  # no pod to probe yet: look again this soon (a list filter)
FAILURE_RETRY_SECONDS = 0.5  # after a failed run: confirm (or clear) it this soon


def _no_stable() -> tuple[str | None, list[PodInfo]]:
    return None, []


class GateProber:
    def __init__(self, namespace: str, name: str, metrics: GateMetrics) -> None:
        self.namespace = namespace
        self.name = name
        self.metrics = metrics
        self.plan: ProbeRun | None = None
        self._spec: GateSpec | None = None
        self._targets: TargetsFn = list
        self._stable: StableFn = _no_stable
        self._templates: TemplateLookup | None = None
        self._inbox: list[ProbeObservation] = []
        # Per-pod probes (startup), by (kind, pod name); rounds of the others, by kind.
        self._pod_tasks: dict[tuple[ProbeKind, str], asyncio.Task[None]] = {}
        self._loops: dict[ProbeKind, asyncio.Task[None]] = {}
        self._sessions: dict[ProbeKind, Rounds] = {}
        self._owner = f"{namespace}/{name}"

    # -- control, called from the reconcile loop -----------------------------

    def start(self, spec: GateSpec, plan: ProbeRun) -> None:
        if plan == self.plan and spec == self._spec:
            return
        self._cancel_all()
        self.plan, self._spec = plan, spec
        for kind in plan.kinds:
            section = descriptor(kind).section(spec)
            if descriptor(kind).per_pod or section is None:
                continue
            self._sessions[kind] = runner(kind).rounds(spec, section)
        for kind in self._sessions:
            self._loops[kind] = asyncio.create_task(self._loop(kind), name=f"probe-{kind.value}")

    def stop(self) -> None:
        self._cancel_all()
        self.plan = None

    def sync_targets(
        self,
        targets: TargetsFn,
        stable: StableFn | None = None,
        templates: TemplateLookup | None = None,
    ) -> None:
        """Point the prober at the current pods; start a per-pod probe (startup) per new pod.

        `stable`: the stable revision's pods, for kinds that name them (metric checks);
        `templates`: where checks' templateRefs are looked up, at each evaluation.
        """
        self._targets = targets
        self._stable = stable or _no_stable
        self._templates = templates
        if self.plan is None or self._spec is None:
            return
        kinds = self._per_pod_kinds()
        if not kinds:
            return
        for pod in targets():
            for kind in kinds:
                self._start_per_pod(kind, pod)

    def on_pod(self, pod: PodInfo) -> None:
        """A pod changed (from the pod index): a verification pod of the revision
        under test that just got its address is probed now, before its app listens."""
        plan, spec = self.plan, self._spec
        if plan is None or spec is None or plan.workload is not ProbeWorkload.VERIFICATION:
            return
        ours = verification_pods(
            [pod],
            gate=gate_label_value(self.name),
            revision=plan.revision,
            deployment=verify_name(spec.target_ref.name),
        )
        if ours:
            for kind in self._per_pod_kinds():
                self._start_per_pod(kind, pod)

    def _per_pod_kinds(self) -> list[ProbeKind]:
        """The plan's kinds started on each new pod from its first address (startup)."""
        if self.plan is None:
            return []
        return [k for k in sorted(self.plan.kinds) if descriptor(k).per_pod]

    def _start_per_pod(self, kind: ProbeKind, pod: PodInfo) -> None:
        if self._spec is None or descriptor(kind).section(self._spec) is None:
            return
        if (kind, pod.name) in self._pod_tasks or pod.base_url is None:
            return
        log.info(
            "%s probe of %s/%s started on pod %s", kind.value, self.namespace, self.name, pod.name
        )
        self._pod_tasks[kind, pod.name] = asyncio.create_task(
            self._per_pod(kind, pod), name=f"probe-{kind.value}-{pod.name}"
        )

    def drain(self) -> list[ProbeObservation]:
        out, self._inbox = self._inbox, []
        return out

    def requeue(self, observations: tuple[ProbeObservation, ...]) -> None:
        """Give back results a lost status write could not record."""
        self._inbox[:0] = observations

    # -- the probes ----------------------------------------------------------

    async def _per_pod(self, kind: ProbeKind, pod: PodInfo) -> None:
        assert self._spec is not None and self.plan is not None and pod.base_url is not None
        section = descriptor(kind).section(self._spec)
        assert section is not None
        began = time.monotonic()
        with owner_scope(self._owner):  # this gate's share of the global probe budget
            obs = await runner(kind).probe(
                self._spec,
                section,
                PodTarget(pod.name, pod.base_url, pod.started_at),
                revision=self.plan.revision,
            )
        self._record(obs, time.monotonic() - began)

    async def _loop(self, kind: ProbeKind) -> None:
        assert self._spec is not None
        interval = self._interval(kind)
        with owner_scope(self._owner):  # this gate's share of the global probe budget
            await self._rounds(kind, interval)

    async def _rounds(self, kind: ProbeKind, interval: float) -> None:
        while True:
            pause = interval
            try:
                outcome = await self._round(kind)
                if outcome is None:
                    pause = min(interval, IDLE_RECHECK_SECONDS)
                elif outcome is False:
                    pause = min(interval, FAILURE_RETRY_SECONDS)
            except asyncio.CancelledError:
                raise
            except Exception:  # a probe bug must not stop the others
                log.exception("probe %s of %s/%s failed", kind.value, self.namespace, self.name)
            await asyncio.sleep(pause)

    def _interval(self, kind: ProbeKind) -> float:
        assert self._spec is not None
        return descriptor(kind).interval(self._spec)

    async def _round(self, kind: ProbeKind) -> bool | None:
        """One run over the serving pods: None if there was none, else whether all passed."""
        assert self._spec is not None and self.plan is not None
        pods = [
            PodTarget(p.name, p.base_url, p.started_at)
            for p in self._targets()
            if self._serving(p) and p.base_url is not None
        ]
        session = self._sessions[kind]
        stable = NO_STABLE
        if session.wants_stable:
            stable_revision, stable_pods = self._stable()
            stable = Stable(
                stable_revision,
                tuple(PodTarget(p.name, p.base_url or "", p.started_at) for p in stable_pods),
            )
        done = await session.round(
            pods,
            revision=self.plan.revision,
            namespace=self.namespace,
            gate=self.name,
            stable=stable,
            templates=self._templates,
        )
        for obs, seconds in done.results:
            self._record(obs, seconds)
        return done.outcome

    def _serving(self, pod: PodInfo) -> bool:
        """Ready, and past its startup probe: earlier answers are the startup
        probe's business (503s while starting are expected, not failures)."""
        if pod.base_url is None or not pod.ready:
            return False
        return all(task.done() for (_, name), task in self._pod_tasks.items() if name == pod.name)

    def _record(self, obs: ProbeObservation, seconds: float) -> None:
        self._inbox.append(obs)
        self.metrics.observe_probe(self.namespace, self.name, obs, seconds)

    def _cancel_all(self) -> None:
        for task in [*self._pod_tasks.values(), *self._loops.values()]:
            task.cancel()
        self._pod_tasks.clear()
        self._loops.clear()
        self._sessions.clear()
        self._inbox.clear()

    async def aclose(self) -> None:
        tasks = [*self._pod_tasks.values(), *self._loops.values()]
        self._cancel_all()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
