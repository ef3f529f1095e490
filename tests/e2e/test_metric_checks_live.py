"""Metric checks on real traffic, judged by a real Prometheus scraping the sandbox's
pods (issue 21, acceptance 1).

v2 in `slow-chat` answers /api/chat after 100 ms, over the check's 50 ms bound,
and /health at once. The gate's own requests never touch /api/chat (its error
rate probe asks /health here), so every probe of the gate passes: only users,
sending load through the Service, see the slow answers, and only the latency
check over the pods' own histograms can tell. It rolls v2 back, the trigger
and the value named. A healthy v2 under the same gate and the same load, shipped
at the same time in a namespace of its own, is promoted: the bound is one a good
revision meets.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from pod_metrics import PodScrape
from rollout_helpers import (
    MakeWorld,
    StartOperator,
    chat_deployment,
    chat_service,
    gate,
    gate_spec,
    metric_value,
)
from traffic_helpers import UserTraffic

from deploymentgate_devkit.testing.prometheus import Prometheus

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(240)]

REPLICAS = 2
BOUND = 0.05  # seconds: seed §5, "response time < 50 ms"
CHECK = "chat-p95-seconds"
# The example's query (examples/chat-metric-checks.yaml) over a window of seconds.
P95 = (
    "histogram_quantile(0.95, sum by (le) (rate(chat_http_request_duration_seconds_bucket"
    '{namespace="{namespace}",pod=~"{pod_regex}",path="/api/chat"}[10s])))'
)


def latency_gate(prometheus_url: str) -> dict[str, Any]:
    """The fast gate, two steps, and the p95 check of /api/chat every 2 s."""
    spec = gate_spec(traffic={"steps": [50, 100], "stepDuration": "6s", "progressDeadline": "90s"})
    spec["probes"]["metrics"] = {
        "prometheusUrl": prometheus_url,
        "checks": [
            {
                "name": CHECK,
                "query": P95,
                "condition": {"atMost": BOUND},
                "interval": "2s",
                "failureLimit": 2,
                "noData": "hold",
            }
        ],
    }
    # The gate's own requests stay off /api/chat: only users are slowed down.
    spec["rollback"]["errorRate"]["path"] = "/health"
    return spec


def check_status(status: dict[str, Any]) -> dict[str, Any]:
    (check,) = [c for c in status["probes"]["metrics"]["checks"] if c["name"] == CHECK]
    return dict(check)


def test_slow_chat_under_user_load_is_rolled_back_by_the_latency_check_and_healthy_promoted(
    make_world: MakeWorld, start_operator: StartOperator, prometheus: Prometheus
) -> None:
    slow, healthy = make_world(), make_world()
    worlds = (slow, healthy)
    operator = start_operator(*(w.namespace for w in worlds))
    scrape = PodScrape(prometheus, worlds).start()
    users: list[UserTraffic] = []
    try:
        for world in worlds:
            world.apply(
                chat_deployment(version="v1", replicas=REPLICAS),
                chat_service(),
                gate(latency_gate(prometheus.url)),
            )
        for world in worlds:
            world.wait_phase("Idle", 60)
            scrape.wait_scraped(world)
        # Both v2s ship at once, each under its users' load through the Service.
        users = [UserTraffic(world).start() for world in worlds]
        slow.set_version("v2", mode="slow-chat")
        healthy.set_version("v2")
        under = ("Verifying", "Progressing")
        rolled_back = slow.wait_phase("RolledBack", 120, allowed=under)
        promoted = healthy.wait_phase("Promoted", 120, allowed=under)
        slow.wait_endpoints(v1=REPLICAS)
    finally:
        for traffic in users:
            traffic.stop()
        scrape.stop()

    # The latency check rolled slow-chat back, naming itself and the value.
    assert rolled_back["rollbackTrigger"] == "metricCheckFailed", rolled_back
    failed = check_status(rolled_back)
    assert failed["ok"] is False and failed["value"] > BOUND, failed
    value = f"{failed['value']:g}"
    reason = rolled_back["rollbackReason"]
    assert reason.startswith(f"metric check {CHECK} failed 2 evaluations in a row"), reason
    assert f"{value}, not at most {BOUND:g}" in reason, reason
    assert reason in rolled_back["message"], rolled_back["message"]
    (event,) = [e for e in slow.events() if e["reason"] == "RolledBack"]
    assert CHECK in event["message"] and value in event["message"], event
    labels = {"namespace": slow.namespace, "gate": "chat", "reason": "metricCheckFailed"}
    assert metric_value(operator.metrics(), "deploymentgate_rollbacks_total", **labels) == 1
    # Every probe of the gate's own passed: only the users' latency failed v2.
    own = {k: p for k, p in rolled_back["probes"].items() if k != "metrics"}
    assert own.keys() >= {"startup", "health", "websocket", "errorRate"}, own.keys()
    assert all(p["ok"] is True for p in own.values()), own
    # Users met v2 before the rollback, and only v1 after it.
    assert users[0].reached("v2") > 0, users[0].served()
    assert slow.traffic(30) == Counter(v1=30)

    # The same check, the same load: a healthy v2 passes it at each step.
    passed = check_status(promoted)
    assert passed["ok"] is True and 0 < passed["value"] <= BOUND, passed
    assert users[1].reached("v2") > 0, users[1].served()
