"""What the demo's own users saw: answers per version, over all time and over a sliding window.

Kept apart from the traffic thread and free of clocks (callers pass `now`) so
the counting is tested without a network or a sleep.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from dataclasses import dataclass

NO_ANSWER = "no answer"  # connection refused/reset or timed out: no version to blame


@dataclass(frozen=True)
class VersionTraffic:
    """One version's share of the window, and its failures."""

    version: str
    requests: int
    errors: int
    share_percent: float

    @property
    def error_percent(self) -> float:
        return 100.0 * self.errors / self.requests if self.requests else 0.0


@dataclass(frozen=True)
class TrafficSnapshot:
    window_seconds: float
    versions: tuple[VersionTraffic, ...]  # in the window, most requests first
    totals: dict[str, int]  # all time: answers per version
    total_errors: dict[str, int]  # all time: 5xx (or no answer) per version

    @property
    def window_requests(self) -> int:
        return sum(v.requests for v in self.versions)

    def in_window(self, version: str) -> VersionTraffic | None:
        return next((v for v in self.versions if v.version == version), None)

    def only(self, version: str) -> bool:
        """Every request of the window was answered by `version` (and there were some)."""
        return bool(self.versions) and all(v.version == version for v in self.versions)


class TrafficStats:
    """Thread-safe: the traffic thread records, the progress printer reads."""

    def __init__(self, window_seconds: float = 5.0) -> None:
        if window_seconds <= 0:
            raise ValueError("window_seconds must be positive")
        self.window_seconds = window_seconds
        self._lock = threading.Lock()
        self._recent: deque[tuple[float, str, bool]] = deque()
        self._totals: Counter[str] = Counter()
        self._errors: Counter[str] = Counter()

    def record(self, now: float, version: str | None, status: int | None) -> None:
        """One request's outcome: an error is a 5xx or no HTTP answer at all."""
        name = version or NO_ANSWER
        error = status is None or status >= 500
        with self._lock:
            self._recent.append((now, name, error))
            self._totals[name] += 1
            if error:
                self._errors[name] += 1
            self._expire(now)

    def snapshot(self, now: float) -> TrafficSnapshot:
        with self._lock:
            self._expire(now)
            requests: Counter[str] = Counter()
            errors: Counter[str] = Counter()
            for _, version, error in self._recent:
                requests[version] += 1
                errors[version] += int(error)
            total = sum(requests.values())
            versions = tuple(
                VersionTraffic(v, n, errors[v], 100.0 * n / total)
                for v, n in sorted(requests.items(), key=lambda item: (-item[1], item[0]))
            )
            return TrafficSnapshot(
                self.window_seconds, versions, dict(self._totals), dict(self._errors)
            )

    def _expire(self, now: float) -> None:
        horizon = now - self.window_seconds
        while self._recent and self._recent[0][0] <= horizon:
            self._recent.popleft()
