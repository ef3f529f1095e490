"""Fixtures of the operator's acceptance tests: the CRD and the chart's RBAC
(once per session), and operators run as real processes under that RBAC, each
watching only its test's namespaces.

When a test fails, every operator it started prints its log, and every
namespace it watched prints `kubectl describe` of the gate, the workloads and
the Events.
"""

from __future__ import annotations

import sys
from collections.abc import Generator, Iterator, Sequence
from pathlib import Path

import pytest

from deploymentgate_devkit.sandbox import Sandbox
from deploymentgate_devkit.sandbox.binaries import require_tools
from deploymentgate_devkit.testing import OperatorProcess

sys.path.insert(0, str(Path(__file__).parent))

from rollout_helpers import (
    ChartRbac,
    GateWorld,
    MakeWorld,
    StartOperator,
    assert_clean_log,
    failed,
    wait_until,
)

ROOT = Path(__file__).resolve().parents[2]
CRD = ROOT / "deploy" / "crds" / "deploymentgates.rollout.deploymentgate.dev.yaml"
CRD_NAME = "deploymentgates.rollout.deploymentgate.dev"
# Sign-offs: the operator indexes them, as it does once the chart is installed.
APPROVAL_CRD = ROOT / "deploy" / "crds" / "gateapprovals.rollout.deploymentgate.dev.yaml"
# Reusable metric checks: indexed too.
TEMPLATE_CRDS = tuple(
    ROOT / "deploy" / "crds" / f"{plural}.rollout.deploymentgate.dev.yaml"
    for plural in ("metricchecktemplates", "clustermetricchecktemplates")
)
CHART = ROOT / "deploy" / "helm" / "deploymentgate"
RELEASE = "operator-tests"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report on the item, so fixtures can tell a failed test."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def gate_crd(cluster: Sandbox) -> str:
    """The DeploymentGate, GateApproval and metric check template CRDs, applied
    server-side beside the chart tests' copy."""
    for crd in (CRD, APPROVAL_CRD, *TEMPLATE_CRDS):
        cluster.kubectl(
            "apply",
            "--server-side",
            "--force-conflicts",
            "--field-manager=operator-tests",
            "-f",
            str(crd),
        )
        name = crd.name.removesuffix(".yaml")
        # A CRD just created has no conditions yet, and kubectl wait then fails at
        # once ("accessor error") instead of waiting: wait for the condition ourselves.

        def established(n: str = name) -> bool:
            return (
                cluster.kubectl(
                    "wait", "--for=condition=Established", "--timeout=10s", f"crd/{n}", check=False
                ).returncode
                == 0
            )

        wait_until(
            established,
            30,
            what=f"crd/{name} Established",
        )
    return CRD_NAME


@pytest.fixture(scope="session")
def chart_rbac(cluster: Sandbox, gate_crd: str) -> Iterator[ChartRbac]:
    """The chart's ServiceAccount and RBAC: operators run with exactly what a Helm
    install with `watchNamespaces` grants them, never as admin."""
    helm = require_tools(("helm",), directory=cluster.bin_dir) / "helm"
    rbac = ChartRbac(cluster, helm, CHART, RELEASE, cluster.create_namespace())
    try:
        yield rbac
    finally:
        rbac.remove()


@pytest.fixture
def make_world(
    cluster: Sandbox, gate_crd: str, request: pytest.FixtureRequest
) -> Iterator[MakeWorld]:
    """make_world(namespace=None) -> a GateWorld; None makes (and later deletes) a namespace.

    Every world prints its diagnostics if the test fails.
    """
    worlds: list[GateWorld] = []
    created: list[str] = []

    def make(namespace: str | None = None) -> GateWorld:
        if namespace is None:
            namespace = cluster.create_namespace()
            created.append(namespace)
        worlds.append(GateWorld(cluster, namespace))
        return worlds[-1]

    try:
        yield make
    finally:
        if failed(request):
            for w in worlds:
                print(f"\n===== namespace {w.namespace} =====\n{w.diagnostics()}")
        for namespace in created:
            cluster.delete_namespace(namespace)


@pytest.fixture
def world(make_world: MakeWorld, namespace: str) -> GateWorld:
    """The test's own namespace, seen as a user of the gate sees it."""
    return make_world(namespace)


@pytest.fixture
def start_operator(
    chart_rbac: ChartRbac, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[StartOperator]:
    """start_operator(*namespaces, tick=0.5) -> a live operator watching those namespaces.

    Each call starts another process (log in tmp_path); all are stopped after
    the test, and their logs printed if it failed. A traceback in any of their
    logs fails the test: nothing a test does may crash a handler.
    """
    started: list[OperatorProcess] = []

    def start(
        *namespaces: str,
        tick: float = 0.5,
        gateway_api: bool = False,
        extra_args: Sequence[str] = (),
    ) -> OperatorProcess:
        log = tmp_path / f"operator-{len(started)}.log"
        kubeconfig = chart_rbac.grant(*namespaces, gateway_api=gateway_api)
        process = OperatorProcess(
            kubeconfig, log, namespaces=namespaces, tick=tick, extra_args=extra_args
        )
        started.append(process)
        return process.start()

    try:
        yield start
    finally:
        for process in started:
            process.stop()
        if failed(request):
            for process in started:
                print(f"\n===== operator log {process.log_path} =====\n{process.log()[-20000:]}")
    for process in started:
        assert_clean_log(process)
