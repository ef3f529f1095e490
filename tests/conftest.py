"""Project-wide fixtures: the local Kubernetes sandbox, started once per test session.

``cluster`` (session) is a started ``deploymentgate_devkit.sandbox.Sandbox``; it starts
only if some selected test asks for it, and every such test is marked
``cluster`` automatically (``-m "not cluster"`` skips them). ``namespace``
gives each test a fresh ``t-<random>`` namespace. ``prometheus`` is a real
Prometheus for the test to start with its own scrape config.

Leaks fail the run: when the cluster stops, none of its processes may survive
and none of its ports may stay bound; and at session end no process started
by any test (found by an environment marker every child inherits) may survive.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploymentgate_devkit.sandbox import Sandbox, SandboxApiError
from deploymentgate_devkit.sandbox.processes import kill_processes, wait_processes_gone
from deploymentgate_devkit.testing.prometheus import Prometheus, find_binary

SESSION_ENV = "DEPLOYMENTGATE_TEST_SESSION"
GATES = "rollout.deploymentgate.dev/v1alpha1"
CLUSTER_FIXTURES = frozenset({"cluster", "namespace"})


_previous_marker = pytest.StashKey[str | None]()


def pytest_configure(config: pytest.Config) -> None:
    # A session of its own even when nested in another (pytester), restored afterwards.
    config.stash[_previous_marker] = os.environ.get(SESSION_ENV)
    os.environ[SESSION_ENV] = uuid.uuid4().hex


def pytest_unconfigure(config: pytest.Config) -> None:
    previous = config.stash.get(_previous_marker, None)
    if previous is None:
        os.environ.pop(SESSION_ENV, None)
    else:
        os.environ[SESSION_ENV] = previous


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if CLUSTER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.cluster)


@pytest.fixture(scope="session")
def cluster(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    """A real control plane with two simulated nodes, shared by the whole session."""
    sandbox = Sandbox.start()
    try:
        yield sandbox
    finally:
        report = sandbox.stop(failed=request.session.testsfailed > 0)
        assert report.clean, f"the sandbox left things behind:\n{report.describe()}"


@pytest.fixture
def namespace(cluster: Sandbox) -> Iterator[str]:
    """A fresh namespace whose default ServiceAccount exists; deleted (not awaited) after.

    The test's operators are gone by then, so nobody would ever lift the
    finalizers of its gates: they are lifted here. A gate left mid-rollout by a
    failed test must not be adopted by a later test's all-namespaces operator.
    """
    name = cluster.create_namespace()
    try:
        yield name
    finally:
        cluster.delete_namespace(name)
        release_gates(cluster, name)


def release_gates(cluster: Sandbox, namespace: str) -> None:
    path = f"/apis/{GATES}/namespaces/{namespace}/deploymentgates"
    with contextlib.suppress(SandboxApiError):
        for gate in cluster.request("GET", path)["items"]:
            if gate["metadata"].get("finalizers"):
                with contextlib.suppress(SandboxApiError):
                    cluster.request(
                        "PATCH",
                        f"{path}/{gate['metadata']['name']}",
                        json={"metadata": {"finalizers": None}},
                        content_type="application/merge-patch+json",
                    )


@pytest.fixture(scope="session")
def prometheus_binary() -> Path:
    """A tool CI installs: a local skip when absent, a failure under CI=true."""
    found = find_binary()
    if found is not None:
        return found
    message = "prometheus not found (Debian package `prometheus`; .ci/run installs it)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def prometheus(
    prometheus_binary: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Prometheus]:
    """An unstarted Prometheus; stopped (and its port checked free) after the test,
    its log printed if the test failed."""
    directory = tmp_path / "prometheus"
    directory.mkdir()
    server = Prometheus(prometheus_binary, directory)
    failures = request.session.testsfailed
    try:
        yield server
    finally:
        if request.session.testsfailed > failures:
            print(f"----- prometheus log -----\n{server.log()}")
        server.stop()


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    marker = os.environ.get(SESSION_ENV)
    if not marker:
        return
    survivors = wait_processes_gone(SESSION_ENV, marker, timeout=5.0)
    if not survivors:
        return
    kill_processes(survivors)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    lines = [f"  pid {p.pid}: {p.cmdline}" for p in survivors]
    message = "processes started by the test session were still running (now killed):"
    if reporter is not None:
        reporter.write("\n")
        reporter.write_sep("=", "LEAKED PROCESSES", red=True, bold=True)
        reporter.write_line(message)
        for line in lines:
            reporter.write_line(line)
    else:
        print(message, *lines, sep="\n")
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
