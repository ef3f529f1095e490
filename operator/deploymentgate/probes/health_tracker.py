"""How long a target's health has been failing (seed §9: "failing for > 5m").

One probe run is a point; the rollback trigger needs a duration. The tracker
remembers when the current run of failures began. "No data" neither starts
nor ends a run: it says nothing about health.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from deploymentgate.observations import ProbeObservation


@dataclass
class HealthTracker:
    failing_since: datetime | None = None
    last_success: datetime | None = None
    last: ProbeObservation | None = None

    def feed(self, obs: ProbeObservation) -> None:
        self.last = obs
        if obs.ok is True:
            self.failing_since = None
            self.last_success = obs.at
        elif obs.ok is False and self.failing_since is None:
            self.failing_since = obs.at

    def failing_for(self, now: datetime) -> timedelta:
        if self.failing_since is None:
            return timedelta(0)
        return max(timedelta(0), now - self.failing_since)
