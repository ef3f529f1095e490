"""The Dockerfile, without a Docker engine: hadolint, the shape of the final
image, and the build context .dockerignore lets through."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from dockerfile_model import DockerIgnore, Stage, env_pairs, parse_dockerfile
from packaging_tools import CHART, REPO, run_tool

DOCKERFILE = REPO / "Dockerfile"


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse_dockerfile(DOCKERFILE)[1]


def test_hadolint_finds_nothing_at_any_severity(hadolint: Path) -> None:
    result = run_tool(
        hadolint, "--no-color", "--format", "json", "--failure-threshold", "style", DOCKERFILE
    )
    findings = json.loads(result.stdout or "[]")
    assert result.returncode == 0 and not findings, json.dumps(findings, indent=2)


def test_build_and_final_stages_share_one_slim_python_311_base(stages: list[Stage]) -> None:
    assert len(stages) == 2
    build, final = stages
    assert build.name == "build" and final.name is None
    assert build.base == final.base  # the venv's interpreter links must resolve in both
    assert re.fullmatch(r"python:3\.11[.0-9]*-slim(-[a-z]+)?(@sha256:[0-9a-f]{64})?", final.base)


def test_final_stage_copies_only_the_venv_and_runs_nothing(stages: list[Stage]) -> None:
    build, final = stages
    assert not final.all("RUN"), "build tools or caches would land in the final image"
    (copy,) = final.all("COPY")
    assert copy.flags == {"from": "build"}
    venv = dict(p for i in build.all("ENV") for p in env_pairs(i))["VIRTUAL_ENV"]
    assert copy.args.split() == [venv, venv]  # a venv only works where it was built
    final_env = dict(p for i in final.all("ENV") for p in env_pairs(i))
    assert final_env["PATH"].startswith(f"{venv}/bin:")


def test_image_runs_the_operator_as_a_numeric_non_root_user(stages: list[Stage]) -> None:
    final = stages[-1]
    user = final.last("USER")
    assert user is not None
    uid, _, gid = user.args.partition(":")
    assert uid.isdigit() and int(uid) > 0 and (not gid or gid.isdigit())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert int(uid) == values["securityContext"]["runAsUser"]
    entrypoint, cmd = final.last("ENTRYPOINT"), final.last("CMD")
    assert entrypoint is not None and cmd is not None
    assert entrypoint.exec_form() == ["deploymentgate"]
    assert cmd.exec_form() == ["run", "--all-namespaces"]


def test_exposed_ports_are_the_charts_metrics_and_health_ports(stages: list[Stage]) -> None:
    exposed = {int(p) for i in stages[-1].all("EXPOSE") for p in i.args.split()}
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert exposed == {values["metrics"]["port"], values["health"]["port"]}


def test_build_context_holds_the_sources_and_nothing_local() -> None:
    context = DockerIgnore.load(REPO / ".dockerignore").context_files(REPO)
    assert {"pyproject.toml", "requirements.lock", "operator/deploymentgate/cli.py"} <= set(context)
    leaked = [
        f
        for f in context
        if f.startswith((".venv/", ".git/", ".cache/", "tests/", "deploy/", "devkit/"))
        or "__pycache__" in f
        or ".egg-info/" in f
        or f.endswith(".pyc")
    ]
    assert not leaked


@pytest.mark.parametrize(
    ("path", "excluded"),
    [
        ("operator/deploymentgate/cli.py", False),
        ("operator/deploymentgate/__pycache__/cli.cpython-311.pyc", True),
        ("operator/deploymentgate.egg-info/PKG-INFO", True),
        ("pyproject.toml", False),
        (".venv/bin/python", True),
        ("tests/packaging/test_dockerfile.py", True),
        # The devkit distribution's sources: never in the operator image.
        ("devkit/deploymentgate_devkit/sandbox/pki.py", True),
        ("devkit/deploymentgate_devkit/demo/manifests/chat-app.yaml", True),
        ("devkit/deploymentgate_devkit/testing/__init__.py", True),
        ("devkit/chat_backend/app.py", True),
        ("operator/deploymentgate/probes/health.py", False),
        ("Dockerfile", True),
    ],
)
def test_dockerignore_rules_match_dockers_semantics(path: str, excluded: bool) -> None:
    assert DockerIgnore.load(REPO / ".dockerignore").excluded(path) is excluded
