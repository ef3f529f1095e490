"""The demo's manifests are also the examples users copy: they must agree and be valid."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploymentgate.models import API_GROUP, API_VERSION, KIND, parse_spec
from deploymentgate_devkit.demo import manifests

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("name", [manifests.APP, manifests.GATE])
def test_examples_at_the_repo_root_are_exactly_what_the_demo_applies(name: str) -> None:
    assert (REPO / "examples" / name).read_text() == manifests.text(name)


def test_the_gate_is_a_valid_deployment_gate_for_the_apps_deployment_and_service() -> None:
    (gate,) = manifests.documents(manifests.GATE)
    deployment, service = manifests.documents(manifests.APP)

    assert gate["apiVersion"] == f"{API_GROUP}/{API_VERSION}"
    assert gate["kind"] == KIND
    spec = parse_spec(gate["spec"])
    assert spec.target_ref.name == deployment["metadata"]["name"]
    assert spec.service == service["metadata"]["name"]
    assert spec.probes.startup and spec.probes.health and spec.probes.websocket
    assert spec.rollback.error_rate is not None
    assert spec.rollback.error_rate.threshold == 5.0  # the seed's trigger, unchanged


def test_the_service_selects_the_deployments_pods_and_readiness_is_the_health_endpoint() -> None:
    deployment, service = manifests.documents(manifests.APP)
    template = deployment["spec"]["template"]
    (container,) = template["spec"]["containers"]

    labels = template["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"
    assert {"name": "APP_VERSION", "value": "v1"} in container["env"]
    assert container["image"] == "chat-backend:healthy"
