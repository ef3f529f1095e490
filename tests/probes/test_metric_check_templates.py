"""Reusable metric checks through the operator's prober, against recording
Prometheus stand-ins on loopback: a templated check asks the template's query
filled with the revision's own placeholders (of the template's Prometheus when
it names one), keeps its own bounds, follows a template's change from the next
evaluation, and is no data while its template is missing."""

from __future__ import annotations

import asyncio
from typing import Any

from deploymentgate.controller.check_templates import Entry, template_lookup
from deploymentgate.controller.probing import GateProber
from deploymentgate.core import ProbeRun, ProbeWorkload
from deploymentgate.metrics import GateMetrics
from deploymentgate.models import MetricCheckTemplateSpec
from deploymentgate.observations import ProbeKind, ProbeObservation

from .hostile import tcp_server
from .test_metric_checks import StandIn, gate, pod_info

M = ProbeKind.METRICS
LATENCY = 'lat{namespace="{namespace}",pod=~"{pod_regex}",rev="{revision}",svc="{service}"}'
LATENCY_FILLED = 'lat{namespace="shop",pod=~"chat-v2-1",rev="v2",svc="chat"}'


def ref_check(name: str, kind: str, template: str, **fields: Any) -> dict[str, Any]:
    return {
        "name": name,
        "templateRef": {"kind": kind, "name": template},
        "interval": "100ms",
        **fields,
    }


def template(query: str, **fields: Any) -> MetricCheckTemplateSpec:
    return MetricCheckTemplateSpec.model_validate({"query": query, **fields})


async def collect(prober: GateProber, want: int) -> list[ProbeObservation]:
    seen: list[ProbeObservation] = []
    for _ in range(100):
        seen += prober.drain()
        if len(seen) >= want:
            break
        await asyncio.sleep(0.05)
    return seen


async def test_templated_checks_run_the_templates_query_with_their_own_bounds() -> None:
    gates_prometheus = StandIn({LATENCY_FILLED: 0.2, "v2-latency": 0.4})
    platform_prometheus = StandIn({'err{pod=~"chat-v2-1"}': 0.3, 'err{pod=~"chat-v1-1"}': 0.2})
    async with tcp_server(gates_prometheus) as gates, tcp_server(platform_prometheus) as platform:
        namespaced: dict[tuple[str, str], list[Entry]] = {
            ("shop", "p95"): [template(LATENCY)],
            ("platform", "only-there"): [template("vector(1)")],
        }
        cluster: dict[str, list[Entry]] = {
            "errors": [
                template('err{pod=~"{pod_regex}"}', relativeTo="stable", prometheusUrl=platform.url)
            ]
        }
        spec = gate(
            gates.url,
            # Two gates' worth of bounds on one template: each judges with its own.
            ref_check("p95-tight", "MetricCheckTemplate", "p95", condition={"atMost": 0.1}),
            ref_check("p95-loose", "MetricCheckTemplate", "p95", condition={"atMost": 0.25}),
            ref_check("errors", "ClusterMetricCheckTemplate", "errors", condition={"atMost": 1.2}),
            ref_check("elsewhere", "MetricCheckTemplate", "only-there", condition={"atMost": 1}),
            ref_check(
                "gone", "ClusterMetricCheckTemplate", "gone", condition={"atMost": 1}, noData="fail"
            ),
        )
        prober = GateProber("shop", "chat", GateMetrics())
        target, stable = pod_info("chat-v2-1"), pod_info("chat-v1-1")
        prober.start(spec, ProbeRun("v2", ProbeWorkload.CANARY, frozenset({M})))
        prober.sync_targets(
            lambda: [target], lambda: ("v1", [stable]), template_lookup("shop", namespaced, cluster)
        )
        try:
            first = {o.target: o for o in (await collect(prober, 5))[:5]}
            # The platform team edits its template: the next evaluation asks the new query.
            namespaced["shop", "p95"] = [template("v2-latency")]
            await asyncio.sleep(0.25)
            later = [o for o in await collect(prober, 10) if o.target == "p95-loose"]
        finally:
            await prober.aclose()

    assert {name: (o.ok, o.message) for name, o in first.items()} == {
        "p95-tight": (False, "0.2, not at most 0.1"),
        "p95-loose": (True, "0.2, at most 0.25"),
        "errors": (False, "canary 0.3 = 1.5 × stable 0.2, not at most 1.2×"),
        "elsewhere": (None, "no data: MetricCheckTemplate only-there not found in namespace shop"),
        "gone": (None, "no data: ClusterMetricCheckTemplate gone not found"),
    }
    assert first["p95-loose"].details["query"] == LATENCY_FILLED
    assert first["p95-loose"].details["template"] == "MetricCheckTemplate p95"
    assert first["errors"].details["stableQuery"] == 'err{pod=~"chat-v1-1"}'
    # Each query went to its own Prometheus: the template's, else the gate's.
    assert set(gates_prometheus.asked) == {LATENCY_FILLED, "v2-latency"}
    assert set(platform_prometheus.asked) == {'err{pod=~"chat-v2-1"}', 'err{pod=~"chat-v1-1"}'}
    assert later and later[-1].ok is False and later[-1].message == "0.4, not at most 0.25"


async def test_without_the_operators_lookup_a_templated_check_is_no_data() -> None:
    """`deploymentgate check` reads no cluster: a templated check is never a pass there."""
    stand_in = StandIn({})
    async with tcp_server(stand_in) as server:
        spec = gate(
            server.url, ref_check("p95", "MetricCheckTemplate", "p95", condition={"atMost": 1})
        )
        prober = GateProber("shop", "chat", GateMetrics())
        prober.start(spec, ProbeRun("v2", ProbeWorkload.CANARY, frozenset({M})))
        prober.sync_targets(lambda: [pod_info("chat-v2-1")])
        try:
            (seen, *_) = await collect(prober, 1)
        finally:
            await prober.aclose()
    assert seen.ok is None
    assert seen.message == (
        "no data: MetricCheckTemplate p95 is read by the operator only (from the cluster), not here"
    )
    assert stand_in.asked == []
