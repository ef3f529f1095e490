"""One instant query to the Prometheus HTTP API, bounded like every probe.

Shared by the error rate's `source: prometheus` and the metric checks. Any
answer without a usable number (unreachable, an error, an empty vector, NaN)
comes back as (None, why): the caller makes it "no data", never a pass.
"""

from __future__ import annotations

import json
import math
from typing import Any

import httpx

from deploymentgate.probes.http_client import ProbeHTTPError, fetch, hardened_client
from deploymentgate.probes.limits import MAX_PROMETHEUS_BYTES
from deploymentgate.probes.observe import clip
from deploymentgate.probes.urls import probe_url

PROMETHEUS_TIMEOUT_SECONDS = 10.0

Samples = tuple[list[float] | None, str]


async def instant_query(prometheus_url: str, query: str) -> Samples:
    """(the samples' values, "") or (None, why there is none)."""
    url = probe_url(prometheus_url, f"/api/v1/query?{httpx.QueryParams(query=query)}")
    try:
        async with hardened_client(PROMETHEUS_TIMEOUT_SECONDS) as client:
            answer = await fetch(
                client, url, timeout=PROMETHEUS_TIMEOUT_SECONDS, max_bytes=MAX_PROMETHEUS_BYTES
            )
    except ProbeHTTPError as exc:
        return None, f"Prometheus unreachable: {exc}"
    return parse_samples(answer.status, answer.body, answer.truncated)


def parse_samples(status: int, body: bytes, truncated: bool) -> Samples:
    """The numbers of a vector or scalar answer; NaN and infinities are no number."""
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
    return numbers, ""


def _sample_value(sample: Any) -> float | None:
    if not isinstance(sample, list) or len(sample) != 2:
        return None
    try:
        value = float(sample[1])
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) or math.isinf(value) else value
