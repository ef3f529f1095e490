"""`deploymentgate demo --router gatewayAPI`: the same story through a real gateway.

Users go through Traefik and an HTTPRoute; the good revision is stepped
1 -> 10 -> 50 -> 100% by route weight and promoted, the bad one rolled back.
Runs as a real process, like `make demo` (which stays the replica demo).
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
import uuid

import pytest
from test_demo_end_to_end import BUDGET_SECONDS, MARKER_ENV, demo_env, tail

from deploymentgate_devkit.sandbox.binaries import bin_dir
from deploymentgate_devkit.sandbox.processes import wait_processes_gone

DEMO = [sys.executable, "-m", "deploymentgate", "demo", "--router", "gatewayAPI"]

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


@pytest.mark.timeout(BUDGET_SECONDS + 120)
def test_gateway_demo_steps_by_route_weight_promotes_and_rolls_back() -> None:
    if not (bin_dir() / "traefik").is_file():
        pytest.skip(f"no traefik binary in {bin_dir()}: cluster/build.sh builds it")
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
    assert "through the gateway" in out
    # Each step's line shows the weight asked for, the weights read back from the
    # route, and what users saw.
    for weight in (1, 10, 50, 100):
        line = rf"Progressing\s+step \d/4\s+{weight:3d}% to v2\s+route {100 - weight}/{weight}\b"
        assert re.search(line + r".*\| users \(last 5s\): ", out), (weight, tail(out))
    # Promoted with all of the route on v2: weight 100 on the canary Service, or,
    # once the stable Service is pointed at v2 (the demo may ship v3 first), on that.
    promoted = r"^\s+[\d.]+s\s+Promoted\s+100% to v2\s+route (100/0|0/100)\b"
    assert re.search(promoted, out, re.MULTILINE)
    assert re.search(r"^\s+[\d.]+s\s+RolledBack\s+0% to v3\s+route 100/0\b", out, re.MULTILINE)
    assert "✅ gate phase Promoted" in out
    assert "✅ gate phase RolledBack, reason: error rate over 5%" in out
    assert "chat-stable weight 100" in out and "chat-canary weight 0" in out
    assert "promoted step by step by HTTPRoute weight" in out
    assert "Stopped: no process or port of the demo is left." in out
    assert not wait_processes_gone(MARKER_ENV, marker, timeout=5.0)
    assert took < BUDGET_SECONDS, f"demo took {took:.0f}s"


def test_gateway_demo_refuses_keep() -> None:
    result = subprocess.run(
        [*DEMO, "--keep"], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
    )
    assert result.returncode == 2
    assert "--router gatewayAPI runs without --keep/--down only" in result.stdout
