"""A global probe budget, fair across gates (issue 13 item 2).

One operator probes every gate's pods from one event loop. Without a budget, a
gate asking for 1,000 error-rate requests per interval opens hundreds of
connections and keeps the loop busy parsing answers, and another gate's
latency-bound health probe (50 ms by default) fails for a reason that is not
its pods'. Two caps bound what probes may take at once:

- connections: every probe request or WebSocket conversation holds one slot;
- bulk: requests sent in bulk (error-rate traffic), the CPU-heavy part, hold a
  slot of a much smaller pool as well, each for at least `BULK_MIN_HOLD`: bulk
  work is capped at MAX_BULK / BULK_MIN_HOLD requests per second for the whole
  process (MAX_BULK_PER_GATE / BULK_MIN_HOLD per gate). And the pool watches the
  event loop: each slot's return is scheduled, and when it fires more than
  `LAG_TARGET` late the loop is overloaded, so the pool halves its size; while
  the loop is prompt it grows one slot at a time from one (AIMD, slow start). What a CPU
  costs per request differs by machine; the loop's own lag says when to stop.

Each pool is a `FairLimiter`: a gate holds at most `per_owner` slots of it, and
a freed slot goes to the waiting gate holding fewest (ties in turn), never to
the gate that queued most. A latency-bound probe therefore waits at most for one
release, and its latency is measured only once it holds its slot.

The owner (the gate) is a context variable the controller sets in each
gate's probe tasks (`owner_scope`); probes run outside a gate share one owner.
"""

from __future__ import annotations

import asyncio
import contextvars
import weakref
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress

# Defaults for one operator process; the controller may configure others.
MAX_CONNECTIONS = 256
MAX_CONNECTIONS_PER_GATE = 32
MAX_BULK = 16
MAX_BULK_PER_GATE = 8
BULK_MIN_HOLD = 0.1  # seconds: at most 160 bulk requests/s per process, 80 per gate
LAG_TARGET = 0.005  # seconds of event-loop lag above which bulk work backs off
ADAPT_EVERY = 0.1  # seconds between two changes of the bulk pool's size

_owner: contextvars.ContextVar[str] = contextvars.ContextVar("probe_owner", default="")


@contextmanager
def owner_scope(owner: str) -> Iterator[None]:
    """Charge the probe work of this task (and tasks it starts) to `owner`."""
    token = _owner.set(owner)
    try:
        yield
    finally:
        _owner.reset(token)


def current_owner() -> str:
    return _owner.get()


class FairLimiter:
    """A semaphore whose waiters are served by owner: fewest held first, then in turn."""

    def __init__(
        self,
        capacity: int,
        per_owner: int,
        min_hold: float = 0.0,
        lag_target: float | None = None,
    ) -> None:
        if capacity < 1 or per_owner < 1 or min_hold < 0:
            raise ValueError("capacity and per_owner must be at least 1, min_hold >= 0")
        self.capacity = capacity
        # Current size: with a lag target it starts small and grows while the loop
        # stays prompt (a burst must not swamp the loop before the first sample).
        self.limit = capacity if lag_target is None else 1
        self.min_hold = min_hold  # a slot returns no sooner than this after it was taken
        self.lag_target = lag_target  # None: fixed size
        self._changed_at = 0.0
        self.per_owner = min(per_owner, capacity)
        self.in_use = 0
        self.held: dict[str, int] = {}
        # owner -> its waiters, in arrival order; the dict's order is the turn order.
        self._queues: OrderedDict[str, deque[asyncio.Future[None]]] = OrderedDict()
        self.peak = 0

    def waiting(self, owner: str | None = None) -> int:
        if owner is not None:
            return len(self._queues.get(owner, ()))
        return sum(len(q) for q in self._queues.values())

    @asynccontextmanager
    async def slot(self, owner: str | None = None) -> AsyncIterator[None]:
        who = current_owner() if owner is None else owner
        await self._acquire(who)
        loop = asyncio.get_running_loop()
        taken = loop.time()
        try:
            yield
        finally:
            rest = max(0.0, self.min_hold - (loop.time() - taken))
            if self.lag_target is None and rest == 0.0:
                self._release(who)
            else:
                due = loop.time() + rest
                loop.call_later(rest, self._late_release, who, due)

    def _late_release(self, owner: str, due: float) -> None:
        now = asyncio.get_running_loop().time()
        if self.lag_target is not None and now - self._changed_at >= ADAPT_EVERY:
            lag = now - due
            if lag > self.lag_target and self.limit > 1:
                self.limit = max(1, self.limit // 2)
                self._changed_at = now
            elif lag < self.lag_target / 4 and self.limit < self.capacity:
                self.limit += 1
                self._changed_at = now
        self._release(owner)

    def _free_for(self, owner: str) -> bool:
        return self.in_use < self.limit and self.held.get(owner, 0) < self.per_owner

    async def _acquire(self, owner: str) -> None:
        if self._free_for(owner) and not self._queues.get(owner):
            self._take(owner)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queues.setdefault(owner, deque()).append(future)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self._release(owner)  # granted just as we were cancelled: give it back
            else:
                self._forget(owner, future)
            raise

    def _take(self, owner: str) -> None:
        self.in_use += 1
        self.held[owner] = self.held.get(owner, 0) + 1
        self.peak = max(self.peak, self.in_use)

    def _release(self, owner: str) -> None:
        self.in_use -= 1
        left = self.held.get(owner, 0) - 1
        if left > 0:
            self.held[owner] = left
        else:
            self.held.pop(owner, None)
        self._grant()

    def _grant(self) -> None:
        """Hand free slots to waiting owners: the one holding fewest first, ties in
        turn (an owner just served goes to the back)."""
        while self.in_use < self.limit:
            eligible = [
                owner
                for owner, queue in self._queues.items()
                if queue and self.held.get(owner, 0) < self.per_owner
            ]
            if not eligible:
                return
            owner = min(eligible, key=lambda o: self.held.get(o, 0))
            queue = self._queues[owner]
            future = queue.popleft()
            self._queues.move_to_end(owner)
            if not queue:
                del self._queues[owner]
            if future.done():  # its waiter was cancelled and has not cleaned up yet
                continue
            self._take(owner)
            future.set_result(None)

    def _forget(self, owner: str, future: asyncio.Future[None]) -> None:
        queue = self._queues.get(owner)
        if queue is None:
            return
        with suppress(ValueError):
            queue.remove(future)
        if not queue:
            del self._queues[owner]


class ProbeBudget:
    """The two pools every probe of this process draws from."""

    def __init__(
        self,
        connections: int = MAX_CONNECTIONS,
        connections_per_gate: int = MAX_CONNECTIONS_PER_GATE,
        bulk: int = MAX_BULK,
        bulk_per_gate: int = MAX_BULK_PER_GATE,
        min_hold: float = BULK_MIN_HOLD,
        lag_target: float | None = LAG_TARGET,
    ) -> None:
        self.connections = FairLimiter(connections, connections_per_gate)
        self.bulk = FairLimiter(bulk, bulk_per_gate, min_hold, lag_target)


# One budget per event loop: the operator runs one loop; a slot's delayed release
# lives on its loop, so a budget must never outlive the loop it counts for.
_budgets: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ProbeBudget] = (
    weakref.WeakKeyDictionary()
)
_factory: Callable[[], ProbeBudget] = ProbeBudget


def budget() -> ProbeBudget:
    """The running loop's budget (made on first use)."""
    loop = asyncio.get_running_loop()
    found = _budgets.get(loop)
    if found is None:
        found = _budgets[loop] = _factory()
    return found


def configure(factory: Callable[[], ProbeBudget]) -> Callable[[], ProbeBudget]:
    """How budgets of loops started from now on are made (operator start-up, tests);
    returns the previous factory."""
    global _factory
    old, _factory = _factory, factory
    return old
