"""The recipe for a new probe kind, proven end to end: one module defines a kind
(its section, descriptor and runner), registers it, and a real operator verifies
and rejects revisions by it on the local cluster.

The kind, `version`, reads the app's /version and fails a revision that reports
a banned version. Registering it extends the models, so the CRD the API server
gets is generated with it registered (in a subprocess, so that this test
process, and the shipped CRD, stay without it); the operator runs it through a
launcher that registers it before `deploymentgate run`. The shipped CRD is put
back afterwards.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import Field
from rollout_helpers import (
    ChartRbac,
    GateWorld,
    assert_clean_log,
    chat_deployment,
    chat_service,
    failed,
    gate,
    gate_spec,
)

from deploymentgate.models import GateSpec, Model, ProbeInterval
from deploymentgate.observations import ProbeKind, ProbeObservation
from deploymentgate.probe_kinds import ProbeDescriptor
from deploymentgate.probe_kinds import register as register_kind
from deploymentgate.probes.kind_runner import PodTarget, ProbeRunner
from deploymentgate.probes.observe import observation
from deploymentgate.probes.registry import register_runner
from deploymentgate_devkit.sandbox import Sandbox
from deploymentgate_devkit.testing import OperatorProcess

# ------------------------------------------------------------ the probe kind

VERSION = ProbeKind("version")


class VersionProbe(Model):
    """Fail a revision that reports a banned version."""

    path: str = Field(default="/version", max_length=256)
    """Endpoint answering {"version": ...}."""
    banned: list[str] = Field(default_factory=list, max_length=8)
    """Versions that must not ship."""
    interval: ProbeInterval = timedelta(seconds=1)
    """Time between runs."""


DESCRIPTOR = ProbeDescriptor(
    kind=VERSION,
    spec_path=("probes", "version"),
    field="version",
    title="Reported version",
    gated=True,  # verification waits for a pass; progressDeadline blocks without one
)


class VersionRunner(ProbeRunner):
    kind = VERSION

    async def probe(
        self,
        spec: GateSpec,
        section: Model,
        pod: PodTarget,
        *,
        revision: str | None,
        honor_port: bool = True,
    ) -> ProbeObservation:
        assert isinstance(section, VersionProbe)
        url = pod.base_url.rstrip("/") + section.path
        where = pod.name or url
        try:
            async with httpx.AsyncClient(timeout=3.0, trust_env=False) as client:
                answer = await client.get(url)
            reported = str(answer.json()["version"])
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            message = f"cannot read {section.path}: {type(exc).__name__}"
            return observation(VERSION, False, message, target=where, revision=revision)
        ok = reported not in section.banned
        message = f"reports version {reported}" + ("" if ok else ", which is banned")
        return observation(VERSION, ok, message, target=where, revision=revision)


def register() -> None:
    """The two registry lines a new kind needs."""
    register_kind(DESCRIPTOR, VersionProbe, "Fail a revision that reports a banned version.")
    register_runner(VersionRunner())


# ------------------------------------------------------- running it for real

HERE = Path(__file__).resolve().parent
CRD = HERE.parents[1] / "deploy" / "crds" / "deploymentgates.rollout.deploymentgate.dev.yaml"
LAUNCHER = f"""
import sys
sys.path[:0] = [{str(HERE)!r}]
import test_probe_kind_recipe
test_probe_kind_recipe.register()
"""
CRDGEN = LAUNCHER + "from deploymentgate.manifests.crdgen import render\nprint(render(), end='')\n"
OPERATOR = LAUNCHER + "from deploymentgate.cli import main\nraise SystemExit(main())\n"


class VersionOperator(OperatorProcess):
    """`deploymentgate run` with the version kind registered first."""

    def argv(self) -> list[str]:
        argv = super().argv()
        assert argv[1:3] == ["-m", "deploymentgate"], argv
        return [argv[0], "-c", OPERATOR, *argv[3:]]


def apply_crd(cluster: Sandbox, text: str) -> None:
    cluster.kubectl(
        "apply",
        "--server-side",
        "--force-conflicts",
        "--field-manager=operator-tests",
        "-f",
        "-",
        input=text,
    )
    cluster.kubectl("wait", "--for=condition=Established", "--timeout=30s", f"crd/{CRD.stem}")


@pytest.fixture
def version_crd(cluster: Sandbox, chart_rbac: ChartRbac) -> Iterator[None]:
    """The DeploymentGate CRD generated with the version kind registered; the
    shipped one (which has no such field) is applied again afterwards."""
    generated = subprocess.run(
        [sys.executable, "-c", CRDGEN], check=True, capture_output=True, text=True
    ).stdout
    shipped = CRD.read_text()
    assert "banned" in generated and "banned" not in shipped
    apply_crd(cluster, generated)
    try:
        yield
    finally:
        apply_crd(cluster, shipped)


@pytest.fixture
def version_operator(
    chart_rbac: ChartRbac, version_crd: None, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Any]:
    started: list[OperatorProcess] = []

    def start(namespace: str) -> OperatorProcess:
        kubeconfig = chart_rbac.grant(namespace)
        process = VersionOperator(kubeconfig, tmp_path / "operator.log", namespaces=(namespace,))
        started.append(process)
        return process.start()

    try:
        yield start
    finally:
        for process in started:
            process.stop()
            if failed(request):
                print(f"\n===== operator log =====\n{process.log()[-20000:]}")
    for process in started:
        assert_clean_log(process)


def test_an_extra_probe_kind_rejects_and_verifies_revisions(
    world: GateWorld, version_operator: Any
) -> None:
    spec = gate_spec(
        traffic={"steps": [50, 100], "stepDuration": "2s", "progressDeadline": "20s"},
        probes={"version": {"banned": ["v2"]}},  # the extra kind beside the error rate
    )
    world.apply(chat_deployment(version="v1", replicas=2), chat_service())
    version_operator(world.namespace)
    world.apply(gate(spec))
    world.wait_phase("Idle", 60)
    # The API server kept the extra section: the generated CRD has it.
    assert world.gate()["spec"]["probes"] == {"version": {"banned": ["v2"]}}

    world.set_version("v2")
    blocked = world.wait_phase("Blocked", 90, allowed=["Idle", "Verifying"])
    verifying = [e["message"] for e in blocked["history"] if e["phase"] == "Verifying"]
    assert verifying and verifying[-1].endswith("at 0% traffic: errorRate, version"), verifying
    assert blocked["rollbackTrigger"] == "progressDeadline", blocked
    assert "version probe (reports version v2, which is banned)" in blocked["message"], blocked
    assert blocked["probes"]["version"]["ok"] is False, blocked["probes"]

    world.set_version("v3")
    promoted = world.wait_phase(
        "Promoted", 120, allowed=["Blocked", "Verifying", "Progressing", "Promoting"]
    )
    assert promoted["probes"]["version"]["ok"] is True, promoted["probes"]
    assert promoted["probes"]["version"]["message"] == "reports version v3", promoted["probes"]
    assert world.serving_versions() == {"v3": 2}
    reasons = {(e["reason"], e["message"]) for e in world.events()}
    assert any(
        r == "ProbePassed" and m.startswith("version probe passed for revision") for r, m in reasons
    ), reasons
