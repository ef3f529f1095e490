"""Hand freed heap back to the operating system.

glibc's malloc keeps memory that Python freed (the bodies of a burst of watch
events, the passes of 1,000 gates adopted at once) as free space inside its
heaps, and returns only what sits at their top. Measured with 1,000 gates
(bench/scale.py): 553 MiB RSS once all were Idle, 278 MiB after one
`malloc_trim(0)`. So the operator trims once a minute, in a worker thread
(ctypes releases the GIL: the event loop does not wait). Where malloc_trim
does not exist (musl, macOS) this does nothing.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)

TRIM_INTERVAL = 60.0  # seconds


def malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim, or None where there is none."""
    try:
        trim: Callable[[int], int] = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None
    return trim


async def trim_forever(interval: float = TRIM_INTERVAL) -> None:
    trim = malloc_trim()
    if trim is None:
        log.debug("no malloc_trim here: freed heap stays with the process")
        return
    while True:
        await asyncio.sleep(interval)
        await asyncio.to_thread(trim, 0)
