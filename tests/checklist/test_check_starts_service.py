"""`deploymentgate check` in CI, where scripts start the service first (issue 21).

The example gate, with the reference chat backend as a real process on a
loopback address of its own. The backend runs without its phase record
(CHAT_PHASE_RECORD=0), as most apps do: then only polling from the start can
see its phases.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from chat_backend.testing import backend_process

pytestmark = pytest.mark.timeout(90)

REPO = Path(__file__).resolve().parents[2]
NO_RECORD = {"CHAT_PHASE_RECORD": "0"}


def free_address() -> tuple[str, int]:
    """A loopback address of its own (127.0.0.x) and a port free on it."""
    host = f"127.0.0.{random.randint(2, 254)}"
    with socket.socket() as sock:
        sock.bind((host, 0))
        return host, int(sock.getsockname()[1])


@pytest.fixture
def gate(tmp_path: Path) -> str:
    """examples/chat-gate.yaml with the health latency bound of the other check tests
    (2 s): these test the checklist's verdicts, not how busy the machine is."""
    text = (REPO / "examples" / "chat-gate.yaml").read_text()
    relaxed = text.replace("maxLatency: 250ms", "maxLatency: 2s")
    assert relaxed != text
    path = tmp_path / "chat-gate.yaml"
    path.write_text(relaxed)
    return str(path)


@dataclass
class Result:
    code: int
    out: str
    err: str


async def check(*args: str, env: dict[str, str], timeout: float = 60) -> Result:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "deploymentgate",
        "check",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **env},
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return Result(process.returncode, out.decode(), err.decode())


def line(out: str, title: str) -> str:
    return next(x for x in out.splitlines() if title in x)


async def test_check_after_the_service_started_has_no_data_for_its_startup(gate: str) -> None:
    """Today's CI script: the service first, then `check --url`. Every other item
    passes, but the startup probe saw the service already running: ⚠️, exit 1."""
    host, port = free_address()
    with backend_process("healthy", host=host, port=port, env=NO_RECORD) as backend:
        result = await check("-f", gate, "--url", backend.url, env={})
    assert result.code == 1, result.out + result.err
    startup = line(result.out, "Startup sequence")
    assert startup.startswith("⚠️ Startup sequence"), result.out
    assert "first phases unseen" in startup or "already started when first polled" in startup
    for title in ("Health endpoint", "WebSocket events", "Error rate"):
        assert line(result.out, title).startswith(f"✅ {title}"), result.out
    assert result.out.rstrip().endswith("Result: FAILED (3 passed, 0 failed, 1 no data)")
