"""The service ``deploymentgate check ... -- ./run-server`` starts itself.

CI scripts start the service and then the check, and by then its first startup
phases are over: the startup probe cannot see them. So `check` starts the
command only once the startup probe has polled once and found nothing up (it
holds the service's address until that poll, and turns it away), and so
watches every phase. The command runs in a process group of its own, stopped
as a whole at the end: a shell wrapper's children go with it. Its output goes
to check's stderr, so CI logs show it and stdout stays the report.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import signal
import socket
import struct
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

STOP_GRACE_SECONDS = 5.0  # after SIGTERM, before SIGKILL
FIRST_POLL_SECONDS = 5.0  # the startup probe polls at once; never wait longer than this
LISTEN_SECONDS = 30.0  # without a startup probe: how long the probes wait for the service
STDERR = 2  # the process's own, whatever sys.stderr is: the service's output goes there


Probe = Callable[[], Coroutine[Any, Any, None]]


class ServiceError(Exception):
    """The service cannot be started as asked (exit 2: the command line is wrong)."""


async def run_with_service(
    command: Sequence[str],
    address: tuple[str, int],
    probe: Probe,
    *,
    watch_start: bool,
) -> int | None:
    """Run `probe` against the service `command` starts at `address`; stop it after.

    `watch_start`: the first probe is the startup probe, which must see the
    service come up; otherwise the probes start once the service listens.
    Returns the service's exit status (negative: a signal) if it exited before
    the probes finished, else None. SIGTERM cancels the whole run, the service
    stopped first (CancelledError).
    """
    held = await _hold(*address)
    loop = asyncio.get_running_loop()
    current = asyncio.current_task()
    if current is not None:
        loop.add_signal_handler(signal.SIGTERM, current.cancel)
    probing: asyncio.Task[None] | None = asyncio.create_task(probe()) if watch_start else None
    process: asyncio.subprocess.Process | None = None
    exited: asyncio.Task[int] | None = None
    try:
        if held is not None:
            server, first_poll = held
            if watch_start:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(first_poll.wait(), FIRST_POLL_SECONDS)
            server.close()
            await server.wait_closed()
        process = await _start(command)
        if probing is None:
            probing = asyncio.create_task(_when_listening(*address, probe))
        exited = asyncio.create_task(process.wait())
        await asyncio.wait({probing, exited}, return_when=asyncio.FIRST_COMPLETED)
        if exited.done():
            return process.returncode
        probing.result()
        return None
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
        if held is not None:
            held[0].close()
        for task in (probing, exited):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if process is not None:
            await _stop(process)


async def _hold(host: str, port: int) -> tuple[asyncio.Server, asyncio.Event] | None:
    """Listen on the service's address to catch the startup probe's first poll.

    The poll is answered with a reset (no TIME_WAIT left on the service's
    port): to the probe the service is not up yet, so it watches it start.
    None when the address is not this machine's: then the probe just polls
    from the start, as it does without a command.
    """
    first_poll = asyncio.Event()

    def turn_away(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.close()
        first_poll.set()

    try:
        server = await asyncio.start_server(turn_away, host, port)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise ServiceError(
                f"{host}:{port} is in use (is the service running already?);"
                " with `-- COMMAND` check starts the service itself"
            ) from None
        return None
    return server, first_poll


async def _start(command: Sequence[str]) -> asyncio.subprocess.Process:
    try:
        return await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=STDERR,
            stderr=STDERR,
            process_group=0,
        )
    except OSError as exc:
        raise ServiceError(f"cannot start {command[0]}: {exc.strerror or exc}") from None


async def _when_listening(host: str, port: int, probe: Probe) -> None:
    """Probe once the service accepts connections (or LISTEN_SECONDS passed: then the
    probes say what they find)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + LISTEN_SECONDS
    while loop.time() < deadline:
        try:
            _, writer = await asyncio.open_connection(host, port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        writer.close()
        break
    await probe()


async def _stop(process: asyncio.subprocess.Process) -> None:
    """SIGTERM the group, SIGKILL it once the command exited or after the grace:
    stragglers it left behind go with it (a wrapper script that `exec`s its server
    gives the server the whole grace)."""
    if process.returncode is None:
        _signal_group(process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), STOP_GRACE_SECONDS)
        except TimeoutError:
            _signal_group(process.pid, signal.SIGKILL)
            await process.wait()
    _signal_group(process.pid, signal.SIGKILL)


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
