"""`deploymentgate demo` as `make demo` runs it: the CI proof that the story holds.

The demo runs as a real process with a marker in its environment that every
process it starts inherits (sandbox, pods, operator), so "nothing left
behind" is checked by looking for that marker afterwards.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from deploymentgate_devkit.sandbox.processes import processes_with_env, wait_processes_gone

MARKER_ENV = "DEPLOYMENTGATE_DEMO_TEST_RUN"  # DEPLOYMENTGATE_*: passed on to pod processes too
DEMO = [sys.executable, "-m", "deploymentgate", "demo"]
BUDGET_SECONDS = 180  # the promise: under 3 minutes once the tools are built

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


def demo_env(marker: str) -> dict[str, str]:
    return {**os.environ, MARKER_ENV: marker, "PYTHONIOENCODING": "utf-8"}


def tail(text: str, lines: int = 80) -> str:
    return "\n".join(text.splitlines()[-lines:])


@pytest.mark.timeout(BUDGET_SECONDS + 120)
def test_demo_promotes_the_good_version_reverts_the_bad_one_and_leaves_nothing_running() -> None:
    marker = uuid.uuid4().hex
    began = time.monotonic()
    result = subprocess.run(
        DEMO,
        env=demo_env(marker),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=BUDGET_SECONDS + 60,
    )
    took = time.monotonic() - began
    out = result.stdout

    assert result.returncode == 0, f"demo failed:\n{tail(out)}\n{tail(result.stderr, 20)}"
    # progress lines show each step of v2 and its promotion...
    for weight in (25, 50, 100):
        assert re.search(rf"Progressing\s+step \d/3\s+{weight}% to v2\b", out), weight
    assert re.search(r"^\s+[\d.]+s\s+Promoted\s+100% to v2\b", out, re.MULTILINE)
    # ...and the bad version rolled back by the error-rate trigger
    assert re.search(r"^\s+[\d.]+s\s+RolledBack\s+0% to v3\b", out, re.MULTILINE)
    assert "✅ gate phase Promoted" in out
    assert "✅ gate phase RolledBack, reason: error rate over 5%" in out
    assert out.count("✅ every user request of the last 5s answered by v2") == 2
    # the closing views: kubectl describe and the operator's metrics
    assert "Rollback Reason:" in out
    assert 'deploymentgate_rollbacks_total{reason="errorRate"} 1' in out
    assert "Stopped: no process or port of the demo is left." in out
    assert not wait_processes_gone(MARKER_ENV, marker, timeout=5.0)
    assert took < BUDGET_SECONDS, f"demo took {took:.0f}s"


def _lines(proc: subprocess.Popen[str]) -> queue.Queue[str | None]:
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return lines


# How the demo gets started: by us directly, or as `make demo &` in a script
# does, a background job of a non-interactive shell, which starts it with
# SIGINT ignored (POSIX: job control off, so asynchronous lists ignore SIGINT).
BACKGROUND_JOB = '"$@" & echo "$!" > "$DEMO_PIDFILE"; wait "$!"'


def sigint_ignored_in_a_background_job() -> bool:
    """The premise of the background variant: does `sh` start jobs with SIGINT ignored?"""
    probe = "import signal; print(signal.getsignal(signal.SIGINT) is signal.SIG_IGN)"
    out = subprocess.run(
        ["sh", "-c", '"$1" -c "$2" & wait "$!"', "sh", sys.executable, probe],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return out.stdout.strip() == "True"


@pytest.mark.timeout(240)
@pytest.mark.parametrize("started", ["directly", "as a background job of sh"])
def test_ctrl_c_mid_demo_stops_the_operator_the_cluster_and_every_pod(
    started: str, tmp_path: Path
) -> None:
    marker = uuid.uuid4().hex
    env = demo_env(marker)
    pidfile = tmp_path / "demo.pid"
    argv = DEMO
    if started != "directly":
        assert sigint_ignored_in_a_background_job()
        env["DEMO_PIDFILE"] = str(pidfile)
        argv = ["sh", "-c", BACKGROUND_JOB, "sh", *DEMO]
    proc = subprocess.Popen(
        argv,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = _lines(proc)
    seen: list[str] = []
    try:
        deadline = time.monotonic() + 120
        while not any("Sending" in line for line in seen):  # operator and app are up
            assert time.monotonic() < deadline, "demo never got going:\n" + "".join(seen)
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            assert line is not None, "demo ended early:\n" + "".join(seen)
            seen.append(line)
        running = processes_with_env(MARKER_ENV, marker)
        assert len(running) >= 4, running  # supervisor, control plane, pods, operator

        # Ctrl-C reaches the demo itself (in the background case, not the shell).
        demo_pid = int(pidfile.read_text()) if started != "directly" else proc.pid
        os.kill(demo_pid, signal.SIGINT)
        code = proc.wait(timeout=90)  # the shell's `wait` hands back the demo's status
    finally:
        if proc.poll() is None:
            if pidfile.exists():  # the demo under the shell: it takes its pods along
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pidfile.read_text()), signal.SIGKILL)
            proc.kill()
            proc.wait()
    while (line := lines.get(timeout=10)) is not None:
        seen.append(line)
    out = "".join(seen)

    assert code == 130, tail(out)
    assert "interrupted; stopping everything the demo started" in out
    assert "Stopped: no process or port of the demo is left." in out
    assert not wait_processes_gone(MARKER_ENV, marker, timeout=5.0)
