"""Whether the API server answers: one view for the whole operator.

When a pass fails because the API server cannot be reached, every other
gate's pass fails the same way, so the operator says so once (not once per
gate, and only when its first readiness check fails too: one request that
timed out on a busy API server is not an outage), then asks the API server
alone whether it is ready again, every few seconds, and wakes every gate
that waited as soon as it is: rollouts resume within seconds of its return,
not at the end of each gate's backoff.

kopf's watches say the same thing with a line per failed request attempt (a
dozen streams, each retrying every few seconds); `KopfRetryFilter`
(controller/kopf_workarounds/log_filters.py) leaves those lines out, counts
them, and takes them as news of an outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

import aiohttp

log = logging.getLogger(__name__)

Gate = tuple[str, str]

# No answer at all (refused, reset, timed out, TLS cut short): the API server is
# unreachable. An answer with an error status is a gate's own failure.
NO_ANSWER: tuple[type[BaseException], ...] = (
    aiohttp.ClientConnectionError,
    ConnectionError,
    TimeoutError,
)


def _is_no_answer(value: object) -> bool:
    return isinstance(value, type) and issubclass(value, NO_ANSWER)


NO_ANSWER_NAMES = frozenset(
    {name for name, value in vars(aiohttp).items() if _is_no_answer(value)}
    | {"TimeoutError", "ConnectionError", "ConnectionRefusedError", "ConnectionResetError"}
    | {"ConnectionAbortedError", "BrokenPipeError"}
)
POLL_FIRST = 1.0  # seconds before the first readiness check of an outage
POLL_CAP = 5.0  # and at most between two checks
# A starting API server answers before it is ready (403 until its RBAC caches
# are loaded, 503, 429): errors answered within this long of the first such
# answer, and before /readyz says ready, are still the outage's.
STARTING_GRACE = 30.0


def unreachable_error(exc: BaseException) -> bool:
    """Whether `exc` (or what it was raised from) means the API server did not answer."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, NO_ANSWER):
            return True
        seen.add(id(current))
        current = current.__cause__
    return False


def describe(exc: BaseException) -> str:
    """One line: the error's class and message, without the traceback."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


class ApiHealth:
    """Outage bookkeeping: `unreachable()` from a failed pass, `answered()` from
    a pass that got through; `ready` is the readiness check polled meanwhile."""

    def __init__(
        self,
        ready: Callable[[], Awaitable[object]],
        wake: Callable[[str, str], None],
        *,
        clock: Callable[[], float] = time.monotonic,
        poll_first: float = POLL_FIRST,
        poll_cap: float = POLL_CAP,
    ) -> None:
        self._ready = ready
        self._wake = wake
        self._clock = clock
        self._poll_first, self._poll_cap = poll_first, poll_cap
        self._down_since: float | None = None
        self._answering_since: float | None = None
        self._waiting: set[Gate] = set()
        self._poller: asyncio.Task[None] | None = None
        self.outages = 0
        self.kopf_lines_left_out = 0  # by KopfRetryFilter, during the current outage
        # Said only once the first readiness check fails too: a request that timed
        # out while the API server was busy (10,000 gates adopted at once) is a
        # blip, over before anyone could act on a line about it.
        self._announced = False
        self._first_error = ""

    @property
    def reachable(self) -> bool:
        return self._down_since is None

    def unreachable(self, gate: Gate | None, error: BaseException | str) -> None:
        """`gate`'s pass (None: one of kopf's requests) got no answer: the first
        such failure starts an outage (one log line) and the readiness polling."""
        if gate is not None:
            self._waiting.add(gate)
        if self._down_since is not None:
            return
        self._down_since = self._clock()
        self._answering_since = None
        self._first_error = error if isinstance(error, str) else describe(error)
        self._announced = False
        self.outages += 1
        self.kopf_lines_left_out = 0
        if self._poller is None or self._poller.done():
            self._poller = asyncio.get_running_loop().create_task(
                self._poll(), name="api-readiness"
            )

    def starting(self, gate: Gate | None) -> bool:
        """An error answered during an outage: whether it is the API server still
        starting (then `gate`, if any, waits with the others, and nobody logs it)."""
        if self._down_since is None:
            return False
        now = self._clock()
        if self._answering_since is None:
            self._answering_since = now
        if now - self._answering_since > STARTING_GRACE:
            return False  # answering, not ready, for long: its errors are worth reading
        if gate is not None:
            self._waiting.add(gate)
        return True

    def answered(self) -> None:
        """A pass got through: whatever outage there was is over."""
        if self._down_since is not None:
            self._back()

    def _announce(self) -> None:
        if self._announced:
            return
        self._announced = True
        log.warning(
            "API server unreachable (%s): gates wait for it with backoff; readiness is"
            " checked every %.0fs at most and every gate resumes once it answers",
            self._first_error,
            self._poll_cap,
        )

    def _back(self) -> None:
        assert self._down_since is not None
        seconds = self._clock() - self._down_since
        waiting, self._waiting = self._waiting, set()
        self._down_since = self._answering_since = None
        if self._announced:
            log.warning(
                "API server answers again after %.0fs without it; %d gates resume"
                " (%d retry lines of kopf's left out)",
                seconds,
                len(waiting),
                self.kopf_lines_left_out,
            )
        else:
            log.debug(
                "API server blip (%s): answered again after %.1fs; %d gates resume",
                self._first_error,
                seconds,
                len(waiting),
            )
        for gate in sorted(waiting):
            self._wake(*gate)

    async def _poll(self) -> None:
        delay = self._poll_first
        while self._down_since is not None:
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._poll_cap)
            if self._down_since is None:
                return
            try:
                await self._ready()
            except Exception as exc:  # still down, or not ready yet
                log.debug("API server not ready yet: %s", describe(exc))
                self._announce()
                continue
            if self._down_since is not None:
                self._back()

    async def aclose(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
