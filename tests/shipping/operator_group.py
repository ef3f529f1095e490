"""Operator processes of one test, and the tidy-up a failed test still needs."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from chat_app import GATES
from prometheus_client.parser import text_string_to_metric_families

from deploymentgate_devkit.sandbox import Sandbox
from deploymentgate_devkit.testing import OperatorProcess

LOG_TAIL_CHARS = 6000


@dataclass
class Operators:
    """Operator processes of one test; gates they serve are deleted before they stop."""

    cluster: Sandbox
    directory: Path
    processes: dict[str, OperatorProcess] = field(default_factory=dict)
    namespaces: set[str] = field(default_factory=set)

    def start(
        self,
        name: str,
        kubeconfig: Path,
        args: Sequence[str],
        *,
        serves: Sequence[str],
        env: Mapping[str, str] | None = None,
    ) -> OperatorProcess:
        self.namespaces.update(serves)
        process = OperatorProcess(
            kubeconfig,
            self.directory / f"operator-{name}.log",
            extra_args=args,
            env={**os.environ, **(env or {})},
        )
        self.processes[name] = process
        return process.start()

    def release_gates(self, timeout: float = 30.0) -> None:
        """Delete the gates while an operator still runs to take their finalizer off;
        strip it by hand if none does (a failed test must not wedge its namespace)."""
        for namespace in self.namespaces:
            self.cluster.kubectl(
                "delete", GATES, "--all", "-n", namespace, "--wait=false", check=False
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._remaining_gates():
            if not any(p.running for p in self.processes.values()):
                break
            time.sleep(0.25)
        for namespace, name in self._remaining_gates():
            patch = json.dumps({"metadata": {"finalizers": None}})
            self.cluster.kubectl(
                "patch", GATES, name, "-n", namespace, "--type=merge", "-p", patch, check=False
            )

    def _remaining_gates(self) -> list[tuple[str, str]]:
        found = []
        for namespace in self.namespaces:
            result = self.cluster.kubectl("get", GATES, "-n", namespace, "-o", "name", check=False)
            found += [(namespace, line.split("/")[-1]) for line in result.stdout.split()]
        return found

    def stop_all(self) -> None:
        for process in self.processes.values():
            with contextlib.suppress(subprocess.SubprocessError, OSError):
                process.stop()

    def logs(self) -> str:
        return "\n".join(
            f"----- operator {name} ({p.log_path}) -----\n{p.log()[-LOG_TAIL_CHARS:]}"
            for name, p in self.processes.items()
        )


def metric_value(process: OperatorProcess, name: str, **labels: str) -> float | None:
    """One sample of the operator's /metrics (e.g. deploymentgate_reconciles_total)."""
    for family in text_string_to_metric_families(process.metrics()):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return None
