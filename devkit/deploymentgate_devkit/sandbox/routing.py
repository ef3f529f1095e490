"""Which pod a new service connection goes to: kube-proxy's choice, as pure functions."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

PROXY_ANNOTATION = "sandbox.deploymentgate.dev/proxy"


@dataclass(frozen=True, order=True)
class Backend:
    host: str
    port: int


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def ready_backends(
    slices: Iterable[Mapping[str, Any]], port_name: str, protocol: str = "TCP"
) -> list[Backend]:
    """Ready endpoints of one service port, across all its slices.

    An endpoint whose ``ready`` is unset counts as ready (the API's contract).
    Non-loopback addresses are skipped: the sandbox never sends traffic off the host.
    """
    found: set[Backend] = set()
    for slc in slices:
        number = next(
            (
                int(p["port"])
                for p in slc.get("ports") or ()
                if (p.get("name") or "") == port_name
                and (p.get("protocol") or "TCP") == protocol
                and p.get("port") is not None
            ),
            None,
        )
        if number is None:
            continue
        for endpoint in slc.get("endpoints") or ():
            if (endpoint.get("conditions") or {}).get("ready") is False:
                continue
            addresses = endpoint.get("addresses") or ()
            if addresses and _is_loopback(addresses[0]):
                found.add(Backend(addresses[0], number))
    return sorted(found)


class RoundRobin:
    """Spreads successive connections evenly over whatever backends are ready now."""

    def __init__(self) -> None:
        self._counter = 0

    def pick(self, backends: list[Backend]) -> Backend | None:
        if not backends:
            return None
        choice = backends[self._counter % len(backends)]
        self._counter += 1
        return choice


def format_proxy_annotation(listeners: Mapping[int, tuple[str, int]]) -> str:
    """``"80=127.0.0.1:41234,8080=127.0.0.1:41235"``: service port -> where the proxy listens."""
    return ",".join(f"{port}={host}:{lport}" for port, (host, lport) in sorted(listeners.items()))


def parse_proxy_annotation(text: str) -> dict[int, tuple[str, int]]:
    out: dict[int, tuple[str, int]] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        port, _, address = item.partition("=")
        host, _, lport = address.rpartition(":")
        out[int(port)] = (host, int(lport))
    return out
