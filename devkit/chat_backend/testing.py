"""Run a real backend from tests: in-process (async) or as a subprocess (sync).

The in-process form is fastest and shares the test's event loop, so the test
must only use async clients. Use `backend_process` when the client blocks, or
when the process boundary itself matters (signals, exit codes, logs).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

from chat_backend.config import BackendConfig
from chat_backend.server import start_server

_LISTENING = re.compile(r"listening on (http://\S+)")


@asynccontextmanager
async def run_backend(
    mode: str,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    version: str = "test",
    env: Mapping[str, str] | None = None,
) -> AsyncIterator[str]:
    """Serve `mode` in this event loop; yield the base URL once it listens.

    `env` overrides os.environ for this backend only (CHAT_PHASE_SECONDS,
    CHAT_FLAP_SECONDS, POD_NAME, ...); os.environ itself is not changed.
    Raises UnknownModeError for an unknown mode.
    """
    merged = {**os.environ, **(env or {})}
    config = BackendConfig.from_env(mode, version, merged)
    server = await start_server(config, host, port)
    try:
        yield server.url
    finally:
        await server.stop()


@dataclass
class BackendProcess:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def terminate(self, timeout: float = 5.0) -> int:
        """SIGTERM, wait; SIGKILL if it does not exit in time. Returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout)
        return self.process.returncode


@contextmanager
def backend_process(
    mode: str,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    version: str = "test",
    env: Mapping[str, str] | None = None,
    ready_timeout: float = 15.0,
) -> Iterator[BackendProcess]:
    """Run ``python -m chat_backend`` and yield once it listens; SIGTERM it on exit.

    Raises RuntimeError (with the process's log) if it exits or stays silent
    past `ready_timeout`.
    """
    with tempfile.TemporaryDirectory(prefix="chat-backend-") as tmp:
        log_path = Path(tmp) / "stderr.log"
        command = [sys.executable, "-m", "chat_backend", "--host", host, "--port", str(port)]
        command += ["--mode", mode, "--version", version]
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=log_file,
                env={**os.environ, **(env or {})},
            )
        running: BackendProcess | None = None
        try:
            url = wait_until_listening(process, log_path, ready_timeout)
            running = BackendProcess(url, process, log_path)
            yield running
        finally:
            if running is not None:
                running.terminate()
            elif process.poll() is None:
                process.kill()
                process.wait(timeout=5.0)


def wait_until_listening(process: subprocess.Popen[bytes], log_path: Path, timeout: float) -> str:
    """The base URL a backend logged ("listening on ...") to `log_path`, its stderr."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log_path.read_text(errors="replace")
        found = _LISTENING.search(text)
        if found:
            return found.group(1)
        if process.poll() is not None:
            raise RuntimeError(f"chat backend exited with {process.returncode}:\n{text}")
        time.sleep(0.02)
    raise RuntimeError(f"chat backend did not listen within {timeout}s:\n{log_path.read_text()}")
