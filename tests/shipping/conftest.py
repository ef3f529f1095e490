"""Fixtures of the shipping tests: the chart's identity in the sandbox, operator
processes run as that identity and a recording API proxy (a real Prometheus is
the top conftest's fixture).

Every process started here is stopped in the fixture's teardown, and the
operators' logs are printed when a test fails.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from api_recorder import ApiRecorder
from chart_install import ChartInstall, InstallFn, install_chart_identity
from operator_group import Operators

from deploymentgate_devkit.sandbox import Sandbox


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Remember each phase's report on the item, so fixtures can tell a failure."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def _failed(request: pytest.FixtureRequest) -> bool:
    return any(
        getattr(getattr(request.node, f"report_{when}", None), "failed", False)
        for when in ("setup", "call")
    )


# -------------------------------------------------------------- chart identity


@pytest.fixture
def chart_identity(cluster: Sandbox, tmp_path: Path) -> Iterator[InstallFn]:
    """Install the chart's ServiceAccount, RBAC and peering objects (removed after)."""
    installs: list[ChartInstall] = []

    def install(values: Mapping[str, Any]) -> ChartInstall:
        installed = install_chart_identity(cluster, values, tmp_path)
        installs.append(installed)
        return installed

    yield install
    for installed in installs:
        installed.uninstall()


@pytest.fixture
def api_recorder(cluster: Sandbox) -> Iterator[ApiRecorder]:
    with ApiRecorder(cluster.api_url, cluster.ca_file) as recorder:
        yield recorder


# -------------------------------------------------------------- operators


@pytest.fixture
def operators(
    cluster: Sandbox, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Operators]:
    group = Operators(cluster, tmp_path)
    try:
        yield group
    finally:
        try:
            group.release_gates()
        finally:
            group.stop_all()
            if _failed(request):
                print(group.logs())
