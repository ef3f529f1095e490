"""Container probes (readiness, liveness, startup) as a kubelet runs them.

Thresholds and delays are honoured; the period is capped (``PERIOD_CAP``) so
a pod whose probe says every 10 s still turns Ready within a fraction of a
second of its server being up, which keeps tests fast without changing meaning.
"""

from __future__ import annotations

import asyncio
import ipaddress
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx

from deploymentgate_devkit.sandbox import processes

PERIOD_CAP = 0.5
USER_AGENT = "kube-probe/1.37"


@dataclass(frozen=True)
class ProbeSpec:
    action: str  # httpGet | tcpSocket | exec | grpc
    initial_delay: float = 0.0
    period: float = 10.0
    timeout: float = 1.0
    success_threshold: int = 1
    failure_threshold: int = 3
    port: int | None = None
    path: str = "/"
    scheme: str = "HTTP"
    host: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    command: tuple[str, ...] = field(default=())

    @property
    def effective_period(self) -> float:
        return min(self.period, PERIOD_CAP)


class ProbeConfigError(ValueError):
    pass


def _resolve_port(port: Any, container: Mapping[str, Any]) -> int:
    if isinstance(port, int):
        return port
    if isinstance(port, str) and port.isdigit():
        return int(port)
    for cport in container.get("ports") or ():
        if cport.get("name") == port:
            return int(cport["containerPort"])
    raise ProbeConfigError(f"probe port {port!r} is not a container port name")


def parse_probe(probe: Mapping[str, Any], container: Mapping[str, Any]) -> ProbeSpec:
    common: dict[str, Any] = {
        "initial_delay": float(probe.get("initialDelaySeconds", 0)),
        "period": float(probe.get("periodSeconds", 10)),
        "timeout": float(probe.get("timeoutSeconds", 1)),
        "success_threshold": int(probe.get("successThreshold", 1)),
        "failure_threshold": int(probe.get("failureThreshold", 3)),
    }
    if "httpGet" in probe:
        http = probe["httpGet"]
        return ProbeSpec(
            "httpGet",
            port=_resolve_port(http.get("port"), container),
            path=str(http.get("path") or "/"),
            scheme=str(http.get("scheme") or "HTTP").upper(),
            host=http.get("host") or None,
            headers=tuple((str(h["name"]), str(h["value"])) for h in http.get("httpHeaders") or ()),
            **common,
        )
    if "tcpSocket" in probe:
        tcp = probe["tcpSocket"]
        return ProbeSpec(
            "tcpSocket",
            port=_resolve_port(tcp.get("port"), container),
            host=tcp.get("host") or None,
            **common,
        )
    if "exec" in probe:
        return ProbeSpec(
            "exec", command=tuple(str(c) for c in probe["exec"].get("command") or ()), **common
        )
    if "grpc" in probe:
        return ProbeSpec("grpc", port=int(probe["grpc"].get("port", 0)), **common)
    raise ProbeConfigError("probe has no handler (httpGet, tcpSocket, exec or grpc)")


class ProbeTracker:
    """Consecutive-result thresholds: the result flips only after N in a row."""

    def __init__(self, spec: ProbeSpec, initial: bool) -> None:
        self.spec = spec
        self.result = initial
        self._streak = 0
        self._streak_ok = initial

    @property
    def consecutive_failures(self) -> int:
        return 0 if self._streak_ok else self._streak

    def record(self, ok: bool) -> bool:
        """Record one probe outcome; True when the overall result changed."""
        if ok == self._streak_ok:
            self._streak += 1
        else:
            self._streak_ok, self._streak = ok, 1
        needed = self.spec.success_threshold if ok else self.spec.failure_threshold
        if ok != self.result and self._streak >= needed:
            self.result = ok
            return True
        return False


def _target_host(spec: ProbeSpec, pod_ip: str) -> str:
    host = spec.host or pod_ip
    if not ipaddress.ip_address(host).is_loopback:
        raise ProbeConfigError(f"probe host {host} is not a loopback address")
    return host


async def probe_once(
    spec: ProbeSpec,
    pod_ip: str,
    http: httpx.AsyncClient,
    env: Mapping[str, str],
    cwd: Path | None = None,
    *,
    timeout: float | Literal["spec"] | None = "spec",
) -> tuple[bool, str]:
    """One probe attempt: (success, human-readable detail).

    ``timeout`` defaults to the probe's timeoutSeconds; lifecycle hooks pass None
    (they are bounded by the caller's grace period instead).
    """
    limit = spec.timeout if timeout == "spec" else timeout
    try:
        if spec.action == "httpGet":
            host = _target_host(spec, pod_ip)
            url = f"{spec.scheme.lower()}://{host}:{spec.port}{spec.path}"
            headers = {"User-Agent": USER_AGENT, "Connection": "close", **dict(spec.headers)}
            response = await http.get(url, headers=headers, timeout=limit)
            ok = 200 <= response.status_code < 400
            return ok, f"HTTP probe failed with statuscode: {response.status_code}"
        if spec.action == "tcpSocket":
            host = _target_host(spec, pod_ip)
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, spec.port), limit)
            writer.close()
            return True, ""
        if spec.action == "exec":
            return await _exec_probe(spec.command, env, limit, cwd)
        return False, f"{spec.action} probes are not supported in the sandbox"
    except (httpx.HTTPError, OSError, TimeoutError, ProbeConfigError, ValueError) as exc:
        return False, f"{spec.action} probe failed: {exc or type(exc).__name__}"


async def _exec_probe(
    command: Sequence[str], env: Mapping[str, str], timeout: float | None, cwd: Path | None
) -> tuple[bool, str]:
    if not command:
        return False, "exec probe has no command"
    proc = processes.spawn(command, env=env, log_path=None, cwd=cwd)
    try:
        code = await asyncio.wait_for(processes.wait_exit(proc), timeout)
    except TimeoutError:
        return False, f"command timed out after {timeout}s"
    finally:  # also on cancellation: never leave a probe command behind
        if proc.poll() is None:
            processes.signal_group(proc.pid, signal.SIGKILL)
            proc.wait()
    return code == 0, f"command exited with {code}"
