"""`demo --keep`: an operator that outlives the demo command, and how `demo --down` ends it.

The sandbox survives on its own (its detached mode). The operator dies with
its parent, so a kept demo starts it under a keeper process (see keeper.py)
in a session of its own, and records the keeper's pid together with a random
marker in its environment: `--down` then signals exactly that keeper, never
a stranger that happens to reuse the pid, and the marker (inherited by the
operator) proves afterwards that nothing of it is left.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from deploymentgate_devkit.sandbox.processes import pid_alive, processes_with_env

MARKER_ENV = "DEPLOYMENTGATE_DEMO_OPERATOR"
KEPT_FILE = "demo.json"
READY_FILE = "operator.ready"


@dataclass
class KeptDemo:
    """What a kept demo left running, saved next to the sandbox's own state."""

    operator_pid: int
    operator_marker: str
    metrics_url: str
    operator_log: str
    namespace: str
    service_url: str = ""

    def save(self, workdir: Path) -> None:
        path = workdir / KEPT_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        os.replace(tmp, path)

    @classmethod
    def load(cls, workdir: Path) -> KeptDemo | None:
        try:
            raw = json.loads((workdir / KEPT_FILE).read_text())
            return cls(**{k: raw[k] for k in cls.__dataclass_fields__ if k in raw})
        except (OSError, ValueError, TypeError):
            return None

    @staticmethod
    def forget(workdir: Path) -> None:
        (workdir / KEPT_FILE).unlink(missing_ok=True)


class KeptOperator:
    """The keeper of a kept demo's operator: started detached, stopped by its record."""

    def __init__(self, pid: int, marker: str, metrics_url: str, log_path: Path) -> None:
        self.pid = pid
        self.marker = marker
        self.metrics_url = metrics_url
        self.log_path = log_path

    @classmethod
    def spawn(cls, workdir: Path, *, namespace: str, tick: float) -> KeptOperator:
        """Start a keeper for the sandbox in workdir (a fresh operator.log); see wait_live()."""
        marker = secrets.token_hex(8)
        (workdir / READY_FILE).unlink(missing_ok=True)
        log_path = workdir / "operator.log"
        argv = [
            sys.executable,
            "-m",
            "deploymentgate_devkit.demo.keeper",
            f"--workdir={workdir}",
            f"--namespace={namespace}",
            f"--tick={tick}",
            f"--ready-file={workdir / READY_FILE}",
        ]
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                argv,
                env={**os.environ, MARKER_ENV: marker},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return cls(proc.pid, marker, "", log_path)

    def wait_live(self, timeout: float = 45.0) -> None:
        """Block until the keeper reports its operator live (metrics_url is set then)."""
        ready_file = self.log_path.parent / READY_FILE
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, ValueError, KeyError):
                self.metrics_url = str(json.loads(ready_file.read_text())["metrics_url"])
                return
            if not self.running:
                raise RuntimeError(f"the operator's keeper exited:\n{self.log()[-4000:]}")
            time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"operator not live within {timeout}s:\n{self.log()[-4000:]}")

    @classmethod
    def from_kept(cls, kept: KeptDemo) -> KeptOperator:
        return cls(
            kept.operator_pid, kept.operator_marker, kept.metrics_url, Path(kept.operator_log)
        )

    @property
    def running(self) -> bool:
        return pid_alive(self.pid) and any(
            p.pid == self.pid for p in processes_with_env(MARKER_ENV, self.marker)
        )

    def metrics(self) -> str:
        return httpx.get(self.metrics_url, timeout=5.0).text

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self, grace: float = 25.0) -> bool:
        """SIGTERM the keeper (it stops the operator in turn), SIGKILL whatever is left
        after `grace`; True once no process of this kept operator is left."""
        if self.running:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(self.pid, signal.SIGTERM)
            deadline = time.monotonic() + grace
            while self.running and time.monotonic() < deadline:
                time.sleep(0.1)
        for info in processes_with_env(MARKER_ENV, self.marker):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(info.pid, signal.SIGKILL)
        deadline = time.monotonic() + 5.0
        while processes_with_env(MARKER_ENV, self.marker) and time.monotonic() < deadline:
            time.sleep(0.05)
        return not processes_with_env(MARKER_ENV, self.marker)
