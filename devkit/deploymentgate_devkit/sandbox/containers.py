"""One container of a pod on a simulated node: its process, restarts and probes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import subprocess
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from deploymentgate_devkit.sandbox import processes
from deploymentgate_devkit.sandbox.podspec import ContainerStartError, ProcessSpec
from deploymentgate_devkit.sandbox.podstatus import ContainerView, timestamp
from deploymentgate_devkit.sandbox.probes import (
    ProbeConfigError,
    ProbeSpec,
    ProbeTracker,
    parse_probe,
    probe_once,
)

log = logging.getLogger(__name__)

INITIAL_BACKOFF = 0.2
MAX_BACKOFF = 5.0
START_FAILED_CODE = 128  # what runtimes report when exec itself fails
BACKOFF_RESET_AFTER = 10.0  # a container that ran this long starts its backoff afresh

EventSink = Callable[[str, str, str], None]  # (type, reason, message)


@dataclass(frozen=True)
class ContainerSetup:
    """Everything fixed for the life of the container."""

    pod_name: str
    pod_uid: str
    pod_ip: str
    container: Mapping[str, Any]
    restart_policy: str  # Always | OnFailure | Never
    log_path: Path
    cwd: Path
    grace: float
    http: httpx.AsyncClient


class ContainerRunner:
    """Runs the container's process, restarts it per restartPolicy, and keeps ``view`` current.

    Every change to ``view`` is followed by ``on_change()``; the pod worker turns
    that into a (coalesced) status patch.
    """

    def __init__(
        self,
        setup: ContainerSetup,
        spec: ProcessSpec | ContainerStartError,
        on_change: Callable[[], None],
        on_event: EventSink,
    ) -> None:
        self.setup = setup
        self.spec = spec
        self.name = str(setup.container["name"])
        self.view = ContainerView(name=self.name, image=str(setup.container.get("image", "")))
        if isinstance(spec, ContainerStartError):  # reported from the very first status
            self.view.state = {"waiting": {"reason": spec.reason, "message": spec.message}}
        self._on_change = on_change
        self._event = on_event
        self._stopping = asyncio.Event()
        self._proc: subprocess.Popen[bytes] | None = None
        self.startup, self.readiness, self.liveness = (
            self._probe("startupProbe"),
            self._probe("readinessProbe"),
            self._probe("livenessProbe"),
        )

    def _probe(self, field: str) -> ProbeSpec | ProbeConfigError | None:
        probe = self.setup.container.get(field)
        if not probe:
            return None
        try:
            return parse_probe(probe, self.setup.container)
        except ProbeConfigError as exc:
            return exc

    def _changed(self) -> None:
        self._on_change()

    async def run(self) -> None:
        if isinstance(self.spec, ContainerStartError):
            self._event("Warning", "Failed", f"Error: {self.spec.reason}: {self.spec.message}")
            await self._stopping.wait()
            return
        backoff = INITIAL_BACKOFF
        while not self._stopping.is_set():
            started_mono, started_at = time.monotonic(), timestamp()
            result = await self._run_once(self.spec, started_at)
            ran_for = time.monotonic() - started_mono
            code = START_FAILED_CODE if result is None else result
            terminated: dict[str, Any] = {
                "exitCode": code if code >= 0 else 128 - code,
                "reason": "StartError"
                if result is None
                else ("Completed" if code == 0 else "Error"),
                "startedAt": started_at,
                "finishedAt": timestamp(),
            }
            if code < 0:
                terminated["signal"] = -code
            if self.view.container_id:
                terminated["containerID"] = self.view.container_id
            self.view.ready = self.view.started = False
            policy = self.setup.restart_policy
            restart = policy == "Always" or (policy == "OnFailure" and code != 0)
            if self._stopping.is_set() or not restart:
                self.view.state = {"terminated": terminated}
                self.view.terminal = True
                self._changed()
                return
            self.view.last_state = {"terminated": terminated}
            if ran_for >= BACKOFF_RESET_AFTER:
                backoff = INITIAL_BACKOFF
            message = (
                f"back-off {backoff:g}s restarting failed container={self.name} "
                f"pod={self.setup.pod_name}"
            )
            self.view.state = {"waiting": {"reason": "CrashLoopBackOff", "message": message}}
            self._changed()
            self._event("Warning", "BackOff", message)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)
            if not self._stopping.is_set():
                self.view.restart_count += 1

    async def _run_once(self, spec: ProcessSpec, started_at: str) -> int | None:
        """Run the process to its end: its exit code (negative: killed by a signal), or
        None when it could not be started at all."""
        try:
            proc = processes.spawn(
                spec.argv, env=spec.env, log_path=self.setup.log_path, cwd=self.setup.cwd
            )
        except OSError as exc:
            self._event("Warning", "Failed", f"Error: failed to start container: {exc}")
            with open(self.setup.log_path, "a") as log_file:
                log_file.write(f"sandbox: cannot start {spec.argv[0]!r}: {exc}\n")
            return None
        self._proc = proc
        self.view.container_id = (
            f"sandbox://{self.setup.pod_uid[:8]}-{self.name}-{self.view.restart_count}"
        )
        self.view.state = {"running": {"startedAt": started_at}}
        self.view.started = self.startup is None
        self.view.ready = self.view.started and self.readiness is None
        self._changed()
        self._event("Normal", "Started", f"Started container {self.name} (pid {proc.pid})")
        probing = asyncio.get_running_loop().create_task(self._probe_all(proc))
        try:
            return await processes.wait_exit(proc)
        finally:
            probing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await probing
            processes.signal_group(proc.pid, signal.SIGKILL)  # leftovers of the tree
            self._proc = None

    async def _probe_all(self, proc: subprocess.Popen[bytes]) -> None:
        if self.startup is not None:
            if not await self._probe_loop(self.startup, "Startup", initial=False, until_ok=True):
                await self._kill(proc, "failed startup probe")
                return
            self.view.started = True
            self.view.ready = self.readiness is None
            self._changed()
        loops: list[Coroutine[Any, Any, object]] = []
        if self.readiness is not None:
            loops.append(self._probe_loop(self.readiness, "Readiness", initial=False))
        if self.liveness is not None:
            loops.append(self._liveness(proc, self.liveness))
        if loops:
            await asyncio.gather(*loops)

    async def _liveness(
        self, proc: subprocess.Popen[bytes], spec: ProbeSpec | ProbeConfigError
    ) -> None:
        await self._probe_loop(spec, "Liveness", initial=True, until_fail=True)
        await self._kill(proc, "failed liveness probe")

    async def _kill(self, proc: subprocess.Popen[bytes], why: str) -> None:
        self._event("Normal", "Killing", f"Container {self.name} {why}, will be restarted")
        self.view.ready = False
        self._changed()
        await processes.stop_async(proc, self.setup.grace)

    async def _probe_loop(
        self,
        spec: ProbeSpec | ProbeConfigError,
        label: str,
        *,
        initial: bool,
        until_ok: bool = False,
        until_fail: bool = False,
    ) -> bool:
        """Probe at the period; readiness results go to the view. Returns the final result."""
        if isinstance(spec, ProbeConfigError):
            self._event("Warning", "Unhealthy", f"{label} probe errored: {spec}")
            if until_fail:
                return False
            await asyncio.Event().wait()  # an unusable probe never succeeds
            return False
        tracker = ProbeTracker(spec, initial=initial)
        env = self.spec.env if isinstance(self.spec, ProcessSpec) else {}
        await asyncio.sleep(spec.initial_delay)
        while True:
            ok, detail = await probe_once(
                spec, self.setup.pod_ip, self.setup.http, env, self.setup.cwd
            )
            if tracker.record(ok):
                if not ok:
                    self._event("Warning", "Unhealthy", f"{label} probe failed: {detail}")
                if label == "Readiness":
                    self.view.ready = tracker.result
                    self._changed()
            if until_ok and tracker.result:
                return True
            if until_ok and not ok and tracker.consecutive_failures >= spec.failure_threshold:
                return False
            if until_fail and not tracker.result:
                return False
            await asyncio.sleep(spec.effective_period)

    async def stop(self, grace: float | None = None) -> None:
        """Stop for good (pod deleted): preStop hook, SIGTERM, SIGKILL once grace is spent."""
        self._stopping.set()
        if self.view.ready:
            self.view.ready = False
            self._changed()
        grace = self.setup.grace if grace is None else grace
        proc = self._proc
        if proc is None:
            return
        started = time.monotonic()
        if grace > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._pre_stop(), grace)
        remaining = max(grace - (time.monotonic() - started), min(grace, 0.5))
        await processes.stop_async(proc, remaining)

    async def _pre_stop(self) -> None:
        """lifecycle.preStop (sleep, exec or httpGet), run once before SIGTERM as a kubelet does."""
        hook = (self.setup.container.get("lifecycle") or {}).get("preStop")
        if not hook:
            return
        if "sleep" in hook:
            await asyncio.sleep(float(hook["sleep"].get("seconds", 0)))
            return
        try:
            spec = parse_probe(hook, self.setup.container)
        except ProbeConfigError as exc:
            self._event("Warning", "FailedPreStopHook", str(exc))
            return
        env = self.spec.env if isinstance(self.spec, ProcessSpec) else {}
        ok, detail = await probe_once(
            spec, self.setup.pod_ip, self.setup.http, env, self.setup.cwd, timeout=None
        )
        if not ok:
            self._event("Warning", "FailedPreStopHook", f"PreStop hook failed: {detail}")
