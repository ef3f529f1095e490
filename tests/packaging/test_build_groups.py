"""Build what the command needs: cluster/build.sh builds its groups (the
cluster's tools; Traefik) on demand, and `make demo` asks for the cluster's
tools only, while `make test` and `make demo-gateway` get Traefik too.

No Go here: build.sh runs on a copy of cluster/ with a stand-in `go` that
records its calls and makes an empty executable per package built."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CLUSTER_TOOLS = {"etcd", "kube-apiserver", "kube-controller-manager", "kubectl", "helm"}

FAKE_GO = r"""#!/usr/bin/env bash
echo "$*" >> "$GO_LOG"
case $1 in
  build)
    shift
    out= pkgs=()
    while [ $# -gt 0 ]; do
      case $1 in
        -o | -ldflags) [ "$1" = -o ] && out=$2; shift 2 ;;
        -*) shift ;;
        *) pkgs+=("$1"); shift ;;
      esac
    done
    for pkg in "${pkgs[@]}"; do
      printf '#!/bin/sh\n' > "$out/${pkg##*/}"
      chmod +x "$out/${pkg##*/}"
    done ;;
  mod) printf '{\n\t"Dir": "%s"\n}\n' "$GO_FAKE_GWAPI" ;;
esac
"""


class Build:
    """cluster/build.sh on a copy of cluster/, with the stand-in go."""

    def __init__(self, tmp: Path) -> None:
        self.cluster = tmp / "cluster"
        shutil.copytree(REPO / "cluster", self.cluster, ignore=shutil.ignore_patterns("crds"))
        self.bin = tmp / "bin"
        self.log = tmp / "go.log"
        self.log.touch()
        stub = tmp / "stub"
        stub.mkdir()
        (stub / "go").write_text(FAKE_GO)
        (stub / "go").chmod(0o755)
        gwapi = tmp / "gateway-api"
        (gwapi / "config" / "crd" / "standard").mkdir(parents=True)
        standard = gwapi / "config" / "crd" / "standard"
        (standard / "httproutes.yaml").write_text("kind: CustomResourceDefinition\n")
        (standard / "policy.yaml").write_text("kind: ValidatingAdmissionPolicy\n")
        self.env = {
            "PATH": f"{stub}:/usr/bin:/bin",
            "HOME": str(tmp),
            "DEPLOYMENTGATE_BIN": str(self.bin),
            "GO_LOG": str(self.log),
            "GO_FAKE_GWAPI": str(gwapi),
        }

    def __call__(self, *groups: str) -> subprocess.CompletedProcess[str]:
        script = self.cluster / "build.sh"
        return subprocess.run(
            [str(script), *groups], env=self.env, capture_output=True, text=True, timeout=60
        )

    def tools(self) -> set[str]:
        return {p.name for p in self.bin.iterdir() if not p.name.startswith(".")}

    def go_calls(self) -> list[str]:
        return self.log.read_text().splitlines()


@pytest.fixture
def build(tmp_path: Path) -> Build:
    return Build(tmp_path)


def test_the_cluster_group_builds_no_traefik_and_a_second_run_nothing(build: Build) -> None:
    done = build("cluster")
    assert done.returncode == 0, done.stderr
    assert build.tools() == CLUSTER_TOOLS
    assert not any("traefik" in call for call in build.go_calls())
    assert not (build.cluster / "traefik" / "crds").exists()
    calls = build.go_calls()
    again = build("cluster")
    assert again.returncode == 0 and "cluster tools up to date" in again.stdout
    assert build.go_calls() == calls


def test_the_traefik_group_builds_traefik_and_copies_the_crds_only(build: Build) -> None:
    done = build("traefik")
    assert done.returncode == 0, done.stderr
    assert build.tools() == {"traefik"}
    crds = build.cluster / "traefik" / "crds"
    assert sorted(p.name for p in crds.iterdir()) == ["VERSION", "httproutes.yaml"]
    assert not any("k8s.io/kubernetes" in call or "helm" in call for call in build.go_calls())


def test_the_gitops_group_builds_gitops_check_only(build: Build) -> None:
    done = build("gitops")
    assert done.returncode == 0, done.stderr
    assert build.tools() == {"gitops-check"}
    assert build.go_calls() == [
        f"build -trimpath -ldflags -s -w -o {build.bin}/ deploymentgate.dev/cluster/gitops-check"
    ]


def test_no_group_builds_all_three(build: Build) -> None:
    done = build()
    assert done.returncode == 0, done.stderr
    assert build.tools() == CLUSTER_TOOLS | {"traefik", "gitops-check"}


def test_an_unknown_group_builds_nothing(build: Build) -> None:
    done = build("cluster", "gateway")
    assert done.returncode == 2
    assert "unknown group: gateway" in done.stderr
    assert build.go_calls() == [] and build.tools() == set()


def build_steps(target: str) -> list[str]:
    """The cluster/build.sh lines `make -n TARGET` would run."""
    env = {**os.environ, "MAKEFLAGS": ""}
    shown = subprocess.run(
        ["make", "-n", target], cwd=REPO, env=env, capture_output=True, text=True, check=True
    ).stdout
    return [line for line in shown.splitlines() if "build.sh" in line]


@pytest.mark.skipif(shutil.which("make") is None, reason="make not installed")
@pytest.mark.parametrize(
    ("target", "steps"),
    [
        ("demo", ["cluster/build.sh cluster"]),
        ("demo-gateway", ["cluster/build.sh cluster", "cluster/build.sh traefik"]),
        ("test", ["cluster/build.sh"]),
        ("tools", ["cluster/build.sh"]),
        ("traefik", ["cluster/build.sh traefik"]),
    ],
)
def test_each_make_target_builds_the_groups_its_command_needs(
    target: str, steps: list[str]
) -> None:
    assert build_steps(target) == steps
