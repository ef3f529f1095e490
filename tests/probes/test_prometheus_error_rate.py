"""Error rate from a real Prometheus scraping the chat backend."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from chat_backend.testing import run_backend
from deploymentgate.models import ErrorRate
from deploymentgate.probes import run_error_rate_probe, run_prometheus_error_rate

from .backend import ERROR_RATE, FAST_ENV
from .hostile import closed_port

PROMETHEUS = shutil.which("prometheus")
needs_prometheus = pytest.mark.skipif(PROMETHEUS is None, reason="prometheus not installed")

RATIO = (
    'sum(chat_http_requests_total{job="{service}",path="/api/chat",code=~"5.."}) '
    '/ sum(chat_http_requests_total{job="{service}",path="/api/chat"})'
)


@contextlib.asynccontextmanager
async def prometheus_scraping(
    target: str, job: str, tmp: Path, more: dict[str, dict[str, str]] | None = None
) -> AsyncIterator[str]:
    """A real Prometheus scraping `target` every second; `more`: further targets,
    each with the labels it gets (as a Kubernetes scrape job gives namespace and pod)."""
    assert PROMETHEUS is not None
    port = closed_port()
    config = tmp / "prometheus.yml"
    targets = [(target, {}), *(more or {}).items()]
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"scrape_configs:\n- job_name: {job}\n  static_configs:\n"
        + "".join(
            f"  - targets: ['{t}']\n    labels: {json.dumps(labels)}\n" for t, labels in targets
        )
    )
    process = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


async def wait_for_series(url: str, query: str, deadline: float = 20.0) -> None:
    end = time.monotonic() + deadline
    async with httpx.AsyncClient(trust_env=False) as client:
        while time.monotonic() < end:
            with contextlib.suppress(httpx.HTTPError):
                answer = await client.get(f"{url}/api/v1/query", params={"query": query})
                if answer.status_code == 200 and answer.json()["data"]["result"]:
                    return
            await asyncio.sleep(0.25)
    raise AssertionError(f"Prometheus never had {query!r}")


@needs_prometheus
async def test_prometheus_error_rate_fills_the_template_and_judges_the_ratio(
    tmp_path: Path,
) -> None:
    async with run_backend("errors-8pct", env={**FAST_ENV, "CHAT_PHASE_SECONDS": "0"}) as backend:
        await asyncio.sleep(0.1)
        traffic = await run_error_rate_probe(backend, ERROR_RATE, requests=50)
        assert traffic.values["errors"] == 4
        host_port = backend.removeprefix("http://")
        async with prometheus_scraping(host_port, "chat", tmp_path) as prom:
            await wait_for_series(prom, 'chat_http_requests_total{path="/api/chat",code="500"}')
            cfg = ErrorRate(source="prometheus", prometheus_url=prom, query=RATIO, threshold=5)
            over = await run_prometheus_error_rate(cfg, service="chat", namespace="prod")
            within = await run_prometheus_error_rate(
                cfg.model_copy(update={"threshold": 10.0}), service="chat"
            )
            empty = await run_prometheus_error_rate(cfg, service="no-such-service")
            nan = await run_prometheus_error_rate(
                cfg.model_copy(update={"query": "vector(0) / vector(0)"})
            )
            broken = await run_prometheus_error_rate(
                cfg.model_copy(update={"query": "sum(rate(chat_http_requests_total[1m]"})
            )
    assert over.ok is False
    assert over.values == {"error_rate_percent": 8.0}
    assert over.message == "8.0% errors (Prometheus), over the 5% threshold"
    assert 'job="chat"' in over.details["query"]
    assert within.ok is True
    for no_data in (empty, nan):
        assert no_data.ok is None
        assert no_data.message == "no data: query returned no samples (empty vector or NaN)"
    assert broken.ok is None and broken.message.startswith("no data: Prometheus query failed")


async def test_unreachable_prometheus_is_no_data() -> None:
    cfg = ErrorRate(
        source="prometheus",
        prometheus_url=f"http://127.0.0.1:{closed_port()}",
        query="vector(0)",
    )
    obs = await run_prometheus_error_rate(cfg)
    assert obs.ok is None
    assert obs.message == "no data: Prometheus unreachable: connection refused (nothing listening)"


async def test_unknown_placeholder_in_the_query_is_no_data_naming_it() -> None:
    cfg = ErrorRate(
        source="prometheus", prometheus_url="http://127.0.0.1:9", query='up{x="{sevrice}"}'
    )
    obs = await run_prometheus_error_rate(cfg)
    assert obs.ok is None and "unknown placeholder(s) {sevrice}" in obs.message
