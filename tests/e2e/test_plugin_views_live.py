"""`kubectl gate get -w` and `kubectl gate status [-w]` against a live rollout,
as a viewer runs them (issue 11, item 1).

A user bound only to the default `view` ClusterRole and the chart's
aggregated `-view` role (applied without its aggregation labels, so the
sandbox's own `view` is untouched) runs the plugin through kubectl, in
pseudo-terminals, while v1 is adopted and v2 is verified and stepped to 50%.
"""

from __future__ import annotations

import copy
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
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

from deploymentgate.k8s.builders import GATE_LABEL, ROLE_LABEL
from deploymentgate.plugin.get import HEADER
from deploymentgate.plugin.status import CLEAR
from deploymentgate_devkit.sandbox import Sandbox
from deploymentgate_devkit.sandbox.binaries import require_tools

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(240)]

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "deploymentgate"
AGGREGATED = "templates/rbac-aggregated.yaml"
VIEWER = "vera"


def spec() -> dict[str, Any]:
    """Two steps, the first held for 10 minutes: the test reads a rollout at 50%."""
    out = copy.deepcopy(gate_spec())
    out["traffic"].update({"steps": [50, 100], "stepDuration": "10m", "progressDeadline": "90s"})
    out["probes"]["startup"].update({"phaseTimeout": "5s", "timeout": "30s"})
    return out


@pytest.fixture
def viewer(world: GateWorld, cluster: Sandbox) -> Iterator[Path]:
    """A kubeconfig for someone who may only view the namespace: `view` plus the
    chart's view role, as a Helm install aggregates it."""
    helm = require_tools(("helm",), directory=cluster.bin_dir) / "helm"
    rendered = subprocess.run(
        [str(helm), "template", "plugin-views", str(CHART), "--show-only", AGGREGATED],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    (role,) = [
        o for o in yaml.safe_load_all(rendered) if o and o["metadata"]["name"].endswith("-view")
    ]
    role["metadata"] = {"name": f"{role['metadata']['name']}-{world.namespace}"}
    bindings = [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": f"viewer-{i}", "namespace": world.namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": n},
            "subjects": [{"kind": "User", "name": VIEWER, "apiGroup": "rbac.authorization.k8s.io"}],
        }
        for i, n in enumerate(["view", role["metadata"]["name"]])
    ]
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all([role, *bindings]))
    try:
        yield cluster.kubeconfig_for_user(VIEWER)
    finally:
        cluster.kubectl("delete", "clusterrole", role["metadata"]["name"], check=False)


def plugin_env(cluster: Sandbox, kubeconfig: Path) -> dict[str, str]:
    env = dict(cluster.env)
    env.update(KUBECONFIG=str(kubeconfig), TERM="xterm", COLUMNS="200", LINES="80")
    env["PYTHONFAULTHANDLER"] = "1"  # a plugin that ignores Ctrl-C shows where it hangs
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


DEFAULT_SIGINT = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL);"
    " os.execvp(sys.argv[1], sys.argv[1:])"
)


class Terminal:
    """`kubectl gate ...` in a pseudo-terminal; everything it prints, kept."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        master, slave = os.openpty()
        self.master = master
        # Ctrl-C as in a user's terminal: a suite started in the background (e.g.
        # `make test &` from a script) runs with SIGINT ignored, and Python then
        # never turns it into KeyboardInterrupt; the plugin gets the default back.
        self.process = subprocess.Popen(
            [sys.executable, "-c", DEFAULT_SIGINT, *argv],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            start_new_session=True,
        )
        os.close(slave)
        self._output = bytearray()
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # EIO: the other side is closed
                return
            if not chunk:
                return
            with self._lock:
                self._output += chunk

    def text(self) -> str:
        with self._lock:
            return self._output.decode(errors="replace").replace("\r\n", "\n")

    def wait_for(self, found: Callable[[str], Any], timeout: float, what: str) -> Any:
        return wait_until(
            lambda: found(self.text()),
            timeout,
            describe=lambda: f"terminal output so far:\n{self.text()[-6000:]}",
            what=what,
        )

    def interrupt(self) -> int:
        """Ctrl-C, as a user stops `-w`; the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            code = self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            # Still running: SIGABRT makes the plugin print every thread's stack
            # (PYTHONFAULTHANDLER) into the terminal, for the failure to show.
            self.process.send_signal(signal.SIGABRT)
            try:
                code = self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                code = self.process.wait(timeout=5)
        self._reader.join(timeout=5)
        os.close(self.master)
        return code


def get_phases(text: str) -> list[str]:
    """The PHASE column of every `get -w` line about the gate, repeats folded."""
    phases: list[str] = []
    for line in text.splitlines():
        cells = line.split()
        if len(cells) >= 2 and cells[0] == "chat" and (not phases or phases[-1] != cells[1]):
            phases.append(cells[1])
    return phases


def frames(text: str) -> list[str]:
    return [f for f in text.split(CLEAR) if f.strip()]


def field(frame: str, name: str) -> str:
    match = re.search(rf"^{name}:\s+(.*)$", frame, re.M)
    assert match, f"no {name}: line in\n{frame}"
    return match.group(1)


def subtree(frame: str, deployment: str) -> list[str]:
    """Pod names drawn under `Deployment <name>` in the tree."""
    lines = frame.splitlines()
    (start,) = [i for i, line in enumerate(lines) if f"Deployment {deployment} " in line]
    indent = lines[start].index("Deployment")
    pods = []
    for line in lines[start + 1 :]:
        match = re.search(r"Pod (\S+)", line)
        if not match or match.start() <= indent:
            break
        pods.append(match.group(1))
    return pods


def live_pods(world: GateWorld, role: str, revision: str | None = None) -> list[str]:
    selector = f"{GATE_LABEL}=chat,{ROLE_LABEL}={role}"
    if revision:
        selector += f",deploymentgate.dev/revision={revision}"
    listing = world.get(f"/api/v1/namespaces/{world.namespace}/pods?labelSelector={selector}")
    return sorted(
        p["metadata"]["name"]
        for p in listing["items"]
        if not p["metadata"].get("deletionTimestamp")
    )


def test_a_viewer_watches_a_rollout_with_get_w_and_reads_its_tree_with_status(
    world: GateWorld, cluster: Sandbox, start_operator: StartOperator, viewer: Path
) -> None:
    world.apply(chat_deployment(version="v1", replicas=2), chat_service())
    start_operator(world.namespace)
    world.apply(gate(spec()))
    stable = str(world.wait_phase("Idle", 60)["stableRevision"])

    env = plugin_env(cluster, viewer)
    kubectl = str(cluster.bin_dir / "kubectl")
    ns = ["-n", world.namespace]
    get_w = Terminal([kubectl, "gate", "get", "-w", *ns], env)
    status_w = Terminal([kubectl, "gate", "status", "chat", "-w", *ns], env)
    try:
        get_w.wait_for(lambda t: get_phases(t) == ["Idle"], 30, "get -w: the table with chat Idle")
        assert get_w.text().split()[: len(HEADER)] == list(HEADER)
        status_w.wait_for(lambda t: "Phase:" in t, 30, "status -w: a first frame")

        # v2 starts slowly (a second per startup phase), so Verifying lasts a while.
        world.set_version("v2", CHAT_PHASE_SECONDS="1")

        def at_step() -> dict[str, Any] | None:
            st = world.status()
            return st if st.get("phase") == "Progressing" and st.get("stepReadySince") else None

        world.wait_phase("Progressing", 90)
        status = wait_until(at_step, 60, describe=world.diagnostics, what="step 1 in effect")
        revision = str(status["revision"])

        # get -w: the table first, then a line as the phase changes.
        phases = get_w.wait_for(
            lambda t: (p := get_phases(t))[-1:] == ["Progressing"] and p,
            15,
            "get -w: a Progressing line",
        )
        assert phases[:2] == ["Idle", "Verifying"], phases
        assert "Progressing" in phases[2:], phases
        progressing = [line for line in get_w.text().splitlines() if " Progressing " in line]
        assert revision in progressing[-1] and "50%" in progressing[-1], progressing[-1]

        # status -w redrew while v2 was under test at 0%: its verification Deployment
        # and pod were in the tree.
        verifying = [
            f
            for f in frames(status_w.text())
            if field(f, "Phase").startswith("Verifying") and subtree_or_none(f, "chat-verify")
        ]
        assert verifying, f"no frame showed chat-verify with a pod:\n{status_w.text()[-6000:]}"
        print(f"$ kubectl gate status chat -w  (a frame while Verifying)\n{verifying[-1]}")
        assert f"revision under test {revision}" in verifying[-1]
        assert f"stable revision {stable}" in verifying[-1]

        # status, once, mid-step: both serving Deployments and exactly their pods.
        last_event = world.events()[-1]["reason"]
        shown = subprocess.run(
            [kubectl, "gate", "status", "chat", *ns],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
        assert shown.returncode == 0, shown.stderr
        out = shown.stdout
        print(f"$ kubectl gate get -w\n{get_w.text()}\n$ kubectl gate status chat\n{out}")
        assert field(out, "Phase").startswith("Progressing")
        assert field(out, "Weights") == "stable 50%, revision under test 50%  (steps 50, 100%)"
        assert re.fullmatch(
            r"1 of 2: \[50\], 100%, for \d+s, pods ready for \d+s", field(out, "Step")
        )
        assert subtree(out, f"chat-{stable}") == live_pods(world, "serving", stable)
        assert subtree(out, f"chat-{revision}") == live_pods(world, "serving", revision)
        assert live_pods(world, "serving", revision), "the canary has pods"
        assert "chat-verify" not in out  # verification ends when traffic moves
        assert out.index(f"stable revision {stable}") < out.index(f"Deployment chat-{stable}")
        assert out.index(f"revision under test {revision}") < out.index(
            f"Deployment chat-{revision}"
        )
        assert re.search(r"^  startup\s+✅ .*\n.*phases observed (\d+)/\1\b", out, re.M), out
        assert re.search(r"^  health\s+✅ .*\n(.*\n)?.*latency_ms \d", out, re.M), out
        assert re.search(r"^  websocket\s+✅", out, re.M), out
        assert last_event in out.split("Events (last 5):")[1], out
    finally:
        codes = (get_w.interrupt(), status_w.interrupt())
    assert codes == (0, 0), (
        f"{codes}\n--- get -w\n{get_w.text()[-3000:]}\n--- status -w\n{status_w.text()[-3000:]}"
    )
    for term in (get_w, status_w):
        assert "Traceback" not in term.text() and "error:" not in term.text()


def subtree_or_none(frame: str, deployment: str) -> list[str] | None:
    try:
        return subtree(frame, deployment) or None
    except ValueError:
        return None


def test_status_of_a_missing_gate_is_an_error_not_a_traceback(
    world: GateWorld, cluster: Sandbox, viewer: Path
) -> None:
    result = subprocess.run(
        [str(cluster.bin_dir / "kubectl"), "gate", "status", "nope", "-n", world.namespace],
        capture_output=True,
        text=True,
        timeout=60,
        env=plugin_env(cluster, viewer),
    )
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: gate nope not found in namespace {world.namespace}"
