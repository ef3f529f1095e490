"""How long a gate waits after a failed pass, and which failures are worth a log line.

While the API server is unreachable every pass of every gate fails. Retrying
each after the same 2 s and logging each failure with its traceback made 300
gates write 240 MB of log in 10 minutes at 0.9 core (issue 13). Here a gate's
delay doubles from FIRST to CAP with each consecutive failure and falls back
to FIRST after a pass succeeds; a streak of failures is logged when it starts,
when its kind of error changes and when the delay reaches CAP (at most three
lines however long it lasts), and its end once.

While the whole API server is gone, a gate does not step through the backoff
at all: it waits `outage_wait()` (about CAP), and the operator's readiness
check wakes it as soon as the API server is back (controller/apihealth.py).

Pure: the caller passes the clock's reading and, for the jitter, a random draw.
"""

from __future__ import annotations

from dataclasses import dataclass

FIRST = 2.0  # seconds after the first failure of a streak
CAP = 60.0  # the longest wait between two passes of a failing gate
JITTER = 0.2  # each delay is drawn from [d * (1 - JITTER), d]: gates do not retry in step


@dataclass(frozen=True)
class Retry:
    """What to do after one failed pass."""

    delay: float  # seconds until the next pass
    failures: int  # consecutive failed passes, this one included
    log: bool  # worth a line: the streak's first failure, a new kind, or the cap reached
    capped: bool  # the delay has reached CAP (before jitter)


@dataclass(frozen=True)
class Recovery:
    """A pass succeeded after `failures` failed ones, the first `seconds` ago."""

    failures: int
    seconds: float
    logged: bool  # some failure of the streak was logged, so its end is worth a line too


def outage_wait(draw: float = 0.0, cap: float = CAP, jitter: float = JITTER) -> float:
    """How long a gate waits after a pass the API server did not answer: the
    longest delay, since the readiness check, not this timer, wakes it."""
    return cap * (1.0 - jitter * min(max(draw, 0.0), 1.0))


def base_delay(failures: int, first: float = FIRST, cap: float = CAP) -> float:
    """The delay after the n-th consecutive failure, before jitter: first * 2^(n-1), capped."""
    if failures <= 0:
        return 0.0
    return min(cap, first * 2.0 ** min(failures - 1, 64))


class Backoff:
    """One gate's streak of failed passes."""

    def __init__(self, first: float = FIRST, cap: float = CAP, jitter: float = JITTER) -> None:
        if not 0 < first <= cap or not 0 <= jitter < 1:
            raise ValueError(f"need 0 < first <= cap and 0 <= jitter < 1: {first}, {cap}, {jitter}")
        self.first, self.cap, self.jitter = first, cap, jitter
        self.failures = 0
        self._since = 0.0
        self._kind: str | None = None
        self._logged = False
        self._cap_logged = False

    @property
    def failing(self) -> bool:
        return self.failures > 0

    def failed(self, kind: str, now: float, draw: float = 0.0, *, quiet: bool = False) -> Retry:
        """Count a failed pass of `kind` (e.g. the exception's class) at `now`
        (seconds, monotonic); `draw` in [0, 1] picks the jitter (0: none).
        `quiet`: the caller will not log this failure whatever `log` says (someone
        else reports it), so the streak's end is not news on its account."""
        if self.failures == 0:
            self._since = now
        self.failures += 1
        base = base_delay(self.failures, self.first, self.cap)
        capped = base >= self.cap
        log = self.failures == 1 or kind != self._kind or (capped and not self._cap_logged)
        self._kind = kind
        if log and not quiet:
            self._logged = True
            self._cap_logged = self._cap_logged or capped
        delay = base * (1.0 - self.jitter * min(max(draw, 0.0), 1.0))
        return Retry(delay=delay, failures=self.failures, log=log, capped=capped)

    def succeeded(self, now: float) -> Recovery | None:
        """A pass went through: the streak (if any) is over, and the next failure
        waits FIRST again."""
        if self.failures == 0:
            return None
        recovery = Recovery(self.failures, max(0.0, now - self._since), self._logged)
        self.failures = 0
        self._kind = None
        self._logged = self._cap_logged = False
        return recovery
