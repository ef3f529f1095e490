"""A real Prometheus on loopback, a child process of a test (scrape config and rules
are the test's: the operator's /metrics, or the sandbox's pods)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from deploymentgate_devkit.sandbox import processes
from deploymentgate_devkit.sandbox.ports import LOOPBACK, free_port, wait_ports_free

# Where Debian's package `prometheus` (which CI installs) puts it.
DEFAULT_BINARY = Path("/usr/bin/prometheus")


def find_binary() -> Path | None:
    """The `prometheus` binary: the Debian package's, else the first on PATH."""
    if os.access(DEFAULT_BINARY, os.X_OK):
        return DEFAULT_BINARY
    found = shutil.which("prometheus")
    return Path(found) if found else None


class Prometheus:
    """`prometheus` as a child process of the test, in its own scratch directory."""

    def __init__(self, binary: Path, directory: Path) -> None:
        self.binary = binary
        self.directory = directory
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.directory / "prometheus.log"

    def start(self, config: dict[str, Any], timeout: float = 30.0) -> Prometheus:
        config_file = self.directory / "prometheus.yml"
        config_file.write_text(yaml.safe_dump(config))
        self.port = free_port()
        argv = [
            str(self.binary),
            f"--config.file={config_file}",
            f"--storage.tsdb.path={self.directory / 'data'}",
            f"--web.listen-address={LOOPBACK}:{self.port}",
            "--log.level=warn",
        ]
        # No proxy settings; only the test session's marker, so a leak is found.
        env = {k: v for k, v in os.environ.items() if k.startswith("DEPLOYMENTGATE_")}
        self.proc = processes.spawn(argv, env=env, log_path=self.log_path, cwd=self.directory)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prometheus exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"prometheus not ready within {timeout}s:\n{self.log()}")

    def stop(self) -> None:
        """SIGTERM (SIGKILL after 10 s), then wait until its port is free again."""
        if self.proc is None:
            return
        processes.stop(self.proc, 10.0)
        self.proc = None
        busy = wait_ports_free([(LOOPBACK, self.port)], timeout=10.0)
        assert not busy, f"prometheus left port {self.port} bound"

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except FileNotFoundError:
            return ""

    def api(self, path: str, **params: str) -> Any:
        response = httpx.get(f"{self.url}/api/v1/{path}", params=params, timeout=5.0)
        response.raise_for_status()
        body = response.json()
        assert body["status"] == "success", body
        return body["data"]

    def alerts(self) -> list[dict[str, Any]]:
        """Pending and firing alerts, as /api/v1/alerts lists them."""
        alerts: list[dict[str, Any]] = self.api("alerts")["alerts"]
        return alerts

    def rule_groups(self) -> list[dict[str, Any]]:
        groups: list[dict[str, Any]] = self.api("rules")["groups"]
        return groups
