"""The supervisor's state file: how clients find a running sandbox and everything it bound."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

STATE_FILE = "state.json"
MARKER_ENV = "DEPLOYMENTGATE_SANDBOX_ID"  # set in every process the sandbox starts
KEEP_ENV = "DEPLOYMENTGATE_SANDBOX_KEEP"  # "always" (or "1") | "failure": keep the workdir


# Everything a supervisor writes into its workdir; only these are cleared before reuse,
# so pointing --dir at a directory with other content never deletes that content.
WORKDIR_ENTRIES = (
    STATE_FILE,
    "supervisor.log",
    "admin.kubeconfig",
    "controller-manager.kubeconfig",
    "logs",
    "pki",
    "etcd",
    "pods",
    "users",
    "gateway",
)


def clear_workdir(workdir: Path) -> None:
    for name in WORKDIR_ENTRIES:
        path = workdir / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def keep_workdir(failed: bool) -> bool:
    """Whether a sandbox's temp dir (logs, PKI, etcd) is kept for a post-mortem."""
    setting = os.environ.get(KEEP_ENV, "").strip().lower()
    return setting in ("1", "always", "true", "yes") or (
        failed and setting in ("failure", "on-failure", "failed")
    )


@dataclass
class SandboxState:
    sandbox_id: str
    workdir: str
    supervisor_pid: int
    status: str = "starting"  # starting | ready | failed | stopping | stopped
    apiserver: str = "running"  # running | stopped | starting | failed (outages on request)
    error: str | None = None
    api_url: str | None = None
    kubeconfig: str | None = None
    ca_file: str | None = None
    bin_dir: str | None = None
    address_block: int | None = None
    nodes: list[str] = field(default_factory=list)
    components: dict[str, dict[str, Any]] = field(default_factory=dict)
    services: dict[str, dict[str, str]] = field(default_factory=dict)
    # Every loopback (host, port) the sandbox listened on or made a pod listen on:
    # all must be free again after teardown.
    ports: list[tuple[str, int]] = field(default_factory=list)
    started_at: float = 0.0
    ready_seconds: float | None = None

    def save(self) -> None:
        """Atomic replace, so readers never see half a file."""
        path = Path(self.workdir) / STATE_FILE
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2, sort_keys=True))
        os.replace(tmp, path)

    @classmethod
    def load(cls, workdir: Path) -> SandboxState | None:
        try:
            raw = json.loads((workdir / STATE_FILE).read_text())
        except (OSError, ValueError):
            return None
        raw["ports"] = [(str(h), int(p)) for h, p in raw.get("ports") or ()]
        known = {k: v for k, v in raw.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def add_ports(self, host: str, ports: tuple[int, ...] | list[int]) -> bool:
        added = False
        for port in ports:
            if (host, port) not in self.ports:
                self.ports.append((host, port))
                added = True
        return added
