"""The service proxy's choice of endpoint, and how it reports where it listens."""

from __future__ import annotations

from collections import Counter
from typing import Any

from deploymentgate_devkit.sandbox.routing import (
    Backend,
    RoundRobin,
    format_proxy_annotation,
    parse_proxy_annotation,
    ready_backends,
)


def _slice(
    endpoints: list[tuple[str, bool | None]], ports: list[tuple[str, int]]
) -> dict[str, Any]:
    def endpoint(address: str, ready: bool | None) -> dict[str, Any]:
        conditions = {} if ready is None else {"ready": ready}
        return {"addresses": [address], "conditions": conditions}

    return {
        "endpoints": [endpoint(a, r) for a, r in endpoints],
        "ports": [{"name": n, "port": p, "protocol": "TCP"} for n, p in ports],
    }


def test_only_ready_endpoints_of_the_named_port_are_used() -> None:
    slices = [
        _slice([("127.0.0.2", True), ("127.0.0.3", False), ("127.0.0.4", None)], [("web", 8000)]),
        _slice([("127.0.0.5", True)], [("web", 9000), ("metrics", 9100)]),
        _slice([("127.0.0.6", True)], [("other", 8000)]),
    ]
    assert ready_backends(slices, "web") == [
        Backend("127.0.0.2", 8000),
        Backend("127.0.0.4", 8000),  # unset readiness means ready
        Backend("127.0.0.5", 9000),
    ]
    assert ready_backends(slices, "metrics") == [Backend("127.0.0.5", 9100)]


def test_non_loopback_endpoints_are_never_targets() -> None:
    slices = [
        _slice([("10.0.0.7", True), ("db.example.com", True), ("127.1.0.2", True)], [("", 80)])
    ]
    assert ready_backends(slices, "") == [Backend("127.1.0.2", 80)]


def test_round_robin_splits_connections_in_proportion_to_ready_pods() -> None:
    old = [Backend(f"127.0.0.{i}", 8000) for i in (2, 3, 4)]
    new = [Backend("127.0.0.9", 8000)]
    balancer = RoundRobin()
    picks = Counter(balancer.pick(old + new) for _ in range(400))
    assert sum(picks[b] for b in old) == 300 and picks[new[0]] == 100


def test_no_ready_endpoint_means_no_target() -> None:
    assert RoundRobin().pick([]) is None


def test_proxy_annotation_round_trips() -> None:
    listeners = {8080: ("127.0.0.1", 41001), 80: ("127.0.0.1", 41000)}
    text = format_proxy_annotation(listeners)
    assert text == "80=127.0.0.1:41000,8080=127.0.0.1:41001"
    assert parse_proxy_annotation(text) == listeners
