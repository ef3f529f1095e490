"""Metric checks against Prometheus on loopback: a real one (queries of constants)
and a recording stand-in that shows what the operator asked."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import urllib.parse
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from websockets.asyncio.client import connect

from chat_backend.testing import run_backend
from deploymentgate.controller.pods import PodInfo
from deploymentgate.controller.probing import GateProber
from deploymentgate.core import ProbeRun, ProbeWorkload
from deploymentgate.metrics import GateMetrics
from deploymentgate.models import GateSpec, MetricChecks, parse_spec
from deploymentgate.observations import ProbeKind, ProbeObservation
from deploymentgate.probes.kind_runner import PodTarget, PrometheusContext, Stable
from deploymentgate.probes.metric_checks import evaluate, placeholders
from deploymentgate.probes.promql import pod_regex, render_query
from deploymentgate.probes.registry import runner

from .backend import FAST_ENV
from .hostile import Reader, Served, Writer, _read_request, closed_port, tcp_server
from .test_prometheus_error_rate import needs_prometheus, prometheus_scraping, wait_for_series

M = ProbeKind.METRICS


def gate(url: str, *checks: dict[str, Any]) -> GateSpec:
    return parse_spec(
        {
            "targetRef": {"name": "chat"},
            "service": "chat",
            "probes": {"metrics": {"prometheusUrl": url, "checks": list(checks)}},
        }
    )


def check(name: str, query: str, **condition: Any) -> dict[str, Any]:
    return {"name": name, "query": query, "condition": condition}


def section(spec: GateSpec) -> MetricChecks:
    assert spec.probes.metrics is not None
    return spec.probes.metrics


@needs_prometheus
async def test_a_real_prometheus_judges_values_and_never_passes_no_data(tmp_path: Path) -> None:
    target = f"127.0.0.1:{closed_port()}"  # nothing to scrape: the queries are constants
    async with prometheus_scraping(target, "none", tmp_path) as prom:
        await wait_for_series(prom, "vector(1)")
        spec = gate(
            prom,
            check("low", "vector(0.2)", atMost=0.25),
            check("high", "vector(0.3)", atMost=0.25),
            check("floor", "vector(7)", atLeast=10),
            check("band", "vector(-2)", within=[-3, -1]),
            check("series", 'label_replace(vector(1), "pod", "a", "", "") or vector(5)', atMost=2),
            check(
                "worst",
                'label_replace(vector(4), "pod", "a", "", "") or vector(-9)'
                ' or label_replace(vector(0), "pod", "c", "", "")',
                within=[-1, 1],
            ),
            check("empty", "vector(1) > 2", atMost=1),
            check("nan", "vector(0) / vector(0)", atMost=1),
            check("broken", "sum(rate(x[1m]", atMost=1),
        )
        values = placeholders(spec, namespace="prod", revision="r1", pods="chat-a")
        seen = {
            c.name: await evaluate(section(spec), c, values, "r1") for c in section(spec).checks
        }
    assert {n: o.ok for n, o in seen.items()} == {
        "low": True,
        "high": False,
        "floor": False,
        "band": True,
        "series": False,
        "worst": False,
        "empty": None,
        "nan": None,
        "broken": None,
    }
    assert seen["high"].message == "0.3, not at most 0.25"
    assert seen["high"].details["value"] == 0.3
    assert seen["low"].message == "0.2, at most 0.25"
    assert seen["series"].message == "5 (worst of 2 series), not at most 2"
    assert seen["worst"].message == "-9 (worst of 3 series), not within [-1, 1]"
    assert seen["band"].message == "-2, within [-3, -1]"
    for name in ("empty", "nan"):
        assert seen[name].message == "no data: query returned no samples (empty vector or NaN)"
    assert seen["broken"].message.startswith("no data: Prometheus query failed")
    assert all(o.kind is M and o.target == n and o.revision == "r1" for n, o in seen.items())


async def test_unreachable_prometheus_is_no_data_never_a_pass() -> None:
    spec = gate(f"http://127.0.0.1:{closed_port()}", check("p95", "vector(0)", atMost=1))
    obs = await evaluate(section(spec), section(spec).checks[0], {}, "r1")
    assert obs.ok is None
    assert obs.message == "no data: Prometheus unreachable: connection refused (nothing listening)"


class StandIn:
    """Answers each query from `answers` (by its text) and records what was asked."""

    def __init__(self, answers: dict[str, float | list[float] | None]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    async def __call__(self, reader: Reader, writer: Writer, s: Served) -> None:
        head = (await _read_request(reader)).decode()
        target = head.split(" ")[1]
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(target).query)["query"][0]
        self.asked.append(query)
        value = self.answers.get(query)
        series = [] if value is None else value if isinstance(value, list) else [value]
        result = [{"metric": {"i": str(i)}, "value": [1, str(v)]} for i, v in enumerate(series)]
        body = json.dumps(
            {"status": "success", "data": {"resultType": "vector", "result": result}}
        ).encode()
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        await writer.drain()


async def test_rounds_fill_in_the_revisions_own_pods_escaped_and_pace_each_check() -> None:
    template = 'x{namespace="{namespace}",pod=~"{pod_regex}",rev="{revision}",svc="{service}"}'
    filled = 'x{namespace="prod",pod=~"chat-r1-a\\\\.1|chat-r1-b",rev="r1",svc="chat"}'
    stand_in = StandIn({filled: 0.1})
    async with tcp_server(stand_in) as server:
        spec = gate(
            server.url,
            {**check("fast", template, atMost=1), "interval": "100ms"},
            {**check("slow", "vector(1)", atMost=1), "interval": "1h"},
        )
        rounds = runner(M).rounds(spec, section(spec))
        pods = [PodTarget("chat-r1-b", "http://b"), PodTarget("chat-r1-a.1", "http://a")]
        none = await rounds.round([], revision="r1", namespace="prod", gate="g")
        first = await rounds.round(pods, revision="r1", namespace="prod", gate="g")
        second = await rounds.round(pods, revision="r1", namespace="prod", gate="g")
    assert none.results == () and none.outcome is None  # no pod: nothing asked
    assert first.outcome is True
    assert [(o.target, o.ok) for o, _ in first.results] == [("fast", True), ("slow", None)]
    assert stand_in.asked[0] == filled
    # The slow check waits for its own interval; the fast one's is not up yet either.
    assert len(stand_in.asked) == 2 and second.results == ()


async def test_the_stable_revisions_pods_fill_its_placeholders_and_none_is_no_data() -> None:
    template = 'y{pod=~"{stable_pod_regex}",rev="{stable_revision}"}'
    filled = 'y{pod=~"chat-s1-a|chat-s1-b",rev="s1"}'
    stand_in = StandIn({filled: 2.0})
    async with tcp_server(stand_in) as server:
        spec = gate(server.url, check("vs-stable", template, atMost=3))
        canary = [PodTarget("chat-r1-a", "http://a")]
        stable = Stable("s1", (PodTarget("chat-s1-b", ""), PodTarget("chat-s1-a", "")))
        with_stable = (
            await runner(M)
            .rounds(spec, section(spec))
            .round(canary, revision="r1", namespace="prod", gate="g", stable=stable)
        )
        without = (
            await runner(M)
            .rounds(spec, section(spec))
            .round(canary, revision="r1", namespace="prod", gate="g")
        )
    assert stand_in.asked == [filled]
    (passed, _), (nodata, _) = with_stable.results[0], without.results[0]
    assert passed.ok is True and passed.details["value"] == 2.0
    assert nodata.ok is None
    assert nodata.message == (
        "no data: {stable_pod_regex}, {stable_revision} has no value now (no such pods yet)"
    )


async def test_check_runs_every_check_once_and_folds_them_as_the_operator_does() -> None:
    stand_in = StandIn({'up{pod=~".*"}': 3.0, "ok": 1.0})
    async with tcp_server(stand_in) as server:
        spec = gate(
            server.url,
            check("pods", 'up{pod=~"{pod_regex}"}', atLeast=1),
            check("ok", "ok", atMost=1),
            {**check("shadow", "missing", atMost=1), "dryRun": True},
            {**check("ratio", 'up{pod=~"{pod_regex}"}', atMost=1), "relativeTo": "stable"},
        )
        passed = await runner(M).check(
            spec,
            section(spec),
            "http://unused",
            honor_port=True,
            target=None,
            revision="r1",
            prometheus=PrometheusContext(namespace="prod", revision="r1"),
        )
        held = await runner(M).check(
            gate(server.url, check("gone", "missing", atMost=1)),
            section(gate(server.url, check("gone", "missing", atMost=1))),
            "http://unused",
            honor_port=True,
            target=None,
            revision="r1",
            prometheus=None,
        )
    assert passed.ok is True and passed.message == "2/2 checks passed"
    assert passed.values == {"pods": 3.0, "ok": 1.0}
    shadow = passed.details["checks"][2]
    assert shadow["name"] == "shadow" and shadow["dryRun"] is True and "ok" not in shadow
    assert held.ok is None and held.message.startswith("gone: no data")
    # No stable beside the service: the relative check is skipped, not a pass or a failure.
    ratio = passed.details["checks"][3]
    assert ratio["skipped"] is True and ratio["message"].startswith("skipped: ")


def pod_info(name: str) -> PodInfo:
    return PodInfo(
        name=name,
        namespace="shop",
        labels={},
        ip="127.0.0.1",
        port=closed_port(),
        ready=True,
        started_at=None,
        owner=None,
        deleting=False,
    )


async def test_the_operators_prober_runs_the_checks_and_exports_each_one() -> None:
    stand_in = StandIn(
        {
            "p95": 0.2,
            "shadow": 9.0,
            'up{pod=~"chat-v1-1"}': 1.0,
            'r{pod=~"chat-v2-1"}': 0.3,
            'r{pod=~"chat-v1-1"}': 0.2,
        }
    )
    metrics = GateMetrics()
    prober = GateProber("shop", "chat", metrics)
    target, stable = pod_info("chat-v2-1"), pod_info("chat-v1-1")
    async with tcp_server(stand_in) as server:
        spec = gate(
            server.url,
            check("p95", "p95", atMost=0.25),
            {**check("shadow", "shadow", atMost=1), "dryRun": True},
            check("stable-up", 'up{pod=~"{stable_pod_regex}"}', atLeast=1),
            {**check("vs-stable", 'r{pod=~"{pod_regex}"}', atMost=1.2), "relativeTo": "stable"},
        )
        prober.start(spec, ProbeRun("v2", ProbeWorkload.CANARY, frozenset({M})))
        prober.sync_targets(lambda: [target], lambda: ("v1", [stable]))
        seen: list[ProbeObservation] = []
        try:
            for _ in range(100):
                seen += prober.drain()
                if len(seen) >= 4:
                    break
                await asyncio.sleep(0.05)
        finally:
            await prober.aclose()
    assert sorted((o.target, o.ok, o.revision) for o in seen[:4]) == [
        ("p95", True, "v2"),
        ("shadow", False, "v2"),
        ("stable-up", True, "v2"),
        ("vs-stable", False, "v2"),
    ]

    def sample(metric: str, check: str, dry_run: str) -> float | None:
        labels = {"namespace": "shop", "gate": "chat", "check": check, "dry_run": dry_run}
        return metrics.registry.get_sample_value(f"deploymentgate_{metric}", labels)

    assert sample("metric_check_value", "p95", "false") == 0.2
    assert sample("metric_check_success", "p95", "false") == 1.0
    assert sample("metric_check_value", "shadow", "true") == 9.0
    assert sample("metric_check_success", "shadow", "true") == 0.0
    assert sample("metric_check_value", "vs-stable", "false") == pytest.approx(1.5)  # the ratio
    # The kind's verdict is folded from every check, not the last one seen.
    assert (
        metrics.registry.get_sample_value(
            "deploymentgate_probe_success",
            {"namespace": "shop", "gate": "chat", "probe": "metrics"},
        )
        is None
    )
    metrics.forget("shop", "chat")
    assert sample("metric_check_value", "p95", "false") is None


EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "chat-metric-checks.yaml"
# The reference backend in three modes, each a "pod" as a Kubernetes scrape job labels it.
PODS = {"healthy": "chat-good-1", "slow-chat": "chat-slow-1", "ws-slow-events": "chat-ws-1"}


async def user_traffic(url: str, seconds: float, *, websocket: bool = True) -> None:
    """What users do, for `seconds`: chat requests, and WebSocket conversations beside them."""
    end = time.monotonic() + seconds

    async def chat() -> None:
        async with httpx.AsyncClient(trust_env=False) as client:
            while time.monotonic() < end:
                await client.get(f"{url}/api/chat")

    async def converse() -> None:
        async with connect(url.replace("http://", "ws://", 1) + "/ws", proxy=None) as ws:
            await ws.recv()  # connection_established
            while time.monotonic() < end:
                await ws.send(json.dumps({"type": "user_message", "text": "hi"}))
                while json.loads(await ws.recv())["type"] != "agent_completed":
                    pass

    await asyncio.gather(chat(), *([converse()] if websocket else []))


@needs_prometheus
async def test_the_example_checks_judge_the_seeds_latency_bounds_on_real_traffic(
    tmp_path: Path,
) -> None:
    """examples/chat-metric-checks.yaml: a slow /api/chat fails the p95 check
    although /health is fast, slow WebSocket events fail the event check."""
    spec = parse_spec(yaml.safe_load(EXAMPLE.read_text())["spec"])
    checks = section(spec)
    env = {**FAST_ENV, "CHAT_PHASE_SECONDS": "0"}
    async with contextlib.AsyncExitStack() as stack:
        urls = {mode: await stack.enter_async_context(run_backend(mode, env=env)) for mode in PODS}
        labelled = {
            url.removeprefix("http://"): {"namespace": "prod", "pod": PODS[mode]}
            for mode, url in urls.items()
        }
        nothing = f"127.0.0.1:{closed_port()}"
        prom = await stack.enter_async_context(
            prometheus_scraping(nothing, "chat", tmp_path, labelled)
        )
        await wait_for_series(prom, 'up{pod="chat-good-1"} == 1')  # scraped from now on
        checks = checks.model_copy(update={"prometheus_url": prom})
        await asyncio.gather(*(user_traffic(url, 4.0) for url in urls.values()))
        seen: dict[str, dict[str, ProbeObservation]] = {}
        for mode, pod in PODS.items():
            values = placeholders(spec, namespace="prod", revision="r", pods=pod_regex([pod]))
            assert checks.checks[0].query is not None
            await wait_for_series(prom, render_query(checks.checks[0].query, values))
            seen[mode] = {c.name: await evaluate(checks, c, values, "r") for c in checks.checks}
    verdicts = {mode: {name: o.ok for name, o in by.items()} for mode, by in seen.items()}
    assert verdicts == {
        "healthy": {"chat-p95-seconds": True, "ws-event-p95-seconds": True, "chat-5xx-ratio": True},
        "slow-chat": {
            "chat-p95-seconds": False,
            "ws-event-p95-seconds": True,
            "chat-5xx-ratio": True,
        },
        "ws-slow-events": {
            "chat-p95-seconds": True,
            "ws-event-p95-seconds": False,
            "chat-5xx-ratio": True,
        },
    }, {mode: {n: o.message for n, o in by.items()} for mode, by in seen.items()}
    assert seen["slow-chat"]["chat-p95-seconds"].message.endswith(", not at most 0.05")


P95 = (
    "histogram_quantile(0.95, sum by (le) (rate(chat_http_request_duration_seconds_bucket"
    '{namespace="{namespace}",pod=~"{pod_regex}",path="/api/chat"}[1m])))'
)
# Every revision 0.3 s slower (0.25-0.5 s bucket, wide enough for a loaded machine's
# stalls); the bad canary 0.6 s more on top (the 0.5-1 s bucket: about twice the stable).
SLOWDOWN = {**FAST_ENV, "CHAT_PHASE_SECONDS": "0", "CHAT_EXTRA_LATENCY_SECONDS": "0.3"}
SHARED = {"chat-old-1": "healthy", "chat-new-1": "healthy", "chat-bad-1": "slow-chat"}


@needs_prometheus
async def test_a_shared_slowdown_passes_a_relative_check_and_fails_the_absolute_one(
    tmp_path: Path,
) -> None:
    """Issue 21's acceptance: both revisions slowed the same way, the canary passes
    `relativeTo: stable` (about 1 x the stable) and fails the absolute 50 ms bound; a
    canary slow on its own fails both. In the watch after promotion the relative check
    is skipped (no other revision serves then)."""
    env = {**SLOWDOWN, "CHAT_SLOW_REPLY_SECONDS": "0.6"}
    async with contextlib.AsyncExitStack() as stack:
        urls = {
            pod: await stack.enter_async_context(run_backend(mode, env=env))
            for pod, mode in SHARED.items()
        }
        labelled = {
            url.removeprefix("http://"): {"namespace": "prod", "pod": pod}
            for pod, url in urls.items()
        }
        nothing = f"127.0.0.1:{closed_port()}"
        prom = await stack.enter_async_context(
            prometheus_scraping(nothing, "chat", tmp_path, labelled)
        )
        await wait_for_series(prom, 'up{pod="chat-old-1"} == 1')  # scraped from now on
        await asyncio.gather(*(user_traffic(url, 3.0, websocket=False) for url in urls.values()))
        spec = gate(
            prom,
            check("p95-seconds", P95, atMost=0.05),
            {**check("p95-vs-stable", P95, atMost=1.2), "relativeTo": "stable"},
        )
        for pod in SHARED:
            values = placeholders(spec, namespace="prod", revision="r", pods=pod)
            await wait_for_series(prom, render_query(P95, values))
        stable = Stable("old", (PodTarget("chat-old-1", ""),))

        async def judged(pod: str, beside: Stable) -> dict[str, ProbeObservation]:
            rounds = runner(M).rounds(spec, section(spec))
            canary = [PodTarget(pod, "http://unused")]
            done = await rounds.round(
                canary, revision=pod, namespace="prod", gate="chat", stable=beside
            )
            return {o.target: o for o, _ in done.results}

        good, bad = await judged("chat-new-1", stable), await judged("chat-bad-1", stable)
        watched = await judged("chat-new-1", Stable())
    shown = {n: o.message for by in (good, bad) for n, o in by.items()}
    assert good["p95-vs-stable"].ok is True, shown
    assert good["p95-seconds"].ok is False, shown
    assert bad["p95-vs-stable"].ok is False and bad["p95-seconds"].ok is False, shown
    ratio, canary, baseline = (
        good["p95-vs-stable"].details[k] for k in ("value", "canary", "stable")
    )
    assert 0.25 < baseline <= 0.5 and 0.25 < canary <= 0.5 and 0.8 < ratio < 1.2, shown
    assert good["p95-vs-stable"].message == (
        f"canary {canary:g} = {ratio:.3g} × stable {baseline:g}, at most 1.2×"
    )
    assert good["p95-vs-stable"].details["stableQuery"] == render_query(
        P95, placeholders(spec, namespace="prod", revision="old", pods="chat-old-1")
    )
    assert bad["p95-vs-stable"].details["value"] > 1.2, shown
    assert watched["p95-seconds"].ok is False
    assert watched["p95-vs-stable"].ok is None
    assert watched["p95-vs-stable"].details["skipped"] is True


async def test_a_relative_check_without_a_number_on_either_side_is_no_data() -> None:
    """Each side's own reason; a stable value at or below minBaseline is never divided by."""
    template = 'x{pod=~"{pod_regex}"}'
    answers: dict[str, float | list[float] | None] = {
        'x{pod=~"new"}': 0.2,
        'x{pod=~"two"}': [0.1, 0.3],
        'x{pod=~"zero"}': 0.0,
        'x{pod=~"tiny"}': 0.001,
        'x{pod=~"fine"}': 0.25,
    }
    stand_in = StandIn(answers)

    async def ratio(canary: str, stable: str | None, **fields: Any) -> ProbeObservation:
        spec = gate(
            server.url, {**check("r", template, atMost=1.2), "relativeTo": "stable", **fields}
        )
        beside = Stable("s", (PodTarget(stable, ""),) if stable else ())
        values = placeholders(spec, namespace="prod", revision="c", pods=canary, stable=beside)
        return await evaluate(section(spec), section(spec).checks[0], values, "c")

    async with tcp_server(stand_in) as server:
        passed = await ratio("new", "fine")
        zero = await ratio("new", "zero")
        tiny = await ratio("new", "tiny", minBaseline=0.01)
        empty_canary = await ratio("gone", "fine")
        empty_stable = await ratio("new", "gone")
        no_pods = await ratio("new", None)
        several = await ratio("two", "fine")
    assert passed.ok is True and passed.message == "canary 0.2 = 0.8 × stable 0.25, at most 1.2×"
    assert (zero.ok, zero.message) == (
        None,
        "no data: stable 0 is too small to divide canary 0.2 by (minBaseline 0)",
    )
    assert (tiny.ok, tiny.details["stable"]) == (None, 0.001)
    assert tiny.message.endswith("(minBaseline 0.01)")
    assert empty_canary.ok is None and empty_canary.message == (
        "no data: canary: query returned no samples (empty vector or NaN)"
    )
    assert empty_stable.ok is None and empty_stable.message.startswith("no data: stable: ")
    # A stable without a serving pod (a 100% step): nothing to compare with.
    assert no_pods.ok is None and no_pods.details["skipped"] is True, no_pods
    assert no_pods.message.startswith(
        "skipped: no other revision takes traffic beside this one (a 100% step"
    )
    assert several.ok is None and several.message.startswith(
        "no data: canary: 2 series; a relative check compares one number a side"
    )
