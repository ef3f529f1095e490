"""Argo CD and Flux read a gate's health, on gates the operator drove through
every phase on the local cluster (issue 19).

A watch records every version of four gates while the operator adopts,
verifies, waits for sign-offs, steps, promotes, rolls back, blocks and
rejects: the first object of each phase is what the tools are asked about.

- Argo CD: the resource customizations as the README's `argocd-cm` snippet
  holds them (the same as deploy/argocd/..., tests/docs checks) run in
  gopher-lua, the interpreter Argo CD embeds (`gitops-check lua`, built by
  cluster/build.sh), from Argo CD's own test layout (health_test.yaml with
  testdata/ files, written here from the recorded objects). Actions are run
  the same way, and what they return is written to the gate as Argo CD
  would: the operator acts on it as on `kubectl gate`.
- Flux: kstatus (sigs.k8s.io/cli-utils, `gitops-check kstatus`) computes
  each object's status, as a Kustomization's health check does.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from rollout_helpers import (
    GateWorld,
    StartOperator,
    chat_deployment,
    chat_service,
    gate,
    gate_spec,
    wait_until,
)

from deploymentgate.manifests import argocd
from deploymentgate.models import API_GROUP, KIND, PLURAL
from deploymentgate_devkit.sandbox import Sandbox
from deploymentgate_devkit.sandbox.binaries import require_tools

ROOT = Path(__file__).resolve().parents[2]
HEALTH = {
    "Idle": "Healthy",
    "Promoted": "Healthy",
    "Initializing": "Progressing",
    "Verifying": "Progressing",
    "Progressing": "Progressing",
    "Promoting": "Progressing",
    "AwaitingApproval": "Suspended",
    "RolledBack": "Degraded",
    "Blocked": "Degraded",
    "Invalid": "Degraded",
}
KSTATUS = {
    "Idle": "Current",
    "Promoted": "Current",
    "Initializing": "InProgress",
    "Verifying": "InProgress",
    "Progressing": "InProgress",
    "Promoting": "InProgress",
    "AwaitingApproval": "InProgress",
    "RolledBack": "Failed",
    "Blocked": "Failed",
    "Invalid": "Failed",
}
# The verbs each phase offers (as `kubectl gate` accepts them) for a revision under test.
ENABLED = {
    "Verifying": {"abort"},
    "AwaitingApproval": {"abort"},
    "Progressing": {"abort", "promote", "promote-full"},
    "Promoting": {"abort"},
    "RolledBack": {"retry"},
}


class PhaseRecorder:
    """`kubectl get deploymentgates -w -o json` in the namespace: the first object
    seen in each phase, and every phase in the order each gate went through."""

    def __init__(self, cluster: Sandbox, namespace: str) -> None:
        argv = [str(cluster.bin_dir / "kubectl"), "-n", namespace, "get", PLURAL]
        argv += ["--watch", "--output-watch-events", "-o", "json"]
        self.process = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=cluster.env
        )
        self.first: dict[str, dict[str, Any]] = {}
        self.paths: dict[str, list[str]] = {}
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        decoder, buffer = json.JSONDecoder(), ""
        for line in self.process.stdout:
            buffer += line
            while buffer.strip():
                try:
                    event, end = decoder.raw_decode(buffer.lstrip())
                except json.JSONDecodeError:
                    break
                buffer = buffer.lstrip()[end:]
                self._record(event.get("object") or {})

    def _record(self, obj: dict[str, Any]) -> None:
        phase = (obj.get("status") or {}).get("phase")
        if not phase:
            return
        self.first.setdefault(phase, obj)
        path = self.paths.setdefault(obj["metadata"]["name"], [])
        if not path or path[-1] != phase:
            path.append(phase)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)
        self.thread.join(10)


@pytest.fixture
def gitops_check(cluster: Sandbox) -> Path:
    return require_tools(("gitops-check",), directory=cluster.bin_dir) / "gitops-check"


@pytest.fixture
def customization(tmp_path: Path) -> Path:
    """The README's argocd-cm snippet, read as Argo CD reads its keys, written out in
    Argo CD's resource_customizations layout."""
    fenced = re.findall(r"^```yaml\n(.*?)^```", (ROOT / "README.md").read_text(), re.M | re.S)
    snippet = next(block for block in fenced if argocd.HEALTH_KEY in block)
    data = yaml.safe_load(snippet)["data"]
    actions = yaml.safe_load(data[argocd.ACTIONS_KEY])
    texts = {argocd.HEALTH_SCRIPT: data[argocd.HEALTH_KEY]}
    texts[argocd.DISCOVERY_SCRIPT] = actions["discovery.lua"]
    for definition in actions["definitions"]:
        texts[f"actions/{definition['name']}/action.lua"] = definition["action.lua"]
    directory = tmp_path / "argocd" / API_GROUP / KIND
    for relative, text in texts.items():
        (directory / relative).parent.mkdir(parents=True, exist_ok=True)
        (directory / relative).write_text(text)
    return directory


@pytest.fixture
def recorder(world: GateWorld) -> Iterator[PhaseRecorder]:
    recorder = PhaseRecorder(world.cluster, world.namespace)
    try:
        yield recorder
    finally:
        recorder.stop()


def check(tool: Path, *args: str | Path) -> dict[str, Any]:
    result = subprocess.run(
        [str(tool), *map(str, args)], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr
    out: dict[str, Any] = json.loads(result.stdout)
    return out


def run_argo_action(
    world: GateWorld, tool: Path, scripts: Path, gate_name: str, verb: str, tmp: Path
) -> str:
    """The action's script on the live gate; its result written back as the patch
    Argo CD makes of it (only what the script changed). The value written."""
    live = GateWorld(world.cluster, world.namespace, gate_name).gate()
    source = tmp / f"{gate_name}-{verb}.json"
    source.write_text(json.dumps(live))
    script = scripts / "actions" / verb / "action.lua"
    changed = check(tool, "lua", "action", script, source)
    before = {k: v for k, v in live.items() if k != "metadata"}
    after = {k: v for k, v in changed.items() if k != "metadata"}
    assert after == before, "the action changed more than the gate's annotations"
    annotations = changed["metadata"]["annotations"]
    key = f"rollout.deploymentgate.dev/{verb}"
    added = {
        k: v for k, v in annotations.items() if live["metadata"].get("annotations", {}).get(k) != v
    }
    assert list(added) == [key], added
    patch = json.dumps({"metadata": {"annotations": added}})
    world.kubectl("patch", f"{PLURAL}/{gate_name}", "--type=merge", "-p", patch)
    return str(added[key])


def app(world: GateWorld, name: str, version: str) -> None:
    world.apply(chat_deployment(name=name, version=version, replicas=2), chat_service(name))


def new_version(world: GateWorld, name: str, version: str) -> None:
    env = [{"name": "APP_VERSION", "value": version}]
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "chat", "env": env}]}}}}
    world.kubectl("patch", f"deployment/{name}", "-p", json.dumps(patch))


def spec_for(name: str, **overrides: Any) -> dict[str, Any]:
    return gate_spec(targetRef={"kind": "Deployment", "name": name}, service=name, **overrides)


@pytest.mark.timeout(300)
def test_argo_cd_and_flux_read_every_phase_the_operator_writes(
    world: GateWorld,
    start_operator: StartOperator,
    recorder: PhaseRecorder,
    gitops_check: Path,
    customization: Path,
    tmp_path: Path,
) -> None:
    for name in ("chat", "web"):
        app(world, name, "v1")
    start_operator(world.namespace)
    approvals = {"required": ["qa"], "roles": {"qa": {"groups": ["qa"]}}}
    # chat waits for a sign-off that never counts (no sign-off policy here), then is
    # aborted from Argo CD; web is promoted in full from Argo CD while it steps.
    world.apply(gate(spec_for("chat", approvals=approvals), name="chat"))
    world.apply(gate(spec_for("web"), name="web"))
    # ghost's Deployment never exists (Blocked); the threshold is out of range (Invalid).
    world.apply(gate(spec_for("ghost"), name="ghost"))
    invalid = spec_for("chat")
    invalid["rollback"]["errorRate"]["threshold"] = "150%"
    world.apply(gate(invalid, name="invalid"))

    chat = GateWorld(world.cluster, world.namespace, "chat")
    web = GateWorld(world.cluster, world.namespace, "web")
    chat.wait_phase("Idle", 60)
    web.wait_phase("Idle", 60)
    new_version(world, "chat", "v2")
    new_version(world, "web", "v2")
    chat.wait_phase("AwaitingApproval", 90, allowed={"Idle", "Verifying"})
    web.wait_phase("Progressing", 90, allowed={"Idle", "Verifying"})

    promoted = run_argo_action(world, gitops_check, customization, "web", "promote-full", tmp_path)
    aborted = run_argo_action(world, gitops_check, customization, "chat", "abort", tmp_path)
    assert web.wait_phase("Promoted", 90, allowed={"Progressing", "Promoting"})
    assert chat.wait_phase("RolledBack", 60, allowed={"AwaitingApproval"})
    assert web.status()["commands"]["promoteFull"] == promoted
    assert chat.status()["commands"]["abort"] == aborted
    GateWorld(world.cluster, world.namespace, "ghost").wait_phase("Blocked", 60)
    GateWorld(world.cluster, world.namespace, "invalid").wait_phase("Invalid", 30)
    wait_until(
        lambda: set(HEALTH) <= set(recorder.first),
        10,
        describe=lambda: f"recorded: {recorder.paths}",
        what="an object of every phase recorded",
    )

    # Argo CD's own layout: health_test.yaml naming testdata files.
    testdata = tmp_path / "testdata"
    testdata.mkdir()
    cases = []
    for phase, obj in recorder.first.items():
        path = testdata / f"{phase}.yaml"
        path.write_text(yaml.safe_dump(obj))
        message = obj["status"].get("message")
        expected = {"status": HEALTH[phase], "message": f"{phase}: {message}" if message else phase}
        cases.append({"healthStatus": expected, "inputPath": f"testdata/{path.name}"})
    (tmp_path / "health_test.yaml").write_text(yaml.safe_dump({"tests": cases}))

    for case in yaml.safe_load((tmp_path / "health_test.yaml").read_text())["tests"]:
        obj = yaml.safe_load((tmp_path / case["inputPath"]).read_text())
        source = tmp_path / "object.json"
        source.write_text(json.dumps(obj))
        phase = obj["status"]["phase"]
        health = check(gitops_check, "lua", "health", customization / "health.lua", source)
        assert health == case["healthStatus"], (phase, health)
        flux = check(gitops_check, "kstatus", source)
        assert flux["status"] == KSTATUS[phase], (phase, flux, obj["status"].get("conditions"))
        offered = check(
            gitops_check, "lua", "discovery", customization / "actions" / "discovery.lua", source
        )
        enabled = {verb for verb, action in offered.items() if not action.get("disabled")}
        assert set(offered) == {"abort", "retry", "promote", "promote-full"}, offered
        assert enabled == ENABLED.get(phase, set()), (phase, offered)

    # `kubectl wait --for=condition=Ready` ends on a promoted gate.
    waited = world.kubectl("wait", "--for=condition=Ready", "--timeout=10s", f"{PLURAL}/web")
    assert "condition met" in waited.stdout
