"""Loopback port bookkeeping: pick free ports and prove they are free again."""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    """A port free now, closed again until its user binds it (see _candidates)."""
    return free_ports(1, host)[0]


def free_ports(count: int, host: str = LOOPBACK) -> list[int]:
    """Distinct free ports, all held open until every one is chosen."""
    socks: list[socket.socket] = []
    try:
        for port in _candidates():
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                sock.bind((host, port))
            except OSError:
                sock.close()
                continue
            socks.append(sock)
            if len(socks) == count:
                return [int(s.getsockname()[1]) for s in socks]
        raise OSError(f"no {count} free ports on {host}")
    finally:
        for sock in socks:
            sock.close()


def _candidates() -> Iterator[int]:
    """Random ports below the kernel's ephemeral range, then any the kernel picks.

    A port is closed between being picked and being bound by its server. One
    from the ephemeral range can be taken in that gap as the source port of
    any outgoing connection, which happened under load (thousands of client
    connections to the API server); below the range only another listener can
    take it.
    """
    low, _ = _ephemeral_range()
    floor = min(20000, low // 2)
    for _ in range(500):
        yield random.randrange(floor, low)
    while True:
        yield 0


def _ephemeral_range() -> tuple[int, int]:
    try:
        text = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text()
        low, high = (int(x) for x in text.split())
    except (OSError, ValueError):
        return 32768, 60999
    return low, high


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
