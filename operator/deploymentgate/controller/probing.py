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
from deploymentgate.models import ErrorRateSource, GateSpec
from deploymentgate.observations import ProbeKind, ProbeObservation
from deploymentgate.probes import (
    ErrorRateWindow,
    judge_window,
    new_window,
    run_health_probe,
    run_prometheus_error_rate,
    run_startup_probe,
    run_websocket_probe,
    send_probe_traffic,
)
from deploymentgate.probes.budget import owner_scope

log = logging.getLogger(__name__)

TargetsFn = Callable[[], list[PodInfo]]
IDLE_RECHECK_SECONDS = 0.25  # no pod to probe yet: look again this soon (a list filter)
FAILURE_RETRY_SECONDS = 0.5  # after a failed run: confirm (or clear) it this soon


class GateProber:
    def __init__(self, namespace: str, name: str, metrics: GateMetrics) -> None:
        self.namespace = namespace
        self.name = name
        self.metrics = metrics
        self.plan: ProbeRun | None = None
        self._spec: GateSpec | None = None
        self._targets: TargetsFn = list
        self._inbox: list[ProbeObservation] = []
        self._startup_tasks: dict[str, asyncio.Task[None]] = {}
        self._loops: dict[ProbeKind, asyncio.Task[None]] = {}
        self._window: ErrorRateWindow | None = None
        self._owner = f"{namespace}/{name}"

    # -- control, called from the reconcile loop -----------------------------

    def start(self, spec: GateSpec, plan: ProbeRun) -> None:
        if plan == self.plan and spec == self._spec:
            return
        self._cancel_all()
        self.plan, self._spec = plan, spec
        if ProbeKind.ERROR_RATE in plan.kinds and spec.rollback.error_rate is not None:
            self._window = new_window(spec.rollback.error_rate)
        for kind in plan.kinds - {ProbeKind.STARTUP}:
            self._loops[kind] = asyncio.create_task(self._loop(kind), name=f"probe-{kind.value}")

    def stop(self) -> None:
        self._cancel_all()
        self.plan = None

    def sync_targets(self, targets: TargetsFn) -> None:
        """Point the prober at the current pods; start a startup probe per new pod."""
        self._targets = targets
        if self.plan is None or self._spec is None or ProbeKind.STARTUP not in self.plan.kinds:
            return
        cfg = self._spec.probes.startup
        if cfg is None:
            return
        for pod in targets():
            self._start_startup(pod)

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
        if ProbeKind.STARTUP in plan.kinds and ours:
            self._start_startup(pod)

    def _start_startup(self, pod: PodInfo) -> None:
        if self._spec is None or self._spec.probes.startup is None:
            return
        if pod.name in self._startup_tasks or pod.base_url is None:
            return
        log.info("startup probe of %s/%s started on pod %s", self.namespace, self.name, pod.name)
        self._startup_tasks[pod.name] = asyncio.create_task(
            self._startup(pod), name=f"probe-startup-{pod.name}"
        )

    def drain(self) -> list[ProbeObservation]:
        out, self._inbox = self._inbox, []
        return out

    def requeue(self, observations: tuple[ProbeObservation, ...]) -> None:
        """Give back results a lost status write could not record."""
        self._inbox[:0] = observations

    # -- the probes ----------------------------------------------------------

    async def _startup(self, pod: PodInfo) -> None:
        assert self._spec is not None and self._spec.probes.startup is not None
        assert self.plan is not None and pod.base_url is not None
        began = time.monotonic()
        with owner_scope(self._owner):  # this gate's share of the global probe budget
            obs = await run_startup_probe(
                pod.base_url,
                self._spec.probes.startup,
                started_at=pod.started_at,
                target=pod.name,
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
        spec = self._spec
        if kind is ProbeKind.HEALTH and spec.probes.health:
            return spec.probes.health.interval.total_seconds()
        if kind is ProbeKind.WEBSOCKET and spec.probes.websocket:
            return spec.probes.websocket.interval.total_seconds()
        if kind is ProbeKind.ERROR_RATE and spec.rollback.error_rate:
            return spec.rollback.error_rate.interval.total_seconds()
        return 5.0

    async def _round(self, kind: ProbeKind) -> bool | None:
        """One run over the serving pods: None if there was none, else whether all passed."""
        assert self._spec is not None and self.plan is not None
        spec, revision = self._spec, self.plan.revision
        pods = [p for p in self._targets() if self._serving(p)]
        if kind is ProbeKind.ERROR_RATE:
            await self._error_rate_round(spec, revision, pods)
            return True  # its own window decides; its interval is its cadence
        if not pods:
            return None
        results = await asyncio.gather(*(self._probe_pod(kind, spec, revision, p) for p in pods))
        for obs, seconds in results:
            self._record(obs, seconds)
        return all(obs.ok is not False for obs, _ in results)

    async def _probe_pod(
        self, kind: ProbeKind, spec: GateSpec, revision: str, pod: PodInfo
    ) -> tuple[ProbeObservation, float]:
        assert pod.base_url is not None
        began = time.monotonic()
        if kind is ProbeKind.HEALTH:
            assert spec.probes.health is not None
            obs = await run_health_probe(
                pod.base_url, spec.probes.health, target=pod.name, revision=revision
            )
        else:
            assert spec.probes.websocket is not None
            obs = await run_websocket_probe(
                pod.base_url, spec.probes.websocket, target=pod.name, revision=revision
            )
        return obs, time.monotonic() - began

    async def _error_rate_round(self, spec: GateSpec, revision: str, pods: list[PodInfo]) -> None:
        cfg = spec.rollback.error_rate
        if cfg is None:
            return
        began = time.monotonic()
        if cfg.source is ErrorRateSource.PROMETHEUS:
            pod_regex = "|".join(p.name for p in pods) or ".*"
            obs = await run_prometheus_error_rate(
                cfg,
                namespace=self.namespace,
                service=spec.service,
                revision=revision,
                pod_regex=pod_regex,
                target=self.name,
            )
        else:
            if self._window is None:
                self._window = new_window(cfg)
            reasons: list[str] = []
            for pod in pods:
                assert pod.base_url is not None
                reasons += await send_probe_traffic(pod.base_url, cfg, self._window)
            obs = judge_window(
                cfg, self._window, reasons=reasons, target=self.name, revision=revision
            )
        self._record(obs, time.monotonic() - began)

    def _serving(self, pod: PodInfo) -> bool:
        """Ready, and past its startup probe: earlier answers are the startup
        probe's business (503s while starting are expected, not failures)."""
        if pod.base_url is None or not pod.ready:
            return False
        task = self._startup_tasks.get(pod.name)
        return task is None or task.done()

    def _record(self, obs: ProbeObservation, seconds: float) -> None:
        self._inbox.append(obs)
        self.metrics.observe_probe(self.namespace, self.name, obs, seconds)

    def _cancel_all(self) -> None:
        for task in [*self._startup_tasks.values(), *self._loops.values()]:
            task.cancel()
        self._startup_tasks.clear()
        self._loops.clear()
        self._window = None
        self._inbox.clear()

    async def aclose(self) -> None:
        tasks = [*self._startup_tasks.values(), *self._loops.values()]
        self._cancel_all()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
