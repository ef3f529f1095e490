"""Startup probe (seed §1, §3, §5): watch a pod's phases from its start.

The health endpoint answers 503 with ``startup_phase`` while the app starts
and 200 once every phase is done. The probe polls it, records when each phase
was first seen, and judges order and timing with `StartupSequence`.

Seen from its first phase (issue 13): the controller starts this probe as soon
as the pod has an address, before its app listens, so the first polls are
refused and the first answer names the first phase. A run is judged only if
its start was watched: either the first answer named the first declared phase,
or the probe saw the app come up (a refused poll before the first answer; a
phase that ends before the app can answer is invisible to any HTTP probe).
Otherwise the first phases went unseen and the result is "no data" with
`not_observed`: never a pass. The core then replaces the verification pod, at
most a few times (core/verification.restart_unwatched). We chose this over
reading the phase sequence from the pod's log: the log's format is the app's
own, reading it needs pods/log access, and the seed's contract for phases is
the health endpoint (§3). The status says which phases were seen
(``phases_observed`` of ``phases_declared`` in values, the chain in the message).

An app may also publish its own phase record in the health body (``phases``:
``[{"phase", "started_at", "completed_at"}]``, as the reference backend does):
the seed's "startup logs", read where the probe already looks. When present it
is judged too: a record out of declared order, or with a phase over
phaseTimeout, fails even if polling missed it (polls sample; a record does
not), and a record that starts with the first declared phase counts as the
start seen, so a late probe need not replace the pod.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from datetime import datetime
from typing import Any

import httpx

from deploymentgate.models import GateSpec, Model, StartupProbe
from deploymentgate.observations import ProbeKind, ProbeObservation
from deploymentgate.probes.http_client import ProbeHTTPError, fetch, hardened_client
from deploymentgate.probes.kind_runner import PodTarget, ProbeRunner
from deploymentgate.probes.limits import (
    DEADLINE_SLACK_SECONDS,
    MAX_BODY_BYTES,
    MIN_POLL_INTERVAL_SECONDS,
)
from deploymentgate.probes.observe import clip, now_utc, observation, parse_json_object
from deploymentgate.probes.startup_sequence import StartupSequence, Verdict
from deploymentgate.probes.urls import probe_url

NOT_OBSERVED = "phase order not observed (probe from the service's start, or leave startup out)"
MAX_RECORD = 64  # entries of an app's phase record read at most


async def run_startup_probe(
    base_url: str,
    cfg: StartupProbe,
    *,
    honor_port: bool = True,
    started_at: datetime | None = None,
    target: str | None = None,
    revision: str | None = None,
) -> ProbeObservation:
    """Poll until startup completes, fails, or runs out of time.

    `started_at` (the pod's start) makes the reported times relative to it;
    without it they are relative to the probe's first poll. Failures are
    `final`: this startup is over and waiting cannot change its outcome.
    """
    url = probe_url(base_url, cfg.path, cfg.port if honor_port else None)
    run = _StartupRun(url, cfg, started_at)
    try:
        async with asyncio.timeout(cfg.timeout.total_seconds() + DEADLINE_SLACK_SECONDS):
            await run.poll_until_verdict()
    except TimeoutError:
        run.sequence.fail(
            f"startup not complete within {cfg.timeout.total_seconds():g}s", late=True
        )
    return run.observation(target if target is not None else url, revision)


class _StartupRun:
    def __init__(self, url: str, cfg: StartupProbe, started_at: datetime | None) -> None:
        self.url = url
        self.interval = max(cfg.poll_interval.total_seconds(), MIN_POLL_INTERVAL_SECONDS)
        self.sequence = StartupSequence(
            phases=list(cfg.phases),
            phase_timeout=cfg.phase_timeout.total_seconds(),
            timeout=cfg.timeout.total_seconds(),
        )
        self.offset = (now_utc() - started_at).total_seconds() if started_at else 0.0
        self.origin = time.monotonic()
        self.polls = 0
        self.answers = 0
        self.max_latency = 0.0
        self.last_problem = ""
        self.first_answer_ready = False
        self.refused_before_answer = False  # saw the app come up: its start was watched
        self.first_answer_phase: str | None = None
        # The app's own phase record from its latest body: (phase, started, completed).
        self.record: list[tuple[str, float | None, float | None]] | None = None

    def elapsed(self) -> float:
        return self.offset + time.monotonic() - self.origin

    async def poll_until_verdict(self) -> None:
        request_timeout = min(max(1.0, 5 * self.interval), self.sequence.timeout)
        async with hardened_client(request_timeout) as client:
            while True:
                poll_started = time.monotonic()
                verdict = await self._poll(client, request_timeout)
                if verdict is not None:
                    return
                pause = self.interval - (time.monotonic() - poll_started)
                await asyncio.sleep(max(0.0, pause))

    async def _poll(self, client: httpx.AsyncClient, request_timeout: float) -> Verdict | None:
        self.polls += 1
        remaining = self.sequence.timeout - self.elapsed()
        # A pod that started long before the probe (a new leader, a restart) still
        # gets a fair request: never less than a second to answer.
        floor = min(request_timeout, 1.0)
        try:
            answer = await fetch(
                client, self.url, timeout=max(floor, min(request_timeout, remaining + 0.05))
            )
        except ProbeHTTPError as exc:
            before = "not up yet" if self.answers == 0 else "no answer after startup began"
            if self.answers == 0:
                self.refused_before_answer = True
            self.last_problem = f"{before}: {exc}"
            return self.sequence.check_time(self.elapsed())
        at = self.elapsed()
        self.answers += 1
        self.max_latency = max(self.max_latency, answer.latency)
        if answer.truncated:
            return self.sequence.fail(f"health body larger than {MAX_BODY_BYTES // 1024} KiB")
        body, why_not = parse_json_object(answer.body)
        if body is not None:
            self._note_record(body)
        if answer.status == 200:
            if body is not None and (
                body.get("startup_in_progress") is True or body.get("startup_complete") is False
            ):
                return self.sequence.fail("answered 200 while reporting startup in progress")
            if self.answers == 1 and not self.sequence.seen:
                self.first_answer_ready = True
            return self.sequence.observe_ready(at)
        if answer.status != 503:
            return self.sequence.fail(
                f"unexpected status {answer.status} during startup "
                "(expected 503 until ready, then 200)"
            )
        if body is None:
            self.last_problem = f"503 without a startup phase: {why_not}"
            return self.sequence.check_time(at)
        if body.get("startup_failed") is True:
            phase = body.get("startup_phase")
            where = f" in {clip(str(phase), 40)}" if phase else ""
            error = body.get("error") or body.get("message") or ""
            return self.sequence.fail(
                f"startup failed{where}" + (f": {clip(str(error))}" if error else "")
            )
        phase = body.get("startup_phase")
        if not isinstance(phase, str) or not phase:
            self.last_problem = "503 without a startup_phase field"
            return self.sequence.check_time(at)
        self.last_problem = ""
        if self.answers == 1:
            self.first_answer_phase = phase
        return self.sequence.observe_phase(phase, at)

    def _note_record(self, body: dict[str, Any]) -> None:
        phases = body.get("phases")
        if not isinstance(phases, list) or not phases:
            return
        record = []
        for entry in phases[:MAX_RECORD]:
            if not isinstance(entry, dict) or not isinstance(entry.get("phase"), str):
                return  # not a record we understand: ignore it whole
            record.append(
                (
                    clip(entry["phase"], 40),
                    _number(entry.get("started_at")),
                    _number(entry.get("completed_at")),
                )
            )
        self.record = record

    def _record_problem(self) -> str | None:
        """What the app's own record shows wrong: order, undeclared phase, a slow phase."""
        declared = self.sequence.phases
        previous: str | None = None
        for phase, started, completed in self.record or []:
            if phase not in declared:
                return f"the app's phase record names undeclared phase {phase!r}"
            if previous is not None and declared.index(phase) < declared.index(previous):
                return (
                    f"the app's phase record: {phase} started after {previous}"
                    f" (declared order: {' → '.join(declared)})"
                )
            took = (completed - started) if started is not None and completed is not None else 0
            if took > self.sequence.phase_timeout:
                return (
                    f"the app's phase record: {phase} took {took:.1f}s"
                    f" (over {self.sequence.phase_timeout:g}s)"
                )
            previous = phase
        return None

    def _record_from_start(self) -> bool:
        return self.record is not None and self.record[0][0] == self.sequence.phases[0]

    def _unseen_start(self) -> list[str]:
        """Declared phases before the first one answered, if the app's start was not watched."""
        first = self.first_answer_phase
        if self.refused_before_answer or first is None or first not in self.sequence.phases:
            return []
        return self.sequence.phases[: self.sequence.phases.index(first)]

    def observation(self, target: str, revision: str | None) -> ProbeObservation:
        seq = self.sequence
        now = self.elapsed()
        verdict = seq.verdict or seq.fail(
            f"startup not complete within {seq.timeout:g}s", late=True
        )
        spent = seq.durations(now)
        total = seq.ready_at if seq.ready_at is not None else now
        observed = {e.phase for e in seq.seen}
        values: dict[str, float] = {
            "total_seconds": total,
            "polls": self.polls,
            "phases_observed": len(observed),
            "phases_declared": len(seq.phases),
        }
        values.update({f"phase_{phase}_seconds": s for phase, s in spent.items()})
        if self.answers:
            values["max_poll_latency_ms"] = self.max_latency * 1000
        details: dict[str, Any] = {
            "phases": [
                {"phase": e.phase, "firstSeenSeconds": round(e.first_seen, 3)} for e in seq.seen
            ],
            "skipped": seq.skipped(),
        }
        if self.record is not None:
            values["phases_in_record"] = len(self.record)
        ok: bool | None = verdict.ok
        message = seq.summary(now)
        unseen_start = self._unseen_start()
        problem = self._record_problem() if verdict.ok else None
        if problem is not None:
            ok, message = False, f"{message} ; {problem}"
        elif verdict.ok and (self.first_answer_ready or unseen_start) and self._record_from_start():
            message = (
                f"{message} (order from the app's phase record: {len(self.record or [])} phases;"
                f" {len(observed)} observed by polling)"
            )
        elif verdict.ok and self.first_answer_ready:
            when = (
                "already started when first polled"
                if self.polls == 1
                else "answered 200 without reporting any startup phase"
            )
            ok, message = None, f"{when}: {NOT_OBSERVED}"
        elif verdict.ok and unseen_start:
            ok = None
            message = (
                f"first phases unseen ({', '.join(unseen_start)}): the first answer already"
                f" reported {self.first_answer_phase}; {message}"
            )
        elif verdict.ok:
            message = f"{message} ({len(observed)}/{len(seq.phases)} phases observed)"
            if self.record is not None:
                message += f"; the app's phase record agrees ({len(self.record)} phases)"
        elif not verdict.ok and self.last_problem:
            details["lastProblem"] = self.last_problem
            if verdict.late:  # why it never got further
                message = f"{message} (last poll: {self.last_problem})"
        result = observation(
            ProbeKind.STARTUP,
            ok,
            message,
            target=target,
            revision=revision,
            final=ok is False,
            values=values,
            details=details,
        )
        return replace(result, not_observed=True) if ok is None else result


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


class StartupRunner(ProbeRunner):
    """Started on each new pod as soon as it has an address (descriptor `per_pod`)."""

    kind = ProbeKind.STARTUP

    async def probe(
        self,
        spec: GateSpec,
        section: Model,
        pod: PodTarget,
        *,
        revision: str | None,
        honor_port: bool = True,
    ) -> ProbeObservation:
        assert isinstance(section, StartupProbe)
        return await run_startup_probe(
            pod.base_url,
            section,
            honor_port=honor_port,
            started_at=pod.started_at,
            target=pod.name,
            revision=revision,
        )
