"""`make demo` builds the replica demo's tools only: `demo --router gatewayAPI`
without Traefik says what to build, before any cluster starts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from deploymentgate.cli import main
from deploymentgate_devkit.demo import run as demo_run
from deploymentgate_devkit.sandbox import gateway
from deploymentgate_devkit.sandbox.binaries import BIN_ENV

GATEWAY_DEMO = ["demo", "--router", "gatewayAPI"]


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The demos that would have run (none starts a cluster here)."""
    runs: list[Any] = []

    def run_demo(options: Any) -> int:
        runs.append(options)
        return 0

    monkeypatch.setattr(demo_run, "run_demo", run_demo)
    return runs


def built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, traefik: bool, crds: bool) -> None:
    bin_dir, crd_dir = tmp_path / "bin", tmp_path / "crds"
    bin_dir.mkdir()
    crd_dir.mkdir()
    if traefik:
        (bin_dir / "traefik").write_text("#!/bin/sh\n")
        (bin_dir / "traefik").chmod(0o755)
    if crds:
        (crd_dir / "VERSION").write_text("v1.5.1\n")
    monkeypatch.setenv(BIN_ENV, str(bin_dir))
    monkeypatch.setattr(gateway, "crd_dir", lambda: crd_dir)


@pytest.mark.parametrize(("traefik", "crds"), [(False, False), (False, True), (True, False)])
def test_without_the_traefik_group_the_gateway_demo_says_what_to_build(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    started: list[Any],
    traefik: bool,
    crds: bool,
) -> None:
    built(tmp_path, monkeypatch, traefik=traefik, crds=crds)
    assert main(GATEWAY_DEMO) == 2
    out = capsys.readouterr().out
    assert "needs Traefik, which `make demo` does not build" in out
    assert "`make traefik`" in out and "`make demo-gateway`" in out
    assert (str(tmp_path / "bin" / "traefik") in out) is not traefik
    assert ("Gateway API CRDs" in out) is not crds
    assert started == []


def test_with_traefik_built_the_gateway_demo_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, started: list[Any]
) -> None:
    built(tmp_path, monkeypatch, traefik=True, crds=True)
    assert main(GATEWAY_DEMO) == 0
    assert [options.router for options in started] == ["gatewayAPI"]


def test_the_replica_demo_does_not_need_traefik(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, started: list[Any]
) -> None:
    built(tmp_path, monkeypatch, traefik=False, crds=False)
    assert main(["demo"]) == 0
    assert [options.router for options in started] == ["replicas"]
