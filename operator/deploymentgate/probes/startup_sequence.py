"""The startup probe's judgement, kept apart from its polling.

Polls only sample the phase a pod reports, so fast phases may be missed: a
skipped phase is fine, a phase seen *after* a later one is not. Timings are
seconds since the pod (or the probe) started.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class PhaseSeen:
    phase: str
    first_seen: float  # seconds since start
    last_seen: float


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str  # empty when ok
    late: bool = False  # failed on time (a phase or the whole startup), not on content


@dataclass
class StartupSequence:
    """Fed one poll result at a time; says when the startup has passed or failed."""

    phases: list[str]
    phase_timeout: float
    timeout: float
    seen: list[PhaseSeen] = field(default_factory=list)
    ready_at: float | None = None
    verdict: Verdict | None = None

    def observe_phase(self, phase: str, at: float) -> Verdict | None:
        """A 503 naming `phase`; returns the verdict once there is one."""
        if self.verdict is not None:
            return self.verdict
        if phase not in self.phases:
            return self._decide(
                False, f"undeclared phase {phase!r} (declared: {' → '.join(self.phases)})"
            )
        current = self.seen[-1] if self.seen else None
        if current is not None and current.phase == phase:
            self.seen[-1] = PhaseSeen(phase, current.first_seen, at)
            return self.check_time(at)
        if current is not None and self.phases.index(phase) < self.phases.index(current.phase):
            return self._decide(
                False,
                f"phase {phase} seen after {current.phase} "
                f"(declared order: {' → '.join(self.phases)})",
            )
        late = self._time_problem(at)  # the phase just left may have overrun
        if late is not None:
            return self._decide(False, late, late=True)
        self.seen.append(PhaseSeen(phase, at, at))
        return None

    def observe_ready(self, at: float) -> Verdict:
        """The endpoint answered 200: startup complete, if in time."""
        if self.verdict is not None:
            return self.verdict
        self.ready_at = at
        # Ready before any phase was seen: the probe came late (e.g. an operator
        # restart) and cannot tell how long startup took, so it does not judge it.
        late = self._time_problem(at) if self.seen else None
        if late is not None:
            return self._decide(False, late, late=True)
        return self._decide(True, "")

    def check_time(self, at: float) -> Verdict | None:
        """Called on every poll, answered or not: timeouts fail without waiting for 200."""
        if self.verdict is not None:
            return self.verdict
        late = self._time_problem(at)
        return self._decide(False, late, late=True) if late is not None else None

    def fail(self, reason: str, *, late: bool = False) -> Verdict:
        return self._decide(False, reason, late=late)

    def durations(self, now: float) -> dict[str, float]:
        """Seconds each seen phase lasted: until the next phase seen, or ready, or now."""
        out: dict[str, float] = {}
        for index, entry in enumerate(self.seen):
            if index + 1 < len(self.seen):
                end = self.seen[index + 1].first_seen
            else:
                end = self.ready_at if self.ready_at is not None else now
            out[entry.phase] = max(0.0, end - entry.first_seen)
        return out

    def skipped(self) -> list[str]:
        """Declared phases never seen between the first and last phase that were."""
        seen = {entry.phase for entry in self.seen}
        if self.ready_at is None and self.seen:
            last = self.phases.index(self.seen[-1].phase)
            candidates = self.phases[: last + 1]
        else:
            candidates = self.phases
        return [phase for phase in candidates if phase not in seen]

    def summary(self, now: float) -> str:
        """``INIT 0.4s → DEPENDENCIES 1.1s → …`` plus the outcome."""
        spent = self.durations(now)
        chain = " → ".join(f"{entry.phase} {spent[entry.phase]:.1f}s" for entry in self.seen)
        if self.verdict is not None and not self.verdict.ok:
            return f"{chain} ; {self.verdict.reason}" if chain else self.verdict.reason
        if self.ready_at is not None:
            ready = f"ready in {self.ready_at:.1f}s"
            return f"{chain} → {ready}" if chain else f"{ready} (no phase seen in progress)"
        return chain or "no phase seen yet"

    def _time_problem(self, at: float) -> str | None:
        if self.seen:
            current = self.seen[-1]
            if at - current.first_seen > self.phase_timeout:
                return f"{current.phase} exceeded {self.phase_timeout:g}s"
        if at > self.timeout:
            where = f" (still in {self.seen[-1].phase})" if self.seen else ""
            return f"startup not complete within {self.timeout:g}s{where}"
        return None

    def _decide(self, ok: bool, reason: str, *, late: bool = False) -> Verdict:
        self.verdict = Verdict(ok, reason, late)
        return self.verdict
