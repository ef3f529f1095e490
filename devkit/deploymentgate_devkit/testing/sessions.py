"""Long-lived WebSocket sessions through a Service, as chat users hold them.

What a rollout does to users who stay connected is invisible to request
counts: a session is interrupted when the pod it is on goes away, and a
promotion that restarts serving pods interrupts every one of them. A
`SessionPool` holds N sessions to the chat backend's `/ws` through the
sandbox's service proxy, keeps each one busy (a user message and its agent
events every second), and when the server ends one it records how (the close
code, or "broken" when no close frame came) and reconnects at once: that
reconnection is one move of the session.

A `PhaseWatcher` records when the gate changed phase, so each end can be put
in the phase it happened in. Used by the acceptance tests and bench/sessions.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

BROKEN = "broken"
CLIENT_CLOSE = 1000
REPLY_TIMEOUT = 5.0
CONNECT_TIMEOUT = 3.0
RECONNECT_DELAY = 0.1


@dataclass(frozen=True)
class SessionEnd:
    """One WebSocket connection of a session ending."""

    session: int
    at: float  # time.time()
    version: str | None  # APP_VERSION of the pod that served it
    code: int | None  # close code the server sent; None when broken
    reason: str
    by_client: bool = False  # the pool closed it (end of the run)

    @property
    def how(self) -> str:
        """`1001`, `broken`, ..., the way a report shows it."""
        return BROKEN if self.code is None else str(self.code)


@dataclass
class Session:
    index: int
    connects: int = 0
    versions: list[str | None] = field(default_factory=list)  # one per connection
    ends: list[SessionEnd] = field(default_factory=list)

    @property
    def moves(self) -> int:
        """Connections the server ended while the session was still wanted."""
        return sum(1 for e in self.ends if not e.by_client)


class SessionPool:
    """`sessions` WebSocket sessions to `url` (ws://host:port/ws), held in a thread."""

    def __init__(
        self,
        url: str,
        sessions: int,
        *,
        message_interval: float = 1.0,
        lifetime: float | None = None,
    ) -> None:
        """`lifetime`: if set, each connection is closed by the user after 0.5x to 1.5x
        that many seconds and opened again (users coming and going: new sessions
        then meet whatever serves at that moment); these ends are not moves."""
        self.url = url
        self.size = sessions
        self.message_interval = message_interval
        self.lifetime = lifetime
        self._random = random.Random(0)
        self.sessions = [Session(i) for i in range(sessions)]
        self.connect_failures: list[tuple[float, str]] = []
        self._stopping = False
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="ws-sessions", daemon=True)
        self._lock = threading.Lock()

    # -- control ---------------------------------------------------------

    def start(self, timeout: float = 30.0) -> SessionPool:
        """Open every session; raise if they are not all connected within `timeout`."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.connected() == self.size:
                return self
            time.sleep(0.1)
        self.stop()
        raise TimeoutError(
            f"{self.connected()} of {self.size} sessions connected within {timeout:.0f}s;"
            f" connect failures: {self.connect_failures[-5:]}"
        )

    def stop(self, timeout: float = 15.0) -> None:
        """Close every session from the client side (code 1000) and wait for the thread."""
        self._stopping = True
        self._thread.join(timeout)

    # -- reading ---------------------------------------------------------

    def connected(self) -> int:
        with self._lock:
            return sum(1 for s in self.sessions if s.connects > len(s.ends))

    def ends(self, *, by_server: bool = True) -> list[SessionEnd]:
        """Every end so far, in time order (only those the server caused, by default)."""
        with self._lock:
            ends = [e for s in self.sessions for e in s.ends if not (by_server and e.by_client)]
        return sorted(ends, key=lambda e: e.at)

    def moves(self) -> dict[int, int]:
        with self._lock:
            return {s.index: s.moves for s in self.sessions}

    def current_versions(self) -> Counter[str | None]:
        """Which version each connected session is on now."""
        with self._lock:
            return Counter(
                s.versions[-1] for s in self.sessions if s.versions and s.connects > len(s.ends)
            )

    # -- the sessions ----------------------------------------------------

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(
                asyncio.gather(*(self._hold(s) for s in self.sessions), return_exceptions=True)
            )
        finally:
            self._loop.close()

    def _record(self, session: Session, end: SessionEnd) -> None:
        with self._lock:
            session.ends.append(end)

    async def _hold(self, session: Session) -> None:
        while not self._stopping:
            try:
                ws = await connect(
                    self.url,
                    open_timeout=CONNECT_TIMEOUT,
                    proxy=None,
                    compression=None,
                    ping_interval=None,
                    close_timeout=2.0,
                )
            except (OSError, InvalidHandshake, TimeoutError, EOFError) as exc:
                self.connect_failures.append((time.time(), f"{type(exc).__name__}: {exc}"))
                await asyncio.sleep(RECONNECT_DELAY)
                continue
            with self._lock:
                session.connects += 1
                session.versions.append(None)
            self._record(session, await self._converse(session, ws))
            await asyncio.sleep(RECONNECT_DELAY)

    async def _converse(self, session: Session, ws: ClientConnection) -> SessionEnd:
        """Talk until the server ends the connection or the pool stops; how it ended."""
        version: str | None = None
        try:
            hello = json.loads(await asyncio.wait_for(ws.recv(), REPLY_TIMEOUT))
            version = str(hello.get("version"))
            with self._lock:
                session.versions[-1] = version
            count = 0
            leave_at = (
                None
                if self.lifetime is None
                else time.monotonic() + self.lifetime * self._random.uniform(0.5, 1.5)
            )
            while not self._stopping:
                await self._idle(ws)
                if self._stopping or (leave_at is not None and time.monotonic() >= leave_at):
                    break
                count += 1
                message = {"type": "user_message", "text": "hello", "message_id": f"m{count}"}
                await ws.send(json.dumps(message))
                await self._await_reply(ws, f"m{count}")
        except ConnectionClosed as exc:
            received = exc.rcvd
            return SessionEnd(
                session.index,
                time.time(),
                version,
                None if received is None else received.code,
                "" if received is None else received.reason,
            )
        except (TimeoutError, OSError, ValueError) as exc:
            with contextlib.suppress(Exception):
                await ws.close()
            return SessionEnd(session.index, time.time(), version, None, f"{type(exc).__name__}")
        with contextlib.suppress(Exception):
            await ws.close(CLIENT_CLOSE)
        return SessionEnd(session.index, time.time(), version, CLIENT_CLOSE, "", by_client=True)

    async def _idle(self, ws: ClientConnection) -> None:
        """Wait one message interval while noticing at once a close from the server."""
        deadline = time.monotonic() + self.message_interval
        while not self._stopping and (left := deadline - time.monotonic()) > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ws.recv(), min(left, 0.2))

    async def _await_reply(self, ws: ClientConnection, message_id: str) -> None:
        deadline = time.monotonic() + REPLY_TIMEOUT
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no agent_completed for {message_id}")
            event = json.loads(await asyncio.wait_for(ws.recv(), left))
            if event.get("type") == "agent_completed" and event.get("message_id") == message_id:
                return


class PhaseWatcher:
    """Polls the gate's phase every `interval` s and keeps when each phase began."""

    def __init__(self, read_phase: Callable[[], str | None], interval: float = 0.1) -> None:
        self.read_phase = read_phase
        self.interval = interval
        self.changes: list[tuple[float, str | None]] = []  # (time.time(), phase)
        self.polls = 0
        self.last_poll: float | None = None
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="phase-watcher", daemon=True)

    def start(self) -> PhaseWatcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                phase = self.read_phase()
                self.polls += 1
                self.last_poll = time.time()
                if not self.changes or self.changes[-1][1] != phase:
                    self.changes.append((time.time(), phase))
            except Exception as exc:  # keep polling; the reader sees the errors
                self.errors.append(repr(exc))
            self._stop.wait(self.interval)

    def phase_at(self, at: float) -> str | None:
        """The phase last seen at or before `at` (None before the first poll)."""
        current: str | None = None
        for since, phase in self.changes:
            if since > at:
                break
            current = phase
        return current

    def began(self, phase: str) -> float | None:
        """When `phase` was first seen."""
        return next((t for t, p in self.changes if p == phase), None)

    def phases(self) -> list[str | None]:
        return [p for _, p in self.changes]


@dataclass(frozen=True)
class PhaseRow:
    phase: str  # "Progressing"; "Promoted#2" when a phase is seen again later
    seconds: float  # how long the phase lasted (up to the last poll)
    ends: int
    how: Counter[str]  # close code (or "broken") -> count


def per_phase(ends: Iterable[SessionEnd], watcher: PhaseWatcher) -> list[PhaseRow]:
    """Session ends grouped by the stretch of phase they happened in, in time order."""
    changes = list(watcher.changes)
    if not changes:
        return []
    seen: Counter[str] = Counter()
    names: list[str] = []
    for _, phase in changes:
        seen[str(phase)] += 1
        names.append(str(phase) if seen[str(phase)] == 1 else f"{phase}#{seen[str(phase)]}")
    grouped: list[Counter[str]] = [Counter() for _ in changes]
    for end in ends:
        index = max((i for i, (since, _) in enumerate(changes) if since <= end.at), default=0)
        grouped[index][end.how] += 1
    ends_at = [t for t, _ in changes[1:]] + [watcher.last_poll or changes[-1][0]]
    return [
        PhaseRow(name, until - since, sum(how.values()), how)
        for name, (since, _), until, how in zip(names, changes, ends_at, grouped, strict=True)
    ]


def format_report(pool: SessionPool, watcher: PhaseWatcher) -> str:
    """A small table: per phase, session ends and how; then moves per session."""
    lines = [f"{'phase':<14}{'lasted':>8}{'session ends':>14}  how they ended"]
    for row in per_phase(pool.ends(), watcher):
        how = ", ".join(f"{k} x{v}" for k, v in sorted(row.how.items())) or "-"
        lines.append(f"{row.phase:<14}{row.seconds:>7.1f}s{row.ends:>14}  {how}")
    moves = pool.moves()
    distribution = Counter(moves.values())
    lines.append(
        f"sessions: {pool.size}; ends caused by the server: {len(pool.ends())};"
        f" most moves of one session: {max(moves.values(), default=0)}"
        " (sessions by moves: "
        + ", ".join(f"{m}: {n}" for m, n in sorted(distribution.items()))
        + ")"
    )
    by_users = len(pool.ends(by_server=False)) - len(pool.ends())
    if pool.lifetime is not None:
        lines.append(f"connections closed by their users (~{pool.lifetime:g}s each): {by_users}")
    if pool.connect_failures:
        lines.append(f"failed connection attempts: {len(pool.connect_failures)}")
    return "\n".join(lines)
