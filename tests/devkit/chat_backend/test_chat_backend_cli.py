"""``python -m chat_backend`` as a simulated node runs it: a real process, signals, exit codes."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from chat_backend_helpers import FAST_ENV, ws_url
from websockets.exceptions import ConnectionClosedOK
from websockets.sync.client import connect as ws_connect

from chat_backend.__main__ import build_parser
from chat_backend.testing import backend_process, wait_until_listening


def wait_healthy_sync(client: httpx.Client, url: str, timeout: float = 10.0) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = client.get(f"{url}/health")
        if response.status_code == 200:
            return response
        time.sleep(0.02)
    raise AssertionError(f"{url} not healthy within {timeout}s")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_process_serves_then_exits_cleanly_and_quickly_on_signal(sig: signal.Signals) -> None:
    with backend_process("healthy", version="7.0.0", env=FAST_ENV) as backend:
        with httpx.Client(trust_env=False, timeout=5) as client:
            body = wait_healthy_sync(client, backend.url).json()
        assert body["version"] == "7.0.0" and body["mode"] == "healthy"
        with ws_connect(ws_url(backend.url), proxy=None, open_timeout=5) as ws:
            ws.recv(timeout=5)  # connection_established
            started = time.monotonic()
            backend.process.send_signal(sig)
            with pytest.raises(ConnectionClosedOK) as closed:
                ws.recv(timeout=5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
        assert backend.process.wait(timeout=5) == 0
        assert time.monotonic() - started < 3.0
        log = backend.log()
    for phase in ("INIT", "DEPENDENCIES", "DATABASE", "CACHE", "SERVICES", "WEBSOCKET", "FINALIZE"):
        assert log.count(f"startup phase {phase} started") == 1
    assert "listening on http://127.0.0.1:" in log and "Traceback" not in log


def test_process_takes_its_configuration_from_the_environment(tmp_path: Path) -> None:
    env = {
        **FAST_ENV,
        "CHAT_MODE": "errors-8pct",
        "APP_VERSION": "8.8.8",
        "POD_IP": "127.0.0.1",
        "PORT": "0",
        "PATH": "/usr/bin:/bin",
    }
    log_path = tmp_path / "stderr.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "chat_backend"], stdout=log_file, stderr=log_file, env=env
        )
    try:
        url = wait_until_listening(process, log_path, timeout=15)
        with httpx.Client(trust_env=False, timeout=5) as client:
            wait_healthy_sync(client, url)
            version = client.get(f"{url}/version").json()
            pod = client.get(f"{url}/api/chat").json()["pod"]
    finally:
        process.terminate()
        process.wait(timeout=5)
    assert version == {"version": "8.8.8", "mode": "errors-8pct"}
    assert pod == "chat-test-pod"


def test_unknown_mode_exits_nonzero_with_the_valid_modes() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "chat_backend", "--port", "0", "--mode", "sometimes-broken"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "unknown mode 'sometimes-broken'" in result.stderr
    assert "healthy" in result.stderr and "ws-drops" in result.stderr


def test_flags_win_over_environment_defaults() -> None:
    env = {"POD_IP": "127.0.0.9", "PORT": "9000", "CHAT_MODE": "ws-drops"}
    defaults = build_parser(env).parse_args([])
    assert (defaults.host, defaults.port, defaults.mode) == ("127.0.0.9", 9000, "ws-drops")
    argv = ["--host", "127.0.0.2", "--port", "81", "--mode", "healthy"]
    flags = build_parser(env).parse_args(argv)
    assert (flags.host, flags.port, flags.mode) == ("127.0.0.2", 81, "healthy")
    assert build_parser({}).parse_args([]).port == 8000
