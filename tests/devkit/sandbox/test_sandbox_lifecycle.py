"""Starting and stopping sandboxes: the CLI round trip, and no leftovers however it ends."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from deploymentgate_devkit.sandbox import MissingBinariesError, Sandbox
from deploymentgate_devkit.sandbox.ports import wait_ports_free
from deploymentgate_devkit.sandbox.processes import processes_with_env, wait_processes_gone
from deploymentgate_devkit.sandbox.state import MARKER_ENV, SandboxState

pytestmark = pytest.mark.timeout(90)


def _cli(*args: str, env: dict[str, str], timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "deploymentgate", "sandbox", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


def test_missing_tools_are_reported_with_how_to_build_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEPLOYMENTGATE_BIN", str(tmp_path))
    with pytest.raises(MissingBinariesError, match=r"cluster/build\.sh"):
        Sandbox.start(tmp_path / "never")
    assert not (tmp_path / "never").exists()


@pytest.mark.cluster  # starts a sandbox of its own from the built tools
def test_cli_up_status_down_round_trip(tmp_path: Path) -> None:
    env = {**os.environ, "DEPLOYMENTGATE_SANDBOX_DIR": str(tmp_path / "sbx")}
    up = _cli("up", env=env)
    assert up.returncode == 0, up.stderr
    exports = dict(re.findall(r"^export (\w+)=(.*)$", up.stdout, re.MULTILINE))
    assert set(exports) == {"KUBECONFIG", "PATH"}
    kubeconfig = exports["KUBECONFIG"].strip("'\"")
    bin_dir = exports["PATH"].strip('"').split(":")[0]
    state = SandboxState.load(tmp_path / "sbx")
    assert state is not None and state.status == "ready"
    try:
        again = _cli("up", env=env)
        assert again.returncode == 0 and "already running" in again.stderr
        assert again.stdout == up.stdout

        nodes = subprocess.run(
            [f"{bin_dir}/kubectl", "get", "nodes", "-o", "name"],
            capture_output=True,
            text=True,
            env={**env, "KUBECONFIG": kubeconfig},
            timeout=30,
        )
        assert nodes.stdout.split() == ["node/sandbox-node-1", "node/sandbox-node-2"]

        status = _cli("status", env=env)
        assert status.returncode == 0, status.stderr
        for expected in (
            "ready",
            state.api_url or "?",
            "kube-apiserver",
            "etcd",
            "sandbox-node-1",
            "pods",
        ):
            assert expected in status.stdout
    finally:
        down = _cli("down", env=env)
    assert down.returncode == 0, down.stderr
    assert "no process or port left" in down.stdout
    assert processes_with_env(MARKER_ENV, state.sandbox_id) == []
    assert wait_ports_free(state.ports, timeout=1) == []
    assert _cli("status", env=env).returncode == 1


@pytest.mark.cluster  # starts a sandbox of its own from the built tools
def test_sandbox_dies_with_its_parent_and_cleans_up(tmp_path: Path) -> None:
    """The owner killed with SIGKILL (no finalizer runs): the supervisor still cleans up."""
    script = textwrap.dedent(
        """
        import sys, time
        from deploymentgate_devkit.sandbox import Sandbox
        sandbox = Sandbox.start()
        sandbox.kubectl("run", "web", "--image=sandbox/exec", "--restart=Never", "--command",
                        "--", "python", "-m", "http.server", "--bind", "$(POD_IP)", "0")
        sandbox.wait_for(lambda: sandbox.pod_log("default", "web"), timeout=30)
        print(sandbox.workdir, sandbox.sandbox_id, flush=True)
        time.sleep(300)
        """
    )
    owner = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        assert owner.stdout is not None
        workdir, sandbox_id = owner.stdout.readline().split()
        state = SandboxState.load(Path(workdir))
        assert state is not None
        alive = processes_with_env(MARKER_ENV, sandbox_id)
        assert any("http.server" in p.cmdline for p in alive)
        assert any("kube-apiserver" in p.cmdline for p in alive)
    finally:
        os.killpg(owner.pid, signal.SIGKILL)
        owner.wait()
    started = time.monotonic()
    assert wait_processes_gone(MARKER_ENV, sandbox_id, timeout=30) == []
    assert wait_ports_free(state.ports, timeout=5) == []
    deadline = time.monotonic() + 5
    while Path(workdir).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(workdir).exists()
    assert time.monotonic() - started < 15


@pytest.mark.cluster  # starts a sandbox of its own from the built tools
def test_every_child_dies_with_a_killed_supervisor() -> None:
    """SIGKILL leaves the supervisor no chance to clean up: the kernel's death signal must."""
    sandbox = Sandbox.start()
    try:
        sandbox.kubectl(
            "run", "web", "--image=sandbox/exec", "--restart=Never", "--command",
            "--", "python", "-m", "http.server", "--bind", "$(POD_IP)", "0",
        )  # fmt: skip
        sandbox.wait_for(lambda: sandbox.pod_log("default", "web"), timeout=30)
        commands = " ".join(p.cmdline for p in sandbox.processes())
        for expected in ("etcd", "kube-apiserver", "kube-controller-manager", "http.server"):
            assert expected in commands
        os.kill(sandbox.state.supervisor_pid, signal.SIGKILL)
        assert wait_processes_gone(MARKER_ENV, sandbox.sandbox_id, timeout=10) == []
    finally:
        report = sandbox.stop()
    assert report.clean, report.describe()
    assert not sandbox.workdir.exists()
