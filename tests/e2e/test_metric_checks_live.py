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

import os
import re
import socket
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from pod_metrics import PodScrape
from rollout_helpers import (
    APP,
    GateWorld,
    MakeWorld,
    StartOperator,
    chat_deployment,
    chat_service,
    gate,
    gate_spec,
    metric_value,
)
from traffic_helpers import UserTraffic, _Sampler

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


# ---------------------------------------------------------------------------
# Issue 21, acceptance 2-4: a shared slowdown, no data, a dry run. Every world
# ships at once under one operator and one Prometheus; one pod a revision.

SLOWDOWN = "0.3"  # CHAT_EXTRA_LATENCY_SECONDS on every /api/chat of both revisions
RELATIVE, ABSOLUTE = "chat-p95-vs-stable", "chat-p95-seconds"
MISSING = "chat-queue-depth"  # a metric no pod exports: every query of it is empty
TRIAL, ACTING = "chat-p95-1ms", "chat-p95-1s"  # a dry run, and the check that acts
NO_DATA_DEADLINE = 20  # seconds: progressDeadline of the gates without data


def checks_gate(
    prometheus_url: str,
    *checks: dict[str, Any],
    deadline: int = 90,
    step: int = 3,
    error_rate_path: str = "/health",
) -> dict[str, Any]:
    """The fast gate, two short steps, these checks every second."""
    spec = gate_spec(
        traffic={"steps": [50, 100], "stepDuration": f"{step}s", "progressDeadline": f"{deadline}s"}
    )
    defaults = {"interval": "1s", "failureLimit": 2}
    spec["probes"]["metrics"] = {
        "prometheusUrl": prometheus_url,
        "checks": [{**defaults, **c} for c in checks],
    }
    spec["rollback"]["errorRate"]["path"] = error_rate_path
    return spec


def missing_check(no_data: str) -> dict[str, Any]:
    query = f'sum({MISSING}{{namespace="{{namespace}}",pod=~"{{pod_regex}}"}})'
    return {"name": MISSING, "query": query, "condition": {"atMost": 10}, "noData": no_data}


def named(status: dict[str, Any], name: str) -> dict[str, Any]:
    (check,) = [c for c in status["probes"]["metrics"]["checks"] if c["name"] == name]
    return dict(check)


def closed_port() -> int:
    """A loopback port with (almost certainly) nothing listening: a Prometheus down."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def kubectl_gate_status(world: GateWorld) -> str:
    """`kubectl gate status chat` as a user runs it: kubectl finds kubectl-gate on PATH."""
    path = os.pathsep.join([str(Path(sys.executable).parent), world.cluster.env["PATH"]])
    # kubectl takes no flag before a plugin's name: -n after it.
    result = world.cluster.kubectl("gate", "status", APP, "-n", world.namespace, env={"PATH": path})
    return str(result.stdout)


def described_check(describe: str, name: str) -> dict[str, str]:
    """The fields `kubectl describe` prints for one metric check of the status (the
    spec names it too, above). describe prints list items without a separator,
    each one's fields sorted: an item ends where the order starts over."""
    lines = describe.splitlines()
    status = lines.index("Status:")
    (at,) = [
        i
        for i, line in enumerate(lines)
        if i > status and re.fullmatch(rf"\s*Name:\s+{re.escape(name)}", line)
    ]
    indent = len(lines[at]) - len(lines[at].lstrip())
    begin = at
    while begin > 0 and len(lines[begin - 1]) - len(lines[begin - 1].lstrip()) >= indent:
        begin -= 1
    items: list[dict[str, str]] = []
    last = ""
    for line in lines[begin:]:
        depth = len(line) - len(line.lstrip())
        if depth < indent:
            break
        match = re.fullmatch(r"\s*([A-Z][A-Za-z ]*):\s*(.*)", line)
        if depth > indent or match is None:
            continue
        key = match.group(1).replace(" ", "").lower()
        if not items or key <= last:
            items.append({})
        items[-1][match.group(1)] = match.group(2).strip()
        last = key
    (item,) = [i for i in items if i.get("Name") == name]
    return item


class StatusLog(_Sampler):
    """Each world's gate status every `interval` s: what a rollout showed on the way."""

    def __init__(self, worlds: Sequence[GateWorld], interval: float = 0.4) -> None:
        super().__init__(interval)
        self.worlds = tuple(worlds)
        self.seen: dict[str, list[dict[str, Any]]] = {w.namespace: [] for w in self.worlds}

    def _sample(self) -> None:
        for world in self.worlds:
            self.seen[world.namespace].append(world.status())

    def first(self, world: GateWorld, pred: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        seen = list(self.seen[world.namespace])
        found = [s for s in seen if pred(s)]
        shown = {(s.get("phase"), s.get("canaryWeight"), s.get("message")) for s in seen}
        assert found, f"{world.namespace}: no such status among {len(seen)}: {shown}"
        return found[0]


def relative_ok(status: dict[str, Any]) -> bool | None:
    return checks_of(status).get(RELATIVE, {}).get("ok")


def checks_of(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    metrics = (status.get("probes") or {}).get("metrics") or {}
    return {c["name"]: c for c in metrics.get("checks") or []}


def test_shared_slowdown_no_data_and_dry_run_on_the_local_cluster(
    make_world: MakeWorld, start_operator: StartOperator, prometheus: Prometheus
) -> None:
    relative, absolute, hold, fail, unreachable, dry = worlds = [make_world() for _ in range(6)]
    operator = start_operator(*(w.namespace for w in worlds))
    scrape = PodScrape(prometheus, worlds).start()
    nowhere = f"http://127.0.0.1:{closed_port()}"
    slowed = {"CHAT_EXTRA_LATENCY_SECONDS": SLOWDOWN}
    p95 = {"query": P95}
    gates = {
        relative: checks_gate(
            prometheus.url,
            {
                **p95,
                "name": RELATIVE,
                "condition": {"atMost": 1.5},
                "relativeTo": "stable",
                "failureLimit": 3,
            },
            step=8,  # its pass at 50% stays in the status long enough to be seen
        ),
        absolute: checks_gate(
            prometheus.url,
            {**p95, "name": ABSOLUTE, "condition": {"atMost": BOUND}, "failureLimit": 3},
        ),
        hold: checks_gate(prometheus.url, missing_check("hold"), deadline=NO_DATA_DEADLINE),
        fail: checks_gate(prometheus.url, missing_check("fail")),
        unreachable: checks_gate(nowhere, missing_check("hold"), deadline=NO_DATA_DEADLINE),
        # The gate's own error-rate requests on /api/chat fill the histograms.
        dry: checks_gate(
            prometheus.url,
            {**p95, "name": ACTING, "condition": {"atMost": 1.0}},
            {
                **p95,
                "name": TRIAL,
                "condition": {"atMost": 0.001},
                "dryRun": True,
                "failureLimit": 1,
            },
            error_rate_path="/api/chat",
        ),
    }
    users: list[UserTraffic] = []
    log = StatusLog([relative, hold], interval=0.2)
    try:
        for world, spec in gates.items():
            env = slowed if world in (relative, absolute) else None
            world.apply(
                chat_deployment(version="v1", replicas=1, env=env), chat_service(), gate(spec)
            )
        for world in worlds:
            world.wait_phase("Idle", 60)
        for world in (relative, absolute, dry):
            scrape.wait_scraped(world)
        # Two users on the relative world: enough samples a window that one slow
        # answer (a pod just started, a busy machine) does not move its p95.
        users = [UserTraffic(world).start() for world in (relative, absolute, relative)]
        for world in worlds:
            world.set_version("v2")  # the slowdown stays: v2 is slowed like v1
        log.start()
        under = ("Verifying", "Progressing", "Promoting")
        results = {
            world: world.wait_phase(phase, 120, allowed=under)
            for world, phase in (
                (relative, "Promoted"),
                (absolute, "RolledBack"),
                (fail, "RolledBack"),
                (dry, "Promoted"),
                (hold, "Blocked"),
                (unreachable, "Blocked"),
            )
        }
        metrics = operator.metrics()
    finally:
        for traffic in users:
            traffic.stop()
        scrape.stop()
        log.stop()

    # A slowdown both revisions share: the relative check passes v2 at 50% ...
    at_half = log.first(relative, lambda s: s.get("canaryWeight") == 50 and relative_ok(s) is True)
    passed = checks_of(at_half)[RELATIVE]
    assert passed["ok"] is True and passed["value"] <= 1.5, passed
    assert passed["canaryValue"] > BOUND and passed["stableValue"] > BOUND, passed
    # (at 100% the stable has no pod left: nothing to compare with, skipped, not held)
    skipped = named(results[relative], RELATIVE)
    assert skipped["skipped"] is True and skipped.get("ok") is None, skipped
    # ... the absolute one, the same p95 against a fixed bound, rolls it back.
    rolled_back = results[absolute]
    assert rolled_back["rollbackTrigger"] == "metricCheckFailed", rolled_back
    failed = named(rolled_back, ABSOLUTE)
    assert failed["ok"] is False and failed["value"] > BOUND, failed
    for world, traffic in zip((relative, absolute), users, strict=False):
        assert traffic.reached("v2") > 0, (world.namespace, traffic.served())

    # No data holds (and Blocks at the deadline), or fails; never a pass.
    held = log.first(hold, lambda s: "holding" in (s.get("message") or ""))
    assert held["phase"] == "Progressing" and held["step"] == 0 and held["canaryWeight"] == 50, held
    assert "metrics probe (no pass during this step yet)" in held["message"], held["message"]
    for world in (hold, unreachable):
        blocked = results[world]
        assert blocked["rollbackTrigger"] == "progressDeadline", blocked
        assert f"held longer than {NO_DATA_DEADLINE}s" in blocked["message"], blocked["message"]
        waiting = named(blocked, MISSING)
        assert waiting.get("ok") is None and waiting["message"].startswith("no data"), waiting
        assert waiting.get("lastSuccess") is None, waiting
    assert "connect" in named(results[unreachable], MISSING)["message"].lower()
    failed_no_data = results[fail]
    assert failed_no_data["rollbackTrigger"] == "metricCheckFailed", failed_no_data
    reason = failed_no_data["rollbackReason"]
    assert reason.startswith(f"metric check {MISSING} failed 2 evaluations in a row"), reason
    assert reason.endswith("(noData: fail)"), reason
    assert named(failed_no_data, MISSING).get("lastSuccess") is None

    # A dry run changes nothing: v2 is promoted over its failing check ...
    promoted = results[dry]
    assert named(promoted, ACTING)["ok"] is True, promoted["probes"]["metrics"]
    trial = named(promoted, TRIAL)
    assert trial["ok"] is False and trial["dryRun"] is True and trial["value"] > 0.001, trial
    assert trial["consecutiveFailures"] >= 1, trial  # its failureLimit (1): it never acted
    # ... and is shown everywhere: describe, the plugin, the operator's metrics.
    shown = described_check(dry.describe(), TRIAL)
    assert shown.get("Dry Run") == "true" and float(shown["Value"]) > 0.001, shown
    assert shown.get("Ok") == "false", shown
    (line,) = [ln for ln in kubectl_gate_status(dry).splitlines() if TRIAL in ln]
    assert "not at most 0.001" in line and "(dry run" in line, line
    labels = {"namespace": dry.namespace, "gate": APP, "check": TRIAL, "dry_run": "true"}
    assert metric_value(metrics, "deploymentgate_metric_check_success", **labels) == 0, labels
    assert metric_value(metrics, "deploymentgate_metric_check_value", **labels) > 0.001
    acting = {**labels, "check": ACTING, "dry_run": "false"}
    assert metric_value(metrics, "deploymentgate_metric_check_success", **acting) == 1, acting
