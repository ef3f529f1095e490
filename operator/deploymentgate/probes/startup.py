"""Startup probe (seed §1, §3, §5): watch a pod's phases from its start.

The health endpoint answers 503 with ``startup_phase`` while the app starts
and 200 once every phase is done. The probe polls it, records when each phase
was first seen, and judges order and timing with `StartupSequence`.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from datetime import datetime
from typing import Any

import httpx

from deploymentgate.models import StartupProbe
from deploymentgate.observations import ProbeKind, ProbeObservation
from deploymentgate.probes.http_client import ProbeHTTPError, fetch, hardened_client
from deploymentgate.probes.limits import (
    DEADLINE_SLACK_SECONDS,
    MAX_BODY_BYTES,
    MIN_POLL_INTERVAL_SECONDS,
)
from deploymentgate.probes.observe import clip, now_utc, observation, parse_json_object
from deploymentgate.probes.startup_sequence import StartupSequence, Verdict
from deploymentgate.probes.urls import probe_url

NOT_OBSERVED = "phase order not observed (probe from the service's start, or leave startup out)"


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
            self.last_problem = f"{before}: {exc}"
            return self.sequence.check_time(self.elapsed())
        at = self.elapsed()
        self.answers += 1
        self.max_latency = max(self.max_latency, answer.latency)
        if answer.truncated:
            return self.sequence.fail(f"health body larger than {MAX_BODY_BYTES // 1024} KiB")
        body, why_not = parse_json_object(answer.body)
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
        return self.sequence.observe_phase(phase, at)

    def observation(self, target: str, revision: str | None) -> ProbeObservation:
        seq = self.sequence
        now = self.elapsed()
        verdict = seq.verdict or seq.fail(
            f"startup not complete within {seq.timeout:g}s", late=True
        )
        spent = seq.durations(now)
        total = seq.ready_at if seq.ready_at is not None else now
        values: dict[str, float] = {"total_seconds": total, "polls": self.polls}
        values.update({f"phase_{phase}_seconds": s for phase, s in spent.items()})
        if self.answers:
            values["max_poll_latency_ms"] = self.max_latency * 1000
        details: dict[str, Any] = {
            "phases": [
                {"phase": e.phase, "firstSeenSeconds": round(e.first_seen, 3)} for e in seq.seen
            ],
            "skipped": seq.skipped(),
        }
        ok: bool | None = verdict.ok
        message = seq.summary(now)
        if verdict.ok and self.first_answer_ready:
            when = (
                "already started when first polled"
                if self.polls == 1
                else "answered 200 without reporting any startup phase"
            )
            ok, message = None, f"{when}: {NOT_OBSERVED}"
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
