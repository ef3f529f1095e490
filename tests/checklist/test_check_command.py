"""`deploymentgate check` end to end: the real command, as a process, against
the reference chat backend."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from chat_backend.testing import run_backend
from probes.hostile import tcp_server
from probes.test_metric_checks import StandIn

GATE = """\
apiVersion: rollout.deploymentgate.dev/v1alpha1
kind: DeploymentGate
metadata: {name: chat, namespace: prod}
spec:
  targetRef: {kind: Deployment, name: chat}
  service: chat
  probes:
    startup: {port: 1, phaseTimeout: 600ms, timeout: 8s, pollInterval: 50ms}
    health: {port: 1, maxLatency: 2s}
    websocket: {port: 1, timeout: 3s}
  rollback:
    errorRate: {path: /api/chat, requestsPerInterval: 25, minRequests: 50}
"""
FAST_ENV = {"CHAT_PHASE_SECONDS": "0.25"}
READY_ENV = {"CHAT_PHASE_SECONDS": "0"}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Result:
    code: int
    out: str
    err: str


async def check(*args: str, timeout: float = 30) -> Result:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "deploymentgate",
        "check",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return Result(process.returncode, out.decode(), err.decode())


@pytest.fixture
def gate(tmp_path: Path) -> str:
    path = tmp_path / "gate.yaml"
    path.write_text(GATE)
    return str(path)


async def first_knock(port: int, timeout: float = 60.0) -> None:
    """Wait until something connects to 127.0.0.1:`port` (the check, polling), and
    hang up on it: to the check that is a service not up yet."""
    knocked = asyncio.Event()

    def hang_up(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()
        knocked.set()

    server = await asyncio.start_server(hang_up, "127.0.0.1", port, reuse_address=True)
    try:
        await asyncio.wait_for(knocked.wait(), timeout)
    finally:
        server.close()
        await server.wait_closed()


async def test_check_passes_a_healthy_service_started_alongside(gate: str) -> None:
    """The check starts first, as in CI: it waits for the service and watches its phases.

    The service starts once the check is polling for it (a busy machine can take
    seconds to start the check's interpreter). The gate's `port: 1` fields are
    ignored: --url says where the service is.
    """
    port = closed_port()
    url = f"http://127.0.0.1:{port}"
    running = asyncio.create_task(check("-f", gate, "--url", url))
    await first_knock(port)
    async with run_backend("healthy", port=port, env=FAST_ENV):
        result = await running
    assert result.code == 0, result.out + result.err
    lines = result.out.splitlines()
    assert lines[0] == f"DeploymentGate chat — checking {url}"
    for title in ("Startup sequence", "Health endpoint", "WebSocket events", "Error rate"):
        assert any(line.startswith(f"✅ {title}") for line in lines), result.out
    assert "→ FINALIZE" in result.out and "latency_ms=" in result.out
    assert "error_rate_percent=0" in result.out
    assert lines[-1] == "Result: PASSED (4 passed, 0 failed)"


async def test_check_fails_naming_the_missing_event(gate: str) -> None:
    async with run_backend("ws-missing-event", env=READY_ENV) as url:
        result = await check("-f", gate, "--url", url, "--only", "health,websocket")
    assert result.code == 1
    assert "✅ Health endpoint" in result.out
    ws_line = next(line for line in result.out.splitlines() if "WebSocket events" in line)
    assert ws_line.startswith("❌ WebSocket events")
    assert "missing tool_completed" in ws_line
    assert "Startup sequence" not in result.out and "Error rate" not in result.out
    assert result.out.rstrip().endswith("Result: FAILED (1 passed, 1 failed)")


async def test_check_json_report_is_machine_readable(gate: str) -> None:
    async with run_backend("errors-8pct", env=READY_ENV) as url:
        result = await check("-f", gate, "--url", url, "--json", "--only", "errorRate,health")
    assert result.code == 1
    report = json.loads(result.out)
    assert report["gate"] == "chat" and report["passed"] is False
    checks = {c["probe"]: c for c in report["checks"]}
    assert list(checks) == ["health", "errorRate"]  # run order, whatever --only said
    assert checks["health"]["status"] == "pass"
    assert checks["errorRate"]["ok"] is False
    assert checks["errorRate"]["values"] == {
        "requests": 50.0,
        "errors": 4.0,
        "error_rate_percent": 8.0,
    }


async def test_check_without_data_is_a_warning_and_not_a_pass(tmp_path: Path) -> None:
    path = tmp_path / "gate.yaml"
    path.write_text(
        GATE.replace(
            "errorRate: {path: /api/chat, requestsPerInterval: 25, minRequests: 50}",
            "errorRate: {source: prometheus, query: vector(0), "
            f"prometheusUrl: 'http://127.0.0.1:{closed_port()}'}}",
        )
    )
    async with run_backend("healthy", env=READY_ENV) as url:
        result = await check("-f", str(path), "--url", url, "--only", "health,errorRate")
    assert result.code == 1
    assert "⚠️ Error rate" in result.out and "no data: Prometheus unreachable" in result.out
    assert result.out.rstrip().endswith("Result: FAILED (1 passed, 0 failed, 1 no data)")


async def test_check_against_nothing_listening_fails_cleanly(gate: str) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    result = await check("-f", gate, "--url", url, "--only", "health,websocket")
    assert result.code == 1
    assert "❌ Health endpoint   connection refused (nothing listening)" in result.out
    assert "Traceback" not in result.err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--only", "health,latency"], "--only: unknown probe 'latency'"),
        (["--url", "localhost:8000"], "--url: not an http(s) URL"),
    ],
)
async def test_check_usage_errors_exit_2(gate: str, args: list[str], message: str) -> None:
    base = ["-f", gate, "--url", "http://127.0.0.1:9"]
    result = await check(*base, *args)
    assert result.code == 2
    assert message in result.err and "Traceback" not in result.err


async def test_check_only_a_probe_the_gate_lacks_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "gate.yaml"
    path.write_text("targetRef: {name: chat}\nservice: chat\nprobes: {health: {}}\n")
    result = await check("-f", str(path), "--url", "http://127.0.0.1:9", "--only", "websocket")
    assert result.code == 2
    assert "the gate does not configure websocket" in result.err


async def test_check_reports_a_malformed_gate_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "gate.yaml"
    path.write_text(GATE.replace("maxLatency: 2s", "maxLatency: quick"))
    result = await check("-f", str(path), "--url", "http://127.0.0.1:9")
    assert result.code == 2
    assert f"{path}:9: spec.probes.health.maxLatency: not a duration: 'quick'" in result.err
    assert "Traceback" not in result.err and result.out == ""


async def test_check_runs_the_metric_checks_and_no_data_is_never_a_pass(tmp_path: Path) -> None:
    """`check --only metrics` asks Prometheus (here a stand-in on loopback) with
    --namespace filled in; a check without data leaves the result unconfirmed."""
    stand_in = StandIn({'p95{namespace="prod"}': 0.02})
    async with tcp_server(stand_in) as prom:
        path = tmp_path / "gate.yaml"
        checks = (
            "[{name: p95, query: 'p95{namespace=\"{namespace}\"}', condition: {atMost: 0.05}},"
            " {name: shadow, query: missing, condition: {atMost: 1}, dryRun: true}]"
        )
        ws = "    websocket: {port: 1, timeout: 3s}\n"
        metrics = f"    metrics: {{prometheusUrl: '{prom.url}', checks: {checks}}}\n"
        path.write_text(GATE.replace(ws, ws + metrics))
        args = ["-f", str(path), "--url", "http://127.0.0.1:9", "--only", "metrics"]
        passed = await check(*args, "--namespace", "prod", "--json")
        held = await check(*args, "--namespace", "staging")
    assert passed.code == 0, passed.out + passed.err
    report = json.loads(passed.out)["checks"][0]
    assert report["probe"] == "metrics" and report["ok"] is True
    assert report["message"] == "1/1 checks passed"
    assert [(c["name"], c.get("ok"), c["dryRun"]) for c in report["details"]["checks"]] == [
        ("p95", True, False),
        ("shadow", None, True),
    ]
    assert held.code == 1
    assert "⚠️ Metric checks" in held.out and "p95: no data: query returned no samples" in held.out


TEMPLATES = """\
---
apiVersion: rollout.deploymentgate.dev/v1alpha1
kind: ClusterMetricCheckTemplate
metadata: {name: chat-p95}
spec:
  query: 'p95{namespace="{namespace}"}'
"""


async def test_check_finds_the_templates_its_checks_name_in_the_files_given(
    tmp_path: Path,
) -> None:
    """A check naming a ClusterMetricCheckTemplate is run with the template's query
    when the template is given with a second -f (or in the gate's file); without
    it, the check has no data and says where templates are read from."""
    stand_in = StandIn({'p95{namespace="prod"}': 0.02})
    async with tcp_server(stand_in) as prom:
        checks = (
            "[{name: p95, templateRef: {kind: ClusterMetricCheckTemplate, name: chat-p95},"
            " condition: {atMost: 0.05}}]"
        )
        ws = "    websocket: {port: 1, timeout: 3s}\n"
        metrics = f"    metrics: {{prometheusUrl: '{prom.url}', checks: {checks}}}\n"
        gate, templates = tmp_path / "gate.yaml", tmp_path / "templates.yaml"
        gate.write_text(GATE.replace(ws, ws + metrics))
        templates.write_text(TEMPLATES)
        both = tmp_path / "both.yaml"
        both.write_text(gate.read_text() + TEMPLATES)
        args = ["--url", "http://127.0.0.1:9", "--only", "metrics", "--namespace", "prod"]
        second_file = await check("-f", str(gate), "-f", str(templates), *args)
        same_file = await check("-f", str(both), *args)
        alone = await check("-f", str(gate), *args)
        twice = await check("-f", str(gate), "-f", str(both), *args)
    assert second_file.code == 0, second_file.out + second_file.err
    assert "✅ Metric checks" in second_file.out and "1/1 checks passed" in second_file.out
    assert same_file.code == 0, same_file.out + same_file.err
    assert alone.code == 1
    assert (
        "p95: no data: ClusterMetricCheckTemplate chat-p95 not found in the files given "
        "with -f (check reads no cluster)"
    ) in " ".join(alone.out.split())  # the table wraps long messages
    assert twice.code == 2
    assert f"{both}:1: a second DeploymentGate" in twice.err
