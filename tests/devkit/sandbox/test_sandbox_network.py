"""Loopback ports and pod addresses: nothing handed out twice while in use."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from deploymentgate_devkit.sandbox.addresses import AddressPool, AddressPoolExhausted, claim_block
from deploymentgate_devkit.sandbox.ports import free_ports, port_is_free, wait_ports_free


def test_free_ports_are_distinct_and_bindable() -> None:
    ports = free_ports(5)
    assert len(set(ports)) == 5
    assert all(port_is_free("127.0.0.1", p) for p in ports)


def test_a_listening_port_is_busy_until_closed() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert not port_is_free("127.0.0.1", port)
        assert wait_ports_free([("127.0.0.1", port)], timeout=0.1) == [("127.0.0.1", port)]
    assert wait_ports_free([("127.0.0.1", port)], timeout=2) == []


def test_first_block_starts_after_the_hosts_own_loopback_address() -> None:
    pool = AddressPool(0)
    assert [pool.allocate(f"pod-{i}") for i in range(3)] == ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
    assert AddressPool(7).allocate("a") == "127.7.0.2"


def test_owner_keeps_its_address_and_freed_addresses_come_back_last() -> None:
    pool = AddressPool(0)
    first = pool.allocate("a")
    assert pool.allocate("a") == first
    second = pool.allocate("b")
    assert pool.release("a") == first
    third = pool.allocate("c")
    assert third not in (first, second)  # round-robin: a just-freed address is not reused next
    assert pool.in_use == {second: "b", third: "c"}


def test_no_address_in_use_is_handed_out_again_even_after_wrapping() -> None:
    pool = AddressPool(3)
    owners = [f"pod-{i}" for i in range(65533)]
    addresses = [pool.allocate(o) for o in owners]
    assert len(set(addresses)) == 65533
    assert addresses[-1] == "127.3.255.254"
    with pytest.raises(AddressPoolExhausted):
        pool.allocate("one-too-many")
    pool.release("pod-10")
    assert pool.allocate("late") == addresses[10]


def test_concurrent_sandboxes_claim_different_blocks(tmp_path: Path) -> None:
    first = claim_block(tmp_path)
    second = claim_block(tmp_path)
    try:
        assert (first.block, second.block) == (0, 1)
        first.release()
        third = claim_block(tmp_path)
        assert third.block == 0
        third.release()
    finally:
        first.release()
        second.release()
