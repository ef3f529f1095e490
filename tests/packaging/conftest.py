"""Fixtures of the packaging tests: the real tools, and a chart that carries
the DeploymentGate CRD (a placeholder until deploy/crds/ has the real one)."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from chart_render import Rendered, RenderFn, helm_template, write_values
from packaging_tools import CHART, CRD_NAME, CRD_SOURCE, require_tool

PLACEHOLDER_CRD = Path(__file__).parent / "fixtures" / "placeholder-crd.yaml"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "slow: builds something from scratch (well under a minute, but not instant)"
    )


@pytest.fixture(scope="session")
def helm() -> Path:
    return require_tool("helm")


@pytest.fixture(scope="session")
def promtool() -> Path:
    return require_tool("promtool")


@pytest.fixture(scope="session")
def hadolint() -> Path:
    return require_tool("hadolint")


@pytest.fixture(scope="session")
def chart_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The chart as shipped, or a scratch copy with the placeholder CRD while
    the chart cannot carry the real one yet."""
    if (CHART / "crds" / CRD_NAME).exists():
        return CHART
    copy = tmp_path_factory.mktemp("chart") / CHART.name
    shutil.copytree(CHART, copy)
    source = CRD_SOURCE if CRD_SOURCE.exists() else PLACEHOLDER_CRD
    shutil.copyfile(source, copy / "crds" / CRD_NAME)
    return copy


@pytest.fixture
def render(helm: Path, chart_dir: Path, tmp_path: Path) -> RenderFn:
    """Render the chart with the given values (on top of values.yaml)."""

    def _render(values: Mapping[str, Any]) -> Rendered:
        return helm_template(helm, chart_dir, write_values(tmp_path, values))

    return _render
