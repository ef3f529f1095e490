"""Pod addresses: each pod gets its own loopback IP, as it would get its own pod IP.

Every sandbox claims a distinct 127.N.0.0/16 block with an advisory file lock,
so two sandboxes on one machine (a developer's `sandbox up` next to a test run)
never hand out the same address. The lock dies with its holder.
"""

from __future__ import annotations

import fcntl
import ipaddress
import os
import tempfile
from pathlib import Path
from typing import IO

MAX_BLOCKS = 255


class AddressPoolExhausted(RuntimeError):
    pass


class AddressPool:
    """Hands out addresses round-robin, skipping those in use, like host-local IPAM.

    Round-robin (rather than lowest-free) keeps a just-freed address out of use
    for as long as possible, so a stale probe never reaches a new pod by accident.
    """

    def __init__(self, block: int) -> None:
        if not 0 <= block < MAX_BLOCKS:
            raise ValueError(f"block must be in [0, {MAX_BLOCKS}), got {block}")
        network = ipaddress.IPv4Network(f"127.{block}.0.0/16")
        self.block = block
        # 127.N.0.0 is the network address; 127.0.0.1 is the host's own loopback.
        self._first = int(network.network_address) + 2
        self._last = int(network.broadcast_address) - 1
        self._next = self._first
        self._owners: dict[str, str] = {}  # address -> owner (pod uid)
        self._addresses: dict[str, str] = {}  # owner -> address

    @property
    def in_use(self) -> dict[str, str]:
        return dict(self._owners)

    def allocate(self, owner: str) -> str:
        """The owner's address; the same one again if it already holds one."""
        if owner in self._addresses:
            return self._addresses[owner]
        size = self._last - self._first + 1
        for offset in range(size):
            candidate = self._first + (self._next - self._first + offset) % size
            address = str(ipaddress.IPv4Address(candidate))
            if address not in self._owners:
                self._owners[address] = owner
                self._addresses[owner] = address
                self._next = candidate + 1 if candidate < self._last else self._first
                return address
        raise AddressPoolExhausted(f"all {size} addresses of block {self.block} are in use")

    def release(self, owner: str) -> str | None:
        address = self._addresses.pop(owner, None)
        if address is not None:
            del self._owners[address]
        return address


def lock_dir() -> Path:
    return Path(tempfile.gettempdir()) / "deploymentgate-sandbox-blocks"


class BlockClaim:
    """An exclusive claim on one address block, held for the life of a process."""

    def __init__(self, block: int, handle: IO[bytes]) -> None:
        self.block = block
        self._handle: IO[bytes] | None = handle

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


def claim_block(directory: Path | None = None) -> BlockClaim:
    """Claim the lowest free block: the first sandbox gets 127.0.x.y, the next 127.1.x.y."""
    directory = directory or lock_dir()
    directory.mkdir(parents=True, exist_ok=True)
    for block in range(MAX_BLOCKS):
        handle = open(directory / f"block-{block}.lock", "ab")  # noqa: SIM115 - held until release
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        handle.truncate(0)
        handle.write(f"{os.getpid()}\n".encode())
        handle.flush()
        return BlockClaim(block, handle)
    raise AddressPoolExhausted(f"all {MAX_BLOCKS} address blocks are claimed (see {directory})")
