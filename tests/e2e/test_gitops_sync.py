"""A GitOps sync cannot open a gated Service, operator up or down (issue 19).

A Service's selector is atomic for server-side apply: Flux's sync (`kubectl
apply --server-side --force-conflicts --field-manager=kustomize-controller`),
`kubectl replace` and an edit write the team's selector whole, without
`deploymentgate.dev/serving`. The chart's selector policy
(templates/serving-selector-policy.yaml, rendered by helm for the operator's
release and applied for real) makes the API server put the key back, or,
where MutatingAdmissionPolicy is not served, refuse the write. With the
operator stopped, no user request reaches the team's unverified pods; once it
is back, the revision is verified as usual.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from rollout_helpers import (
    ChartRbac,
    GateWorld,
    StartOperator,
    chat_deployment,
    chat_service,
    gate,
    gate_spec,
    wait_until,
)
from traffic_helpers import (
    SERVING_LABEL,
    EndpointSampler,
    UserTraffic,
    assert_never_served,
    bad_deployment,
    ready,
)
from traffic_helpers import team_pods as team_pods_of

from deploymentgate.manifests.selector_policy import IGNORE_RULE, POLICY_NAME
from deploymentgate_devkit.sandbox import Sandbox
from deploymentgate_devkit.testing.manifests import chat_autoscaler

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "deploymentgate"
TEMPLATES = ("templates/serving-selector-policy.yaml", "templates/serving-label-policy.yaml")
MUTATING_API = "admissionregistration.k8s.io/v1/MutatingAdmissionPolicy"
REPLICAS = 2
BAD = "v-bad"
# The operator stays down this long after the sync (the scenario, not a wait).
DOWN_SECONDS = 20
FLUX = ("--server-side", "--force-conflicts", "--field-manager=kustomize-controller")


def render(rbac: ChartRbac, *values: str) -> str:
    """The chart's serving policies as helm renders them for the operator's release on
    a cluster serving MutatingAdmissionPolicy (as the local one does)."""
    argv = [str(rbac.helm), "template", rbac.release, str(CHART), "-n", rbac.namespace]
    argv += ["--api-versions", MUTATING_API]
    for value in values:
        argv += ["--set", value]
    for template in TEMPLATES:
        argv += ["--show-only", template]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True).stdout


def install(cluster: Sandbox, rendered: str) -> Iterator[None]:
    cluster.kubectl("apply", "-f", "-", input=rendered)
    try:
        yield
    finally:
        cluster.kubectl("delete", "--ignore-not-found", "--wait", "-f", "-", input=rendered)


@pytest.fixture
def mutating(cluster: Sandbox, chart_rbac: ChartRbac) -> Iterator[None]:
    yield from install(cluster, render(chart_rbac))


@pytest.fixture
def validating(cluster: Sandbox, chart_rbac: ChartRbac) -> Iterator[None]:
    yield from install(cluster, render(chart_rbac, "servingSelectorPolicy.kind=Validating"))


def adopted(world: GateWorld, start_operator: StartOperator) -> Any:
    """v1 serving through its gate (Idle)."""
    world.apply(chat_deployment(version="v1", replicas=REPLICAS), chat_service())
    operator = start_operator(world.namespace)
    world.apply(gate(gate_spec()))
    world.wait_phase("Idle", 60)
    world.wait_endpoints(v1=REPLICAS)
    return operator


def sync(world: GateWorld, *manifests: dict[str, Any], check: bool = True) -> Any:
    """The team's manifests applied as Flux applies them."""
    text = yaml.safe_dump_all(list(manifests))
    return world.kubectl("apply", *FLUX, "-o", "json", "-f", "-", input=text, check=check)


def wait_policy_in_force(world: GateWorld) -> None:
    """The API server acts on a new policy a moment after it is created: a server-side
    dry run of the sync asks without writing anything."""

    def kept() -> bool:
        text = yaml.safe_dump(chat_service())
        result = world.kubectl(
            "apply", *FLUX, "--dry-run=server", "-o", "json", "-f", "-", input=text, check=False
        )
        if result.returncode != 0:
            return POLICY_NAME in result.stderr
        return SERVING_LABEL in json.loads(result.stdout)["spec"]["selector"]

    wait_until(kept, 20, what=f"the admission policy {POLICY_NAME} in force")


@pytest.mark.timeout(240)
def test_a_forced_server_side_sync_while_the_operator_is_down_serves_nobody(
    world: GateWorld, start_operator: StartOperator, mutating: None
) -> None:
    operator = adopted(world, start_operator)
    gated = world.service_selector()
    assert gated == {"app": "chat", SERVING_LABEL: "chat"}, gated
    wait_policy_in_force(world)
    operator.stop()

    traffic = UserTraffic(world).start()
    endpoints = EndpointSampler(world).start()
    try:
        synced = time.monotonic()
        # The team's repository also holds an HPA (min 6) on its Deployment.
        team_hpa = chat_autoscaler("chat", min_replicas=6, max_replicas=8)
        applied = sync(world, bad_deployment(BAD, replicas=4), chat_service(), team_hpa)
        stored = {i["kind"]: i for i in json.loads(applied.stdout)["items"]}
        # The sync succeeded, and what the API server stored keeps the key.
        assert stored["Service"]["spec"]["selector"] == gated, stored["Service"]["spec"]
        # The local cluster's HPA controller scales the team's Deployment to its minimum.
        wait_until(
            lambda: sum(1 for p in team_pods_of(world, BAD) if ready(p)) == 6,
            45,
            describe=world.diagnostics,
            what=f"6 ready pods of {BAD}, scaled by the team's HPA",
        )
        # The operator stays down for the scenario's window while users keep coming.
        time.sleep(max(0.0, DOWN_SECONDS - (time.monotonic() - synced)))
        assert_never_served(traffic, endpoints, BAD)
        assert world.service_selector() == gated

        operator.start()
        status = world.wait_phase("RolledBack", 120, allowed={"Idle", "Verifying"})
    finally:
        traffic.stop()
        endpoints.stop()
    assert status["revision"] != status["stableRevision"], status
    assert "VerificationStarted" in [e["reason"] for e in world.events()]
    assert_never_served(traffic, endpoints, BAD)
    assert set(traffic.served()) == {"v1"}, traffic.served()


def edited_without_the_key(world: GateWorld) -> subprocess.CompletedProcess[str]:
    """`kubectl edit` with an editor that deletes the serving key's line."""
    script = (
        "import sys, pathlib; p = pathlib.Path(sys.argv[-1]);"
        f" p.write_text(''.join(l for l in p.read_text().splitlines(True) if {SERVING_LABEL!r}"
        " not in l))"
    )
    editor = f"{sys.executable} -c {json.dumps(script)}"
    return world.kubectl("edit", "service", "chat", env={"KUBE_EDITOR": editor}, check=False)


@pytest.mark.timeout(180)
def test_every_way_of_writing_the_service_keeps_the_key_with_the_operator_down(
    world: GateWorld, start_operator: StartOperator, mutating: None
) -> None:
    operator = adopted(world, start_operator)
    gated = world.service_selector()
    wait_policy_in_force(world)
    operator.stop()
    team = yaml.safe_dump(chat_service())
    writes = {
        "client-side apply": lambda: world.kubectl("apply", "-f", "-", input=team),
        "server-side apply with force": lambda: sync(world, chat_service()),
        "replace": lambda: world.kubectl("replace", "-f", "-", input=team),
        "replace --force (delete, create)": lambda: world.kubectl(
            "replace", "--force", "-f", "-", input=team
        ),
        "edit": lambda: edited_without_the_key(world),
    }
    for how, write in writes.items():
        result = write()
        assert result.returncode == 0, f"{how}: {result.stderr}"
        assert world.service_selector() == gated, f"{how}: {world.service_selector()}"
    # Nothing of the team's selector is kept from them: a new key of theirs stays.
    mine = chat_service()
    mine["spec"]["selector"]["tier"] = "web"
    sync(world, mine)
    assert world.service_selector() == {**gated, "tier": "web"}


@pytest.mark.timeout(180)
def test_without_mutating_policies_the_sync_is_refused_naming_the_ignore_rule(
    world: GateWorld, start_operator: StartOperator, validating: None
) -> None:
    operator = adopted(world, start_operator)
    gated = world.service_selector()
    wait_policy_in_force(world)
    operator.stop()
    refused = sync(world, chat_service(), check=False)
    assert refused.returncode != 0, refused.stdout
    assert "Service chat is gated by DeploymentGate chat" in refused.stderr, refused.stderr
    assert IGNORE_RULE in refused.stderr, refused.stderr
    assert world.service_selector() == gated
    # Writes that keep the key pass.
    kept = chat_service()
    kept["spec"]["selector"] = dict(gated)
    assert sync(world, kept).returncode == 0
