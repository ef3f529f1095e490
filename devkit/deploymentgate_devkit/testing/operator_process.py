"""The operator as a child process: started, awaited, killed like in production.

Used by the integration tests, the demo and the benchmarks, so they all run
the same `deploymentgate run` a Deployment would.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx

from deploymentgate_devkit.sandbox.ports import free_port
from deploymentgate_devkit.sandbox.processes import signal_group, spawn, stop


class OperatorProcess:
    """`deploymentgate run` against a kubeconfig, with its own metrics/liveness ports."""

    def __init__(
        self,
        kubeconfig: Path,
        log_path: Path,
        *,
        namespaces: Sequence[str] = (),
        extra_args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        tick: float = 0.5,
    ) -> None:
        self.kubeconfig = kubeconfig
        self.log_path = log_path
        self.namespaces = tuple(namespaces)
        self.extra_args = tuple(extra_args)
        self.env = dict(env or os.environ)
        self.tick = tick
        self.metrics_port = 0
        self.liveness_port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def argv(self) -> list[str]:
        argv = [
            sys.executable,
            "-m",
            "deploymentgate",
            "run",
            "--kubeconfig",
            str(self.kubeconfig),
            "--metrics-host",
            "127.0.0.1",
            "--metrics-port",
            str(self.metrics_port),
            "--liveness",
            f"http://127.0.0.1:{self.liveness_port}/healthz",
            "--tick",
            str(self.tick),
        ]
        for ns in self.namespaces:
            argv += ["--namespace", ns]
        return argv + list(self.extra_args)

    def start(self, timeout: float = 30.0) -> OperatorProcess:
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError("operator already running")
        self.metrics_port, self.liveness_port = free_port(), free_port()
        self.proc = spawn(self.argv(), env=self.env, log_path=self.log_path)
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self.liveness_port}/healthz"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"operator exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(url, timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise TimeoutError(f"operator not live within {timeout}s:\n{self.log()[-4000:]}")

    def stop(self, grace: float = 15.0) -> int | None:
        """SIGTERM, as Kubernetes stops a pod; SIGKILL after `grace`."""
        if self.proc is None:
            return None
        code = stop(self.proc, grace)
        self.proc = None
        return code

    def kill(self) -> None:
        """SIGKILL: a crash, with no chance to tidy up."""
        if self.proc is None:
            return
        signal_group(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.proc = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def metrics(self) -> str:
        return httpx.get(self.metrics_url, timeout=5.0).text

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def __enter__(self) -> OperatorProcess:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
