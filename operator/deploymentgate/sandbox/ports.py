"""Loopback port bookkeeping: pick free ports and prove they are free again."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterable

LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    """A port the kernel just handed out; closed again, so a race is possible but rare."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def free_ports(count: int, host: str = LOOPBACK) -> list[int]:
    """Distinct free ports, all held open until every one is chosen."""
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(sock)
            sock.bind((host, 0))
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for sock in socks:
            sock.close()


def port_is_free(host: str, port: int) -> bool:
    """True when nothing listens on host:port (TIME_WAIT leftovers do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def busy_ports(addresses: Iterable[tuple[str, int]]) -> list[tuple[str, int]]:
    return [(h, p) for h, p in addresses if not port_is_free(h, p)]


def wait_ports_free(
    addresses: Iterable[tuple[str, int]], timeout: float = 10.0
) -> list[tuple[str, int]]:
    """Wait until every address is free; return those still busy at the deadline."""
    pending = list(addresses)
    deadline = time.monotonic() + timeout
    while True:
        pending = busy_ports(pending)
        if not pending or time.monotonic() >= deadline:
            return pending
        time.sleep(0.05)
