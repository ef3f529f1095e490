"""Notifications and the transition log, on the local cluster: a promotion and a
rollback each reach a gate's own JSON webhook (URL in a Secret the chart lets
the operator read) while an operator-wide Slack webhook that never answers
delays nothing; the operator's JSON log has one line per transition."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from rollout_helpers import (
    ChartRbac,
    GateWorld,
    assert_clean_log,
    chat_deployment,
    chat_service,
    gate,
    gate_spec,
    wait_until,
)

from deploymentgate_devkit.testing import OperatorProcess

pytestmark = pytest.mark.cluster
SECRET = "chat-hooks"
SPEC = gate_spec(
    traffic={"steps": [50, 100], "stepDuration": "5s", "progressDeadline": "90s"},
    notifications={
        "webhooks": [{"type": "json", "urlFrom": {"secretKeyRef": {"name": SECRET, "key": "url"}}}]
    },
)


class Hook:
    """A webhook endpoint on 127.0.0.1; `hang` holds every request open (up to 60 s)."""

    def __init__(self, hang: bool = False) -> None:
        self.hang = hang
        self.bodies: list[tuple[float, Any]] = []
        self.closing = threading.Event()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                hook.bodies.append((time.time(), body))
                if hook.hang:
                    hook.closing.wait(60)
                    return
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/T0KEN"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.closing.set()
        self.server.shutdown()
        self.server.server_close()

    def phases(self) -> list[str]:
        return [b.get("phase") or b.get("text", "") for _, b in self.bodies]


@pytest.fixture
def hooks() -> Iterator[tuple[Hook, Hook]]:
    ops, hanging = Hook(), Hook(hang=True)
    try:
        yield ops, hanging
    finally:
        ops.close()
        hanging.close()


def grant_with_secret_access(rbac: ChartRbac, namespace: str) -> Path:
    """The chart's RBAC for `namespace`, installed with notifications.secretNames."""
    kubeconfig = rbac.grant(namespace)
    rendered = subprocess.run(
        [
            str(rbac.helm),
            "template",
            rbac.release,
            str(rbac.chart),
            "--namespace",
            rbac.namespace,
            "--set-json",
            f"watchNamespaces={json.dumps([namespace])}",
            "--set-json",
            f"notifications.secretNames={json.dumps([SECRET])}",
            "--show-only",
            "templates/rbac.yaml",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    rbac.cluster.kubectl("apply", "-f", "-", input=rendered.stdout)
    return kubeconfig


def since(status: dict[str, Any]) -> float:
    return datetime.fromisoformat(status["phaseSince"].replace("Z", "+00:00")).timestamp()


@pytest.mark.timeout(300)
def test_promotion_and_rollback_notify_the_gates_webhook_and_a_hanging_one_delays_nothing(
    world: GateWorld,
    chart_rbac: ChartRbac,
    hooks: tuple[Hook, Hook],
    tmp_path: Path,
) -> None:
    ops, hanging = hooks
    world.kubectl("create", "secret", "generic", SECRET, f"--from-literal=url={ops.url}")
    kubeconfig = grant_with_secret_access(chart_rbac, world.namespace)
    operator = OperatorProcess(
        kubeconfig,
        tmp_path / "operator.log",
        namespaces=[world.namespace],
        extra_args=["--log-format", "json", "--webhook", f"slack={hanging.url}"],
    ).start()
    try:
        world.apply(chat_deployment(version="v1", replicas=2), chat_service())
        world.apply(gate(SPEC))
        world.wait_phase("Idle", 60)

        world.set_version("v2")
        promoted = world.wait_phase("Promoted", 120)
        wait_until(lambda: "Promoted" in ops.phases(), 10, what="the Promoted message")
        # The Slack webhook hangs on the first message for far longer than this.
        (arrived, body) = next((t, b) for t, b in ops.bodies if b["phase"] == "Promoted")
        assert arrived - since(promoted) < 5, "the message waited behind the hanging webhook"
        assert body["gate"] == "chat" and body["namespace"] == world.namespace
        assert body["revision"] == promoted["revision"] and body["previousPhase"] == "Promoting"
        assert body["images"] == promoted["images"] and body["canaryWeight"] == 100
        assert {"startup", "health", "websocket"} <= set(body["probes"])

        world.set_version("v3", mode="startup-fails")  # fails in DATABASE, never serves
        rolled_back = world.wait_phase(
            "RolledBack", 120, allowed=("Promoted", "Verifying", "Progressing")
        )
        wait_until(lambda: "RolledBack" in ops.phases(), 10, what="the RolledBack message")
        body = next(b for _, b in ops.bodies if b["phase"] == "RolledBack")
        assert body["revision"] == rolled_back["revision"] != promoted["revision"]
        assert body["rollbackReason"] == rolled_back["rollbackReason"]
        assert "startup" in body["rollbackReason"] and body["canaryWeight"] == 0
        assert body["probes"]["startup"]["ok"] is False
        assert "DATABASE" in body["probes"]["startup"]["message"]
    except BaseException:
        print(f"\n===== operator log =====\n{operator.log()[-20000:]}")
        raise
    finally:
        operator.stop()

    assert ops.phases() == ["Promoted", "RolledBack"]  # one message per transition, no more
    # the hanging Slack webhook was called, and held, while all of this went on
    assert hanging.bodies and hanging.bodies[0][1]["text"].startswith(
        f"DeploymentGate {world.namespace}/chat: Promoted"
    )

    assert_clean_log(operator)
    records = [json.loads(line) for line in operator.log().splitlines() if line.strip()]
    mine = [r for r in records if r.get("gate") == "chat" and r.get("event") == "transition"]
    phases = [r["phase"] for r in mine]
    assert phases[-1] == "RolledBack" and phases.count("RolledBack") == 1, phases
    assert phases.count("Promoted") == 1 and phases.count("Idle") == 1, phases
    assert phases.index("Idle") < phases.index("Promoted"), phases
    assert all(r["namespace"] == world.namespace and r.get("reason") for r in mine)
    assert "T0KEN" not in operator.log()  # webhook URLs never reach the log
