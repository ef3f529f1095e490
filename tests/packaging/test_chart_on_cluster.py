"""The rendered chart against a real kube-apiserver: every object passes the
server's own validation (server-side apply, dry run)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from chart_render import helm_template, write_values
from packaging_tools import CRD_SOURCE

from deploymentgate_devkit.sandbox import Sandbox

# Kinds of the Prometheus Operator: the sandbox has no such CRDs; the alert and
# ServiceMonitor tests cover them.
NOT_ON_SANDBOX = {"ServiceMonitor", "PrometheusRule"}


def install_chart_crds(cluster: Sandbox, helm: Path, chart_dir: Path) -> None:
    """The chart's CRDs for real (dry runs of their objects need them established)."""
    crds = helm_template(helm, chart_dir, extra=["--include-crds"]).of_kind(
        "CustomResourceDefinition"
    )
    cluster.kubectl(
        "apply",
        "--server-side",
        "--field-manager=chart-tests",
        "-f",
        "-",
        input=yaml.safe_dump_all(crds),
    )
    names = [f"crd/{crd['metadata']['name']}" for crd in crds]
    cluster.kubectl("wait", "--for=condition=Established", "--timeout=30s", *names)


@pytest.mark.parametrize(
    "values",
    [
        {"dashboard": {"enabled": True}},
        {"replicas": 2, "watchNamespaces": ["@ns"], "dashboard": {"enabled": True}},
    ],
    ids=["all-namespaces", "own-namespace-ha"],
)
def test_rendered_chart_passes_server_side_dry_run(
    cluster: Sandbox,
    namespace: str,
    helm: Path,
    chart_dir: Path,
    tmp_path: Path,
    values: dict[str, Any],
) -> None:
    if not CRD_SOURCE.exists():
        pytest.skip(
            "deploy/crds has no DeploymentGate CRD yet; a placeholder must not reach the cluster"
        )
    install_chart_crds(cluster, helm, chart_dir)
    if "watchNamespaces" in values:
        values = {**values, "watchNamespaces": [namespace]}
    rendered = helm_template(
        helm, chart_dir, write_values(tmp_path, values), extra=["--namespace", namespace]
    )
    objects = [o for o in rendered.objects if o["kind"] not in NOT_ON_SANDBOX]
    result = cluster.kubectl(
        "apply",
        "--server-side",
        "--dry-run=server",
        "--field-manager=chart-tests",
        "-f",
        "-",
        input=yaml.safe_dump_all(objects),
        check=False,
    )
    assert result.returncode == 0, result.stderr
    applied = [line for line in result.stdout.splitlines() if "(server dry run)" in line]
    assert len(applied) == len(objects), result.stdout
