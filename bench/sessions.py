"""What a rollout does to users who hold a WebSocket session (issue 10's bench).

Starts the local cluster and the operator, deploys the chat backend behind a
DeploymentGate, opens N WebSocket sessions through the Service (each sends a
user message a second and reconnects at once when the server ends it), and
runs rollouts under them:

1. v1 -> v2, healthy: verified at 0%, stepped (default 25/50/100), promoted;
2. v2 -> v3, whose /health fails 7 s after start while its pods stay Ready:
   rolled back from the first step (skip with --no-rollback).

For each rollout it prints, per gate phase, how many sessions ended and how
(the close code, or "broken" when no close frame came), and the most moves of
one session. Nothing is left running afterwards.

Run from a clone, after `make venv tools`:  .venv/bin/python bench/sessions.py
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from deploymentgate.models import API_GROUP, API_VERSION, PLURAL
from deploymentgate_devkit.demo.scenario import gateway_objects
from deploymentgate_devkit.sandbox import MissingBinariesError, Sandbox
from deploymentgate_devkit.sandbox.binaries import repo_root
from deploymentgate_devkit.sandbox.gateway import GatewayInfo
from deploymentgate_devkit.testing import OperatorProcess, manifests
from deploymentgate_devkit.testing.sessions import PhaseWatcher, SessionPool, format_report

NAMESPACE = "bench"
APP = "chat"
CRD = Path("deploy/crds/deploymentgates.rollout.deploymentgate.dev.yaml")
TERMINAL = frozenset({"Promoted", "RolledBack", "Blocked", "Invalid"})


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=20, help="WebSocket sessions (20)")
    parser.add_argument("--replicas", type=int, default=4, help="replicas of the app (4)")
    parser.add_argument("--steps", default="25,50,100", help="traffic steps in %% (25,50,100)")
    parser.add_argument("--step-duration", default="5s", help="time per step (5s)")
    parser.add_argument("--no-rollback", action="store_true", help="only the good rollout")
    parser.add_argument(
        "--rollback-lifetime",
        type=float,
        default=6.0,
        help="in the rollback, users close and reopen sessions after ~this many s (6),"
        " so some meet the canary",
    )
    parser.add_argument(
        "--router",
        choices=("replicas", "gatewayAPI"),
        default="replicas",
        help="replicas (sessions through the Service) or gatewayAPI (through a real gateway,"
        " Traefik, and an HTTPRoute whose weights move; a weight change moves new"
        " connections only)",
    )
    parser.add_argument("--out", type=Path, help="also write the report to this file")
    return parser.parse_args(argv)


class Bench:
    def __init__(self, sandbox: Sandbox, args: argparse.Namespace) -> None:
        self.sandbox = sandbox
        self.args = args
        self.gateway: GatewayInfo | None = None
        self.gate_path = f"/apis/{API_GROUP}/{API_VERSION}/namespaces/{NAMESPACE}/{PLURAL}/{APP}"

    def apply(self, *objects: dict[str, Any]) -> None:
        self.sandbox.kubectl(
            "-n", NAMESPACE, "apply", "-f", "-", input=yaml.safe_dump_all(list(objects))
        )

    def status(self) -> dict[str, Any]:
        return dict(self.sandbox.request("GET", self.gate_path).get("status") or {})

    def wait(self, done: Callable[[dict[str, Any]], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while True:
            status = self.status()
            if done(status):
                return
            if time.monotonic() > deadline:
                shown = {k: status.get(k) for k in ("phase", "message", "revision")}
                raise RuntimeError(f"{what} not reached within {timeout:.0f}s: {shown}")
            time.sleep(0.25)

    def set_up(self) -> None:
        text = (repo_root() / CRD).read_text()
        self.sandbox.kubectl("apply", "--server-side", "-f", "-", input=text)
        crd = "crd/deploymentgates.rollout.deploymentgate.dev"
        self.sandbox.kubectl("wait", "--for=condition=Established", crd, "--timeout=30s")
        self.sandbox.create_namespace(NAMESPACE)
        self.apply(
            manifests.chat_deployment(APP, version="v1", replicas=self.args.replicas),
            manifests.chat_service(APP),
        )
        self.sandbox.kubectl(
            "-n", NAMESPACE, "rollout", "status", f"deployment/{APP}", "--timeout=90s"
        )
        if self.args.router == "gatewayAPI":
            self.gateway = self.sandbox.start_gateway()
            self.apply(*gateway_objects(self.gateway))

    def adopt(self) -> None:
        steps = tuple(int(s) for s in self.args.steps.split(","))
        spec = manifests.fast_gate_spec(APP, steps=steps, step_duration=self.args.step_duration)
        spec["traffic"]["progressDeadline"] = "90s"
        if self.gateway is not None:
            spec["traffic"].update(router="gatewayAPI", httpRoutes=[{"name": APP}])
        self.apply(manifests.gate(APP, spec))
        self.wait(lambda s: s.get("phase") == "Idle", 90, "the gate taking over (Idle)")

    def rollout(
        self, title: str, patch: dict[str, Any], expect: str, lifetime: float | None = None
    ) -> str:
        """Hold the sessions through one rollout; the report of what they went through."""
        if self.gateway is not None:
            host, port = self.gateway.host, self.gateway.port
        else:
            host, port = self.sandbox.service_address(NAMESPACE, APP, 80)
        url = f"ws://{host}:{port}/ws"
        pool = SessionPool(url, self.args.sessions, lifetime=lifetime).start(60)
        watcher = PhaseWatcher(lambda: self.status().get("phase"), interval=0.1).start()
        began = time.monotonic()
        before = self.status().get("revision")
        try:
            time.sleep(1)
            self.sandbox.kubectl(
                "-n", NAMESPACE, "patch", f"deployment/{APP}", "-p", json.dumps(patch)
            )
            self.wait(
                lambda s: s.get("revision") != before and s.get("phase") in TERMINAL,
                300,
                f"a verdict on {title}",
            )
            time.sleep(4)  # what happens right after the verdict counts too
            versions = pool.current_versions()
        finally:
            pool.stop()
            watcher.stop()
        phase = self.status().get("phase")
        lines = [
            f"== {title}: {self.args.sessions} sessions, {self.args.replicas} replicas,"
            f" router {self.args.router}, steps {self.args.steps},"
            f" {self.args.step_duration} per step",
            f"   verdict {phase} (expected {expect}) after {time.monotonic() - began:.0f}s;"
            f" sessions at the end on: {dict(versions)}",
            format_report(pool, watcher),
        ]
        return "\n".join(lines)


def release(version: str, image: str | None = None, **env: str) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": "chat",
        "env": [{"name": k, "value": v} for k, v in {"APP_VERSION": version, **env}.items()],
    }
    if image is not None:
        container["image"] = image
    return {"spec": {"template": {"spec": {"containers": [container]}}}}


def bad_release() -> dict[str, Any]:
    """v3: /health fails 7 s after start, but Ready (the readiness probe reads /version)."""
    patch = release("v3", "chat-backend:health-fails-after-start", CHAT_HEALTHY_SECONDS="7")
    container = patch["spec"]["template"]["spec"]["containers"][0]
    container["readinessProbe"] = {"httpGet": {"path": "/version", "port": 8000}}
    return patch


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out: list[str] = []

    def say(line: str) -> None:
        print(line, flush=True)
        out.append(line)

    try:
        sandbox = Sandbox.start(nodes=2)
    except MissingBinariesError as exc:
        print(f"{exc}\nbuild the cluster tools first: make tools", file=sys.stderr)
        return 2
    operator: OperatorProcess | None = None
    try:
        bench = Bench(sandbox, args)
        bench.set_up()
        operator = OperatorProcess(
            sandbox.kubeconfig, sandbox.workdir / "operator.log", namespaces=[NAMESPACE]
        ).start()
        bench.adopt()
        say(f"# bench/sessions.py {' '.join(argv if argv is not None else sys.argv[1:])}".rstrip())
        say(bench.rollout("v1 -> v2 (healthy)", release("v2"), "Promoted"))
        if not args.no_rollback:
            say("")
            lifetime = args.rollback_lifetime or None
            title = "v2 -> v3 (fails /health once serving)"
            say(bench.rollout(title, bad_release(), "RolledBack", lifetime))
    except BaseException:
        if operator is not None:
            print(operator.log()[-6000:], file=sys.stderr)
        raise
    finally:
        if operator is not None:
            operator.stop()
        sandbox.stop()
    if args.out is not None:
        args.out.write_text("\n".join(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
