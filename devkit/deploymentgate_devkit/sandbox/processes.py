"""Child processes that cannot outlive the sandbox.

Every child gets its own process group (so a whole tree is signalled at once)
and PR_SET_PDEATHSIG (so the kernel kills it if its supervisor dies, even by
SIGKILL). Spawn from the main thread only: the death signal fires when the
*thread* that forked exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)
_prctl = _libc.prctl  # looked up before any fork: the child must not import or allocate


def _die_with_parent(sig: int) -> Callable[[], None]:
    parent = os.getpid()

    def setup() -> None:
        _prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), sig)

    return setup


def spawn(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    log_path: Path | None,
    cwd: Path | None = None,
    death_signal: int = signal.SIGKILL,
) -> subprocess.Popen[bytes]:
    """Start argv with output appended to log_path (or dropped); OSError if it cannot exec."""
    if log_path is None:
        return _popen(argv, env, cwd, death_signal, subprocess.DEVNULL)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        return _popen(argv, env, cwd, death_signal, log)


def _popen(
    argv: Sequence[str],
    env: Mapping[str, str],
    cwd: Path | None,
    death_signal: int,
    output: IO[bytes] | int,
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        list(argv),
        env=dict(env),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=output,
        stderr=subprocess.STDOUT,
        process_group=0,
        preexec_fn=_die_with_parent(death_signal),
    )


def signal_group(pid: int, sig: int) -> None:
    """Signal the process group led by pid; a group that is gone is fine."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def stop(proc: subprocess.Popen[bytes], grace: float) -> int:
    """SIGTERM the group, SIGKILL it after grace seconds; returns the exit code."""
    if proc.poll() is None:
        signal_group(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            signal_group(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    signal_group(proc.pid, signal.SIGKILL)  # stragglers the leader left behind
    return int(proc.returncode)


async def wait_exit(proc: subprocess.Popen[bytes]) -> int:
    """Await the process's exit without a thread per child (pidfd readiness)."""
    if proc.poll() is not None:
        return int(proc.returncode)
    try:
        fd = os.pidfd_open(proc.pid)
    except ProcessLookupError:
        return int(proc.wait())
    loop = asyncio.get_running_loop()
    exited = loop.create_future()

    def on_readable() -> None:
        if not exited.done():
            exited.set_result(None)

    loop.add_reader(fd, on_readable)
    try:
        await exited
    finally:
        loop.remove_reader(fd)
        os.close(fd)
    return int(proc.wait())


async def stop_async(proc: subprocess.Popen[bytes], grace: float) -> int:
    if proc.poll() is None:
        signal_group(proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(wait_exit(proc), timeout=grace)
        except TimeoutError:
            signal_group(proc.pid, signal.SIGKILL)
            await asyncio.wait_for(wait_exit(proc), timeout=10)
    signal_group(proc.pid, signal.SIGKILL)
    return int(proc.returncode)


@dataclass(frozen=True)
class ProcessInfo:
    pid: int
    cmdline: str


def _environ(pid: int) -> list[bytes]:
    try:
        return Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return []


def _cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    return raw.replace(b"\0", b" ").decode("utf-8", "replace").strip()


def pid_alive(pid: int) -> bool:
    """Running or sleeping; a zombie (exited, not yet reaped) counts as gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def processes_with_env(name: str, value: str) -> list[ProcessInfo]:
    """Live processes (not this one) whose environment has name=value.

    Environment markers survive re-parenting and double forks, so they find
    every descendant, orphaned or not.
    """
    needle = f"{name}={value}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        if needle in _environ(int(entry.name)):
            found.append(ProcessInfo(int(entry.name), _cmdline(int(entry.name))))
    return found


def wait_processes_gone(name: str, value: str, timeout: float) -> list[ProcessInfo]:
    deadline = time.monotonic() + timeout
    while True:
        alive = processes_with_env(name, value)
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(0.05)


def kill_processes(processes: Sequence[ProcessInfo]) -> None:
    for info in processes:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(info.pid, signal.SIGKILL)
