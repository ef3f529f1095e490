"""`demo --keep` / `demo --down`: an operator that outlives the demo command, stopped by its
record, and never outliving its cluster."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploymentgate_devkit.demo.kept import MARKER_ENV, KeptDemo, KeptOperator
from deploymentgate_devkit.sandbox import Sandbox
from deploymentgate_devkit.sandbox.processes import processes_with_env, wait_processes_gone

DOWN = [sys.executable, "-m", "deploymentgate", "demo", "--down"]

# What `demo --keep` does, in a process that then exits, as the demo command does.
SPAWN_AND_EXIT = """
import json, sys
from pathlib import Path
from deploymentgate_devkit.demo.kept import KeptDemo, KeptOperator
op = KeptOperator.spawn(Path(sys.argv[1]), namespace="kept", tick=0.5)
op.wait_live()
KeptDemo(op.pid, op.marker, op.metrics_url, str(op.log_path), "kept").save(Path(sys.argv[1]))
print(json.dumps({"pid": op.pid, "marker": op.marker}))
"""


@pytest.fixture
def own_sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    """A cluster of this test's own: these tests stop it."""
    sandbox = Sandbox.start(tmp_path / "sandbox", nodes=1)
    try:
        yield sandbox
    finally:
        assert sandbox.stop().clean


def spawn_kept_operator(sandbox: Sandbox) -> KeptOperator:
    started = subprocess.run(
        [sys.executable, "-c", SPAWN_AND_EXIT, str(sandbox.workdir)],
        capture_output=True,
        text=True,
        timeout=90,
        check=True,
    )
    info = json.loads(started.stdout)
    record = KeptDemo.load(sandbox.workdir)
    assert record is not None and record.operator_pid == info["pid"]
    return KeptOperator.from_kept(record)


@pytest.mark.cluster
def test_a_kept_operator_outlives_the_demo_command_until_demo_down_stops_it(
    own_sandbox: Sandbox,
) -> None:
    operator = spawn_kept_operator(own_sandbox)
    try:
        assert operator.running, "the operator died with the command that started it"
        assert os.getsid(operator.pid) == operator.pid  # its own session: no shared Ctrl-C
        assert "deploymentgate_build_info" in operator.metrics()
        # the keeper and the operator under it
        assert len(processes_with_env(MARKER_ENV, operator.marker)) == 2

        down = subprocess.run(
            [*DOWN, "--dir", str(own_sandbox.workdir)],
            capture_output=True,
            text=True,
            timeout=90,
        )

        assert down.returncode == 0, down.stdout + down.stderr
        assert "no process or port left" in down.stdout
        assert not processes_with_env(MARKER_ENV, operator.marker)
        assert Sandbox.attach(own_sandbox.workdir) is None
        assert KeptDemo.load(own_sandbox.workdir) is None
    finally:
        operator.stop(grace=2.0)


@pytest.mark.cluster
def test_a_kept_operator_ends_when_its_cluster_is_stopped_another_way(
    own_sandbox: Sandbox,
) -> None:
    operator = spawn_kept_operator(own_sandbox)
    try:
        assert operator.running

        assert own_sandbox.stop().clean  # what `deploymentgate sandbox down` does

        left = wait_processes_gone(MARKER_ENV, operator.marker, timeout=30.0)
        assert not left, f"the operator outlived its cluster: {left}"
    finally:
        operator.stop(grace=2.0)


def test_down_never_signals_a_process_that_merely_reuses_the_recorded_pid() -> None:
    stranger = KeptOperator(os.getpid(), "not-this-process", "http://127.0.0.1:1/", Path("x"))

    assert not stranger.running
    assert stranger.stop()  # nothing of *that* operator is left; we were not touched


def test_down_without_a_kept_demo_says_so_and_succeeds(tmp_path: Path) -> None:
    down = subprocess.run(
        [*DOWN, "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert down.returncode == 0
    assert f"no kept demo in {tmp_path.resolve()}" in down.stdout
