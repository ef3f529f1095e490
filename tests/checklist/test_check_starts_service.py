"""`deploymentgate check` in CI, where scripts start the service first (issue 21),
and `check ... -- COMMAND`, which starts the service itself.

The example gate, with the reference chat backend as a real process on a
loopback address of its own. The backend runs without its phase record
(CHAT_PHASE_RECORD=0), as most apps do: then only polling from the start can
see its phases. Every process check starts carries an environment marker of
its test, so that any left behind is found, however it was re-parented.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shlex
import signal
import socket
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from chat_backend.testing import backend_process
from deploymentgate_devkit.sandbox.processes import (
    kill_processes,
    processes_with_env,
    wait_processes_gone,
)

pytestmark = pytest.mark.timeout(90)

REPO = Path(__file__).resolve().parents[2]
NO_RECORD = {"CHAT_PHASE_RECORD": "0"}
MARK = "DEPLOYMENTGATE_CHECK_SERVICE_TEST"


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


@pytest.fixture
def env() -> Iterator[dict[str, str]]:
    """The check's environment (its service inherits it): no phase record, and a
    marker of this test. Whatever a failed test left running is killed after it."""
    marked = {**NO_RECORD, MARK: uuid.uuid4().hex}
    yield marked
    kill_processes(processes_with_env(MARK, marked[MARK]))


def assert_no_leftovers(env: dict[str, str]) -> None:
    """Nothing the check started survives it (a killed process gets 2 s to go)."""
    left = wait_processes_gone(MARK, env[MARK], timeout=2.0)
    assert not left, f"left running: {left}"


def backend(host: str, port: int, mode: str = "healthy") -> list[str]:
    return [
        sys.executable,
        "-m",
        "chat_backend",
        "--host",
        host,
        "--port",
        str(port),
        "--mode",
        mode,
    ]


@dataclass
class Result:
    code: int
    out: str
    err: str


async def start_check(*args: str, env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "deploymentgate",
        "check",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **env},
    )


async def check(*args: str, env: dict[str, str], timeout: float = 60) -> Result:
    """The check's result once it exited and its output closed: a process left
    holding its stderr would hold this up until `timeout`."""
    process = await start_check(*args, env=env)
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return Result(process.returncode, out.decode(), err.decode())


def line(out: str, title: str) -> str:
    return next(x for x in out.splitlines() if title in x)


def words(out: str) -> str:
    """The report with its wrapped lines joined, for messages that may wrap."""
    return " ".join(out.split())


async def test_check_after_the_service_started_has_no_data_for_its_startup(gate: str) -> None:
    """A CI script's order: the service first, then `check --url`. Every other item
    passes, but the startup probe found the service past its first phase: ⚠️, exit 1."""
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


async def test_check_starts_the_service_and_sees_every_phase(
    gate: str, env: dict[str, str]
) -> None:
    """The same service started by `check -- COMMAND`: the startup probe sees it
    from its first phase, every item passes, and the service is gone after."""
    host, port = free_address()
    url = f"http://{host}:{port}"
    result = await check("-f", gate, "--url", url, "--", *backend(host, port), env=env)
    assert result.code == 0, result.out + result.err
    lines = result.out.splitlines()
    assert lines[0] == f"DeploymentGate chat — checking {url}"
    for title in ("Startup sequence", "Health endpoint", "WebSocket events", "Error rate"):
        assert line(result.out, title).startswith(f"✅ {title}"), result.out
    assert line(result.out, "Startup sequence").startswith("✅ Startup sequence  INIT ")
    assert "phases observed)" in words(result.out)  # by polling: there is no phase record
    assert lines[-1] == "Result: PASSED (4 passed, 0 failed)"
    assert f"listening on {url}" in result.err  # the service's log, on check's stderr
    assert_no_leftovers(env)


async def test_check_fails_a_service_whose_startup_fails(gate: str, env: dict[str, str]) -> None:
    host, port = free_address()
    url = f"http://{host}:{port}"
    command = backend(host, port, "startup-fails")
    result = await check("-f", gate, "--url", url, "--", *command, env=env)
    assert result.code == 1, result.out + result.err
    startup = line(result.out, "Startup sequence")
    assert startup.startswith("❌ Startup sequence  INIT"), result.out
    assert "startup failed in DATABASE" in result.out
    assert "Service" not in result.out  # it ran until the check stopped it
    assert result.out.rstrip().endswith("Result: FAILED (0 passed, 4 failed)")
    assert_no_leftovers(env)


@pytest.mark.parametrize(
    ("code", "how"),
    [
        ("import sys; sys.exit(3)", "exited with code 3"),
        ("import os, signal; os.kill(os.getpid(), signal.SIGKILL)", "was killed by SIGKILL"),
    ],
)
async def test_check_fails_naming_a_service_that_exits_early(
    gate: str, env: dict[str, str], code: str, how: str
) -> None:
    host, port = free_address()
    command = [sys.executable, "-c", code]
    result = await check("-f", gate, "--url", f"http://{host}:{port}", "--", *command, env=env)
    assert result.code == 1, result.out + result.err
    service = line(result.out, "Service")
    assert service.startswith(f"❌ Service           {sys.executable} -c "), result.out
    assert f"{how} before the checks finished" in words(result.out)
    assert result.out.rstrip().endswith("Result: FAILED (0 passed, 0 failed, the service exited)")


async def test_check_json_names_the_exit_of_the_service(gate: str, env: dict[str, str]) -> None:
    host, port = free_address()
    command = [sys.executable, "-c", "import sys; sys.exit(3)"]
    url = f"http://{host}:{port}"
    result = await check("-f", gate, "--url", url, "--json", "--", *command, env=env)
    assert result.code == 1, result.out + result.err
    report = json.loads(result.out)
    assert report["passed"] is False
    assert report["serviceExit"]["exitCode"] == 3 and report["serviceExit"]["signal"] is None


async def test_check_stops_a_shell_wrapper_and_its_children(gate: str, env: dict[str, str]) -> None:
    """The service behind a shell wrapper is in the wrapper's process group, which
    check stops as a whole. Without the startup probe the probes wait until the
    service listens (it is ready at once here)."""
    host, port = free_address()
    wrapper = f"{shlex.join(backend(host, port))} & wait"
    url = f"http://{host}:{port}"
    args = ["-f", gate, "--url", url, "--only", "health,websocket", "--", "sh", "-c", wrapper]
    result = await check(*args, env={**env, "CHAT_PHASE_SECONDS": "0"})
    assert result.code == 0, result.out + result.err
    assert result.out.rstrip().endswith("Result: PASSED (2 passed, 0 failed)")
    assert_no_leftovers(env)


async def test_sigterm_stops_the_check_and_its_service(gate: str, env: dict[str, str]) -> None:
    """CI cancelling a job signals check; its service, in a group of its own, goes too."""
    host, port = free_address()
    url = f"http://{host}:{port}"
    process = await start_check("-f", gate, "--url", url, "--", *backend(host, port), env=env)
    assert process.stderr is not None
    try:
        async with asyncio.timeout(60):
            log = b""
            while b"listening on" not in log and not process.stderr.at_eof():
                log = await process.stderr.readline()
            process.send_signal(signal.SIGTERM)
            _, err = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert b"listening on" in log
    assert process.returncode == 128 + signal.SIGTERM
    assert b"stopped by SIGTERM" in err
    assert_no_leftovers(env)


async def test_check_refuses_an_address_in_use(
    gate: str, env: dict[str, str], tmp_path: Path
) -> None:
    """Something listens at --url already: check says so, and starts nothing."""
    host, port = free_address()
    ran = tmp_path / "ran"
    command = [sys.executable, "-c", f"open({str(ran)!r}, 'w')"]
    with socket.socket() as taken:
        taken.bind((host, port))
        taken.listen()
        result = await check("-f", gate, "--url", f"http://{host}:{port}", "--", *command, env=env)
    assert result.code == 2, result.out + result.err
    assert f"{host}:{port} is in use" in result.err
    assert not ran.exists()


async def test_check_with_nothing_after_the_dashes_is_a_usage_error(
    gate: str, env: dict[str, str]
) -> None:
    result = await check("-f", gate, "--url", "http://127.0.0.1:9", "--", env=env)
    assert result.code == 2
    assert "nothing after `--`" in result.err
