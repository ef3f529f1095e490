"""Error rate (seed §8 "monitor error rates", §9 "error rate > 5%").

Two sources. `probe`: the gate sends its own requests to the target and keeps
their outcomes in an ErrorRateWindow; an error is a 5xx answer or no usable
answer at all (4xx means the probe asked wrongly, not that the service
broke). `prometheus`: an instant query the team wrote returns the ratio.
Either way, too little data is "no data" (ok=None), never a pass.
"""

from __future__ import annotations

import asyncio
import json
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
    PodTarget,
    ProbeRunner,
    PrometheusContext,
    Round,
    Rounds,
)
from deploymentgate.probes.limits import MAX_PROMETHEUS_BYTES
from deploymentgate.probes.observe import clip, now_utc, observation
from deploymentgate.probes.promql import QueryTemplateError, promql_duration, render_query
from deploymentgate.probes.urls import probe_url, redact

# Per-request bound for the gate's own traffic; a request slower than this
# counts as an error (users would have given up too).
REQUEST_TIMEOUT_SECONDS = 5.0
PROMETHEUS_TIMEOUT_SECONDS = 10.0
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
    url = probe_url(cfg.prometheus_url, f"/api/v1/query?{httpx.QueryParams(query=query)}")
    try:
        async with hardened_client(PROMETHEUS_TIMEOUT_SECONDS) as client:
            answer = await fetch(
                client, url, timeout=PROMETHEUS_TIMEOUT_SECONDS, max_bytes=MAX_PROMETHEUS_BYTES
            )
    except ProbeHTTPError as exc:
        return no_data(f"Prometheus unreachable: {exc}", query=query)
    ratio, why = parse_prometheus_answer(answer.status, answer.body, answer.truncated)
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
    if truncated:
        return None, f"Prometheus answer larger than {MAX_PROMETHEUS_BYTES // 1024} KiB"
    try:
        doc = json.loads(body)
    except ValueError:
        return None, f"Prometheus answered HTTP {status} with a body that is not JSON"
    if not isinstance(doc, dict):
        return None, "Prometheus answer is not a JSON object"
    if doc.get("status") != "success":
        error = doc.get("error") or f"HTTP {status}"
        return None, f"Prometheus query failed: {clip(str(error))}"
    data = doc.get("data")
    if not isinstance(data, dict):
        return None, "Prometheus answer has no data"
    kind, result = data.get("resultType"), data.get("result")
    samples: list[Any]
    if kind == "scalar":
        samples = [result]
    elif kind == "vector" and isinstance(result, list):
        samples = [s.get("value") for s in result if isinstance(s, dict)]
    else:
        return None, f"query must return a vector or scalar, got {clip(str(kind), 20)}"
    numbers = [n for n in (_sample_value(s) for s in samples) if n is not None]
    if not numbers:
        return None, "query returned no samples (empty vector or NaN)"
    if any(n < 0 for n in numbers):
        return None, "query returned a negative ratio"
    return max(numbers), ""  # several series: judge the worst


def _sample_value(sample: Any) -> float | None:
    if not isinstance(sample, list) or len(sample) != 2:
        return None
    try:
        value = float(sample[1])
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) or math.isinf(value) else value


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
        self, pods: Sequence[PodTarget], *, revision: str, namespace: str, gate: str
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
