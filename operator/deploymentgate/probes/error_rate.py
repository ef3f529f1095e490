"""Error rate (seed §8 "monitor error rates", §9 "error rate > 5%").

Two sources. `probe`: the gate sends its own requests to the target and keeps
their outcomes in an ErrorRateWindow; an error is a 5xx answer or no usable
answer at all (4xx means the probe asked wrongly, not that the service
broke). `prometheus`: an instant query the team wrote returns the ratio.
Either way, too little data is "no data" (ok=None), never a pass.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Sequence
from typing import Any

import httpx

from deploymentgate.durations import format_duration
from deploymentgate.models import ErrorRate, ErrorRateSource, GateSpec, Model
from deploymentgate.observations import ProbeKind, ProbeObservation
from deploymentgate.probes.budget import budget
from deploymentgate.probes.error_window import ErrorRateWindow
from deploymentgate.probes.http_client import ProbeHTTPError, fetch, hardened_client
from deploymentgate.probes.kind_runner import (
    NO_STABLE,
    PodTarget,
    ProbeRunner,
    PrometheusContext,
    Round,
    Rounds,
    Stable,
    TemplateLookup,
)
from deploymentgate.probes.observe import now_utc, observation
from deploymentgate.probes.prometheus import instant_query, parse_samples
from deploymentgate.probes.promql import QueryTemplateError, promql_duration, render_query
from deploymentgate.probes.urls import probe_url, redact

# Per-request bound for the gate's own traffic; a request slower than this
# counts as an error (users would have given up too).
REQUEST_TIMEOUT_SECONDS = 5.0
MAX_CONCURRENT_REQUESTS = 10


def new_window(cfg: ErrorRate) -> ErrorRateWindow:
    return ErrorRateWindow(window=cfg.window, min_requests=cfg.min_requests)


async def send_probe_traffic(
    base_url: str,
    cfg: ErrorRate,
    window: ErrorRateWindow,
    *,
    requests: int | None = None,
    honor_port: bool = True,
) -> list[str]:
    """Send one interval's requests; record each outcome. Returns the error reasons."""
    url = probe_url(base_url, cfg.path, cfg.port if honor_port else None)
    count = requests if requests is not None else cfg.requests_per_interval
    limit = asyncio.Semaphore(MAX_CONCURRENT_REQUESTS)
    reasons: list[str] = []

    async def one(client: httpx.AsyncClient) -> None:
        # Bulk work: a slot of the small, fair bulk pool (probes/budget.py) first.
        async with limit, budget().bulk.slot():
            try:
                answer = await fetch(client, url, timeout=REQUEST_TIMEOUT_SECONDS, max_bytes=4096)
            except ProbeHTTPError as exc:
                window.record(now_utc(), True)
                reasons.append(str(exc))
                return
            error = answer.status >= 500
            window.record(now_utc(), error)
            if error:
                reasons.append(f"HTTP {answer.status}")

    async with hardened_client(REQUEST_TIMEOUT_SECONDS) as client:
        await asyncio.gather(*(one(client) for _ in range(count)))
    return reasons


def judge_window(
    cfg: ErrorRate,
    window: ErrorRateWindow,
    *,
    reasons: list[str] | None = None,
    target: str = "",
    revision: str | None = None,
) -> ProbeObservation:
    """The verdict on everything the window holds now."""
    reading = window.reading(now_utc())
    values = {"requests": float(reading.requests), "errors": float(reading.errors)}
    span = format_duration(cfg.window)
    details: dict[str, Any] = {"source": "probe"}
    if reasons:
        details["errorReasons"] = _count(reasons)
    if reading.rate_percent is None:
        return observation(
            ProbeKind.ERROR_RATE,
            None,
            f"no data: {reading.requests} requests in the last {span} "
            f"(need at least {cfg.min_requests})",
            target=target,
            revision=revision,
            values=values,
            details=details,
        )
    values["error_rate_percent"] = reading.rate_percent
    ok = reading.rate_percent <= cfg.threshold
    relation = "within" if ok else "over"
    message = (
        f"{reading.rate_percent:.1f}% errors ({reading.errors}/{reading.requests} "
        f"in {span}), {relation} the {cfg.threshold:g}% threshold"
    )
    if not ok and reasons:
        message += f" — {_top_reason(reasons)}"
    return observation(
        ProbeKind.ERROR_RATE,
        ok,
        message,
        target=target,
        revision=revision,
        values=values,
        details=details,
    )


async def run_error_rate_probe(
    base_url: str,
    cfg: ErrorRate,
    window: ErrorRateWindow | None = None,
    *,
    requests: int | None = None,
    honor_port: bool = True,
    target: str | None = None,
    revision: str | None = None,
) -> ProbeObservation:
    """One interval of probe traffic, judged over the window (fresh if not given).

    The operator passes the same window every interval so the rate covers
    `cfg.window`; a one-shot caller passes `requests` large enough to reach
    `cfg.min_requests`.
    """
    window = window if window is not None else new_window(cfg)
    url = probe_url(base_url, cfg.path, cfg.port if honor_port else None)
    reasons = await send_probe_traffic(
        base_url, cfg, window, requests=requests, honor_port=honor_port
    )
    return judge_window(
        cfg,
        window,
        reasons=reasons,
        target=target if target is not None else url,
        revision=revision,
    )


async def run_prometheus_error_rate(
    cfg: ErrorRate,
    *,
    namespace: str = "",
    service: str = "",
    revision: str | None = None,
    pod_regex: str = ".*",
    target: str | None = None,
) -> ProbeObservation:
    """Ask Prometheus for the error ratio (0..1) of the revision under test."""
    where = target if target is not None else (cfg.prometheus_url or "")

    def no_data(why: str, **details: Any) -> ProbeObservation:
        return observation(
            ProbeKind.ERROR_RATE,
            None,
            f"no data: {why}",
            target=where,
            revision=revision,
            details={"source": "prometheus", **details},
        )

    if not cfg.prometheus_url or not cfg.query:
        return no_data("errorRate.source=prometheus needs prometheusUrl and query")
    try:
        query = render_query(
            cfg.query,
            {
                "namespace": namespace,
                "service": service,
                "revision": revision or "",
                "pod_regex": pod_regex,
                "window": promql_duration(cfg.window),
            },
        )
    except QueryTemplateError as exc:
        return no_data(str(exc))
    numbers, why = await instant_query(cfg.prometheus_url, query)
    ratio, why = _worst_ratio(numbers, why)
    if ratio is None:
        return no_data(why, query=query)
    percent = ratio * 100
    ok = percent <= cfg.threshold
    relation = "within" if ok else "over"
    return observation(
        ProbeKind.ERROR_RATE,
        ok,
        f"{percent:.1f}% errors (Prometheus), {relation} the {cfg.threshold:g}% threshold",
        target=where,
        revision=revision,
        values={"error_rate_percent": percent},
        details={"source": "prometheus", "query": query},
    )


def parse_prometheus_answer(status: int, body: bytes, truncated: bool) -> tuple[float | None, str]:
    """(ratio, "") or (None, why there is no usable number)."""
    return _worst_ratio(*parse_samples(status, body, truncated))


def _worst_ratio(numbers: list[float] | None, why: str) -> tuple[float | None, str]:
    if numbers is None:
        return None, why
    if any(n < 0 for n in numbers):
        return None, "query returned a negative ratio"
    return max(numbers), ""  # several series: judge the worst


def _count(reasons: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for reason in reasons:
        key = redact(reason)
        counts[key] = counts.get(key, 0) + 1
    return counts


def _top_reason(reasons: list[str]) -> str:
    counts = _count(reasons)
    reason, n = max(counts.items(), key=lambda item: item[1])
    return f"most common: {reason} (×{n})"


class ErrorRateRunner(ProbeRunner):
    kind = ProbeKind.ERROR_RATE

    async def check(
        self,
        spec: GateSpec,
        section: Model,
        base_url: str,
        *,
        honor_port: bool,
        target: str | None,
        revision: str | None,
        prometheus: PrometheusContext | None,
    ) -> ProbeObservation:
        """A one-shot run has no earlier intervals to add up, so it sends enough
        requests at once to reach minRequests."""
        assert isinstance(section, ErrorRate)
        if section.source is ErrorRateSource.PROMETHEUS:
            context = prometheus or PrometheusContext(revision=revision)
            return await run_prometheus_error_rate(
                section,
                namespace=context.namespace,
                service=spec.service,
                revision=context.revision,
                pod_regex=context.pod_regex,
                target=target,
            )
        batches = max(1, math.ceil(section.min_requests / section.requests_per_interval))
        return await run_error_rate_probe(
            base_url,
            section,
            requests=batches * section.requests_per_interval,
            honor_port=honor_port,
            target=target,
            revision=revision,
        )

    def rounds(self, spec: GateSpec, section: Model) -> Rounds:
        assert isinstance(section, ErrorRate)
        return ErrorRateRounds(self, spec, section)


class ErrorRateRounds(Rounds):
    """One observation per round for the whole gate (its target is the gate): the
    gate's own requests to every serving pod, judged over a sliding window, or a
    PromQL query over those pods. The window decides, so every round paces as a pass."""

    def __init__(self, runner: ProbeRunner, spec: GateSpec, section: ErrorRate) -> None:
        super().__init__(runner, spec, section)
        self.cfg = section
        self.window = new_window(section)

    async def round(
        self,
        pods: Sequence[PodTarget],
        *,
        revision: str,
        namespace: str,
        gate: str,
        stable: Stable = NO_STABLE,
        templates: TemplateLookup | None = None,
    ) -> Round:
        cfg, began = self.cfg, time.monotonic()
        if cfg.source is ErrorRateSource.PROMETHEUS:
            obs = await run_prometheus_error_rate(
                cfg,
                namespace=namespace,
                service=self.spec.service,
                revision=revision,
                pod_regex="|".join(p.name or "" for p in pods) or ".*",
                target=gate,
            )
        else:
            reasons: list[str] = []
            for pod in pods:
                reasons += await send_probe_traffic(pod.base_url, cfg, self.window)
            obs = judge_window(cfg, self.window, reasons=reasons, target=gate, revision=revision)
        return Round(((obs, time.monotonic() - began),), True)
