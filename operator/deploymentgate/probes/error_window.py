"""Outcomes of the gate's own requests over a sliding window (seed §9:
"error rate > 5%").

Pure and clock-free: the caller says when each outcome happened and what
time it is now, so the rollback rule can be tested without waiting.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from deploymentgate.probes.limits import MAX_WINDOW_OUTCOMES


@dataclass(frozen=True)
class ErrorRateReading:
    requests: int
    errors: int
    rate_percent: float | None  # None: fewer than min_requests, no verdict

    @property
    def has_data(self) -> bool:
        return self.rate_percent is not None


@dataclass
class ErrorRateWindow:
    window: timedelta
    min_requests: int = 1
    _outcomes: deque[tuple[datetime, bool]] = field(default_factory=deque, repr=False)

    def record(self, at: datetime, error: bool) -> None:
        """Outcomes may arrive slightly out of time order (concurrent requests)."""
        self._outcomes.append((at, error))
        while len(self._outcomes) > MAX_WINDOW_OUTCOMES:
            self._outcomes.popleft()

    def reading(self, now: datetime) -> ErrorRateReading:
        self._expire(now)
        current = [error for at, error in self._outcomes if at <= now]
        requests, errors = len(current), sum(current)
        if requests < self.min_requests or requests == 0:
            return ErrorRateReading(requests, errors, None)
        return ErrorRateReading(requests, errors, 100.0 * errors / requests)

    def _expire(self, now: datetime) -> None:
        horizon = now - self.window
        self._outcomes = deque(o for o in self._outcomes if o[0] > horizon)
