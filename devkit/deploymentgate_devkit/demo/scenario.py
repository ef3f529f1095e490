"""The story the demo tells, on a running cluster with the operator watching:

1. the chat backend (v1) serves users, and a DeploymentGate takes it over;
2. v2 (healthy) is verified at 0% traffic, stepped 25/50/100% and promoted;
3. v3 (8% of requests fail) is caught by the error-rate trigger and reverted.

Every wait has a deadline; a broken expectation raises DemoFailure with what
the gate said last, so the demo never hangs and never claims a false success.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import yaml

from deploymentgate.k8s.revision import template_revision
from deploymentgate.models import API_GROUP, API_VERSION, PLURAL
from deploymentgate_devkit.demo import manifests
from deploymentgate_devkit.demo.console import Console
from deploymentgate_devkit.demo.metrics_summary import key_samples
from deploymentgate_devkit.demo.progress import GateView, ProgressPrinter
from deploymentgate_devkit.demo.traffic import chat_once
from deploymentgate_devkit.demo.traffic_stats import TrafficStats
from deploymentgate_devkit.sandbox import Sandbox, SandboxApiError
from deploymentgate_devkit.sandbox.gateway import GatewayInfo

NAMESPACE = "demo"
APP = "chat"  # Deployment, Service and DeploymentGate share the name
CONTAINER = "chat"
SETTLED = frozenset({"Promoted", "RolledBack", "Blocked", "Invalid"})
POLL = 0.25

GOOD_VERSION = "v2"
BAD_VERSION = "v3"
BAD_IMAGE = "chat-backend:errors-8pct"

ADOPT_TIMEOUT = 60.0
ROLLOUT_TIMEOUT = 120.0
SETTLE_TIMEOUT = 30.0

# The operator's labels on the Deployments it owns (docs: Traffic and trust).
ROLE_LABEL = "deploymentgate.dev/role"
REVISION_LABEL = "deploymentgate.dev/revision"


class DemoFailure(RuntimeError):
    """An expectation of the demo did not hold (the message says which and why)."""


class OperatorHandle(Protocol):
    @property
    def running(self) -> bool: ...

    def metrics(self) -> str: ...

    def log(self) -> str: ...


@dataclass
class Outcome:
    title: str
    checks: list[tuple[bool, str]] = field(default_factory=list)

    def check(self, ok: bool, text: str) -> None:
        self.checks.append((ok, text))

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(ok for ok, _ in self.checks)


class Scenario:
    def __init__(
        self,
        sandbox: Sandbox,
        console: Console,
        stats: TrafficStats,
        operator: Callable[[], OperatorHandle | None],
        *,
        gateway: GatewayInfo | None = None,
    ) -> None:
        self.sandbox = sandbox
        self.gateway = gateway  # router gatewayAPI: users come through this gateway
        self.console = console
        self.stats = stats
        self._operator = operator
        self.printer = ProgressPrinter(
            write=console.line,
            started=console.started,
            symbols=console.symbols,
            color=console.color,
        )
        self.gate_path = f"/apis/{API_GROUP}/{API_VERSION}/namespaces/{NAMESPACE}/{PLURAL}/{APP}"

    # ---- cluster reads -------------------------------------------------

    def kubectl(self, *args: str, input: str | None = None, shown: str | None = None) -> str:
        self.console.command(shown or "kubectl " + " ".join(args))
        return self.sandbox.kubectl(*args, input=input).stdout

    def gate(self) -> dict[str, Any] | None:
        try:
            return dict(self.sandbox.request("GET", self.gate_path))
        except SandboxApiError as exc:
            if exc.status == 404:
                return None
            raise

    def deployment(self, name: str) -> dict[str, Any] | None:
        path = f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/{name}"
        try:
            return dict(self.sandbox.request("GET", path))
        except SandboxApiError as exc:
            if exc.status == 404:
                return None
            raise

    def serving_name(self, revision: str) -> str:
        """The gate's own Deployment that serves `revision` through the Service."""
        return f"{APP}-{revision}"

    def pods_running(self, version: str) -> list[str]:
        """Names of the live pods whose container runs APP_VERSION=`version`."""
        listing = self.sandbox.request("GET", f"/api/v1/namespaces/{NAMESPACE}/pods")
        return [
            p["metadata"]["name"]
            for p in listing["items"]
            if not p["metadata"].get("deletionTimestamp")
            and _env({"spec": {"template": p}}, "APP_VERSION") == version
        ]

    def serving_deployments(self) -> list[str]:
        """Names of the Deployments labelled as the gate's serving ones."""
        listing = self.sandbox.request(
            "GET",
            f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments",
            params={"labelSelector": f"{ROLE_LABEL}=serving"},
        )
        return sorted(d["metadata"]["name"] for d in listing["items"])

    def revision_of(self, name: str) -> str:
        body = self.deployment(name)
        if body is None:
            raise DemoFailure(f"Deployment {name} not found")
        return template_revision(body["spec"]["template"])

    # ---- watching ------------------------------------------------------

    def watch(
        self, done: Callable[[dict[str, Any] | None], bool], timeout: float, what: str
    ) -> dict[str, Any] | None:
        """Print progress until done(gate) holds; DemoFailure after timeout."""
        deadline = time.monotonic() + timeout
        while True:
            gate = self.gate()
            view = GateView.from_gate(gate) if gate is not None else None
            self.printer.update(time.monotonic(), view, self.stats.snapshot(time.monotonic()))
            if done(gate):
                return gate
            operator = self._operator()
            if operator is not None and not operator.running:
                raise DemoFailure(f"the operator stopped while waiting for {what}")
            if time.monotonic() >= deadline:
                said = f"; the gate says: {view.phase}: {view.message}" if view else ""
                raise DemoFailure(f"{what} did not happen within {timeout:.0f}s{said}")
            time.sleep(POLL)

    def settled(self, revision: str) -> Callable[[dict[str, Any] | None], bool]:
        def done(gate: dict[str, Any] | None) -> bool:
            view = GateView.from_gate(gate) if gate is not None else None
            return view is not None and view.revision == revision and view.phase in SETTLED

        return done

    # ---- the acts ------------------------------------------------------

    def deploy_app(self) -> None:
        self.console.headline("Deploying the chat backend v1 (4 replicas) and its Service")
        self.sandbox.create_namespace(NAMESPACE)
        self.console.command(f"kubectl create namespace {NAMESPACE}")
        self.kubectl(
            "-n",
            NAMESPACE,
            "apply",
            "-f",
            "-",
            input=manifests.text(manifests.APP),
            shown=f"kubectl -n {NAMESPACE} apply -f examples/{manifests.APP}",
        )
        self.kubectl("-n", NAMESPACE, "rollout", "status", f"deployment/{APP}", "--timeout=90s")
        if self.gateway is not None:
            self.route_app(self.gateway)

    def route_app(self, gateway: GatewayInfo) -> None:
        """A Gateway on the running gateway, and the team's HTTPRoute to Service chat."""
        self.console.headline(f"Routing users to Service {APP} through a Gateway and an HTTPRoute")
        self.kubectl(
            "-n",
            NAMESPACE,
            "apply",
            "-f",
            "-",
            input=yaml.safe_dump_all(gateway_objects(gateway)),
            shown=f"kubectl -n {NAMESPACE} apply -f gateway.yaml  # Gateway edge, HTTPRoute {APP}",
        )
        deadline = time.monotonic() + ROUTE_TIMEOUT
        while chat_once(gateway.host, gateway.port, "/version")[0] != "v1":
            if time.monotonic() >= deadline:
                raise DemoFailure(f"the gateway did not route to {APP} within {ROUTE_TIMEOUT:.0f}s")
            time.sleep(POLL)
        self.console.line(f"    {gateway.url}/ answers from {APP} v1")

    def adopt(self) -> None:
        """Apply the gate; v1 moves onto the gate's own serving Deployment, `<app>-<revision>`."""
        self.console.headline("Applying the DeploymentGate: the checklist becomes an object")
        gate_doc = self.gate_manifest()
        self.console.block(_gate_summary(gate_doc), indent="    | ")
        shown = f"kubectl -n {NAMESPACE} apply -f examples/{manifests.GATE}"
        if self.gateway is not None:
            shown += f"  # with traffic: {json.dumps(gate_doc['spec']['traffic'])}"
        self.kubectl(
            "-n",
            NAMESPACE,
            "apply",
            "-f",
            "-",
            input=yaml.safe_dump(gate_doc, sort_keys=False)
            if self.gateway is not None
            else manifests.text(manifests.GATE),
            shown=shown,
        )
        v1 = self.revision_of(APP)
        self.printer.names[v1] = "v1"

        def idle(gate: dict[str, Any] | None) -> bool:
            status = (gate or {}).get("status") or {}
            return status.get("phase") == "Idle" and status.get("stableRevision") == v1

        self.watch(idle, ADOPT_TIMEOUT, f"the gate taking over {APP} (phase Idle)")
        self.console.line(
            f"    {self.serving_name(v1)} (the gate's own Deployment of v1) now serves users;"
        )
        self.console.line(
            f"    Service {APP} selects only the gate's serving pods, so pods of {APP}'s"
            " new revisions never get traffic until verified."
        )
        if self.gateway is not None:
            self.console.line(
                f"    HTTPRoute {APP}: the rule to Service {APP} now routes to {APP}-stable"
                f" (weight 100) and {APP}-canary (weight 0), Services the gate owns;"
            )
            self.console.line(
                "    the weights split users between the revisions, so 1% is exactly 1%."
            )

    def gate_manifest(self) -> dict[str, Any]:
        """The example gate; with the gateway, its traffic section moves route weights."""
        gate = manifests.documents(manifests.GATE)[0]
        if self.gateway is not None:
            gate["spec"]["traffic"] = {
                **gate["spec"]["traffic"],
                "router": "gatewayAPI",
                "httpRoutes": [{"name": APP}],
                "steps": list(GATEWAY_STEPS),
            }
        return gate

    def good_rollout(self) -> Outcome:
        self.console.headline(
            f"Rolling out {GOOD_VERSION} (healthy): expect it verified, then promoted step by step"
        )
        self.kubectl(
            "-n", NAMESPACE, "set", "env", f"deployment/{APP}", f"APP_VERSION={GOOD_VERSION}"
        )
        revision = self.revision_of(APP)
        self.printer.names[revision] = GOOD_VERSION
        gate = self.watch(self.settled(revision), ROLLOUT_TIMEOUT, f"a verdict on {GOOD_VERSION}")
        status = (gate or {}).get("status") or {}
        outcome = Outcome(f"{GOOD_VERSION} promoted")
        outcome.check(
            status.get("phase") == "Promoted" and status.get("stableRevision") == revision,
            f"gate phase {status.get('phase')}, stable revision {status.get('stableRevision')}"
            f" ({GOOD_VERSION} is {revision})",
        )
        self._expect_serving(outcome, GOOD_VERSION, revision)
        return outcome

    def bad_rollout(self, stable_version: str) -> Outcome:
        self.console.headline(
            f"Rolling out {BAD_VERSION} ({BAD_IMAGE}: 8% of chat requests fail): expect a rollback"
        )
        body = release_patch(BAD_IMAGE, BAD_VERSION)
        self.kubectl(
            "-n",
            NAMESPACE,
            "patch",
            f"deployment/{APP}",
            "-p",
            body,
            shown=f"kubectl -n {NAMESPACE} patch deployment/{APP} -p '{body}'",
        )
        revision = self.revision_of(APP)
        self.printer.names[revision] = BAD_VERSION
        gate = self.watch(self.settled(revision), ROLLOUT_TIMEOUT, f"a verdict on {BAD_VERSION}")
        status = (gate or {}).get("status") or {}
        reason = status.get("rollbackReason")
        outcome = Outcome(f"{BAD_VERSION} rolled back")
        outcome.check(
            status.get("phase") == "RolledBack" and status.get("rollbackTrigger") == "errorRate",
            f"gate phase {status.get('phase')}, reason: {reason}",
        )

        def canary_gone(_: dict[str, Any] | None) -> bool:
            return self.deployment(self.serving_name(revision)) is None and not self.pods_running(
                BAD_VERSION
            )

        try:
            self.watch(canary_gone, SETTLE_TIMEOUT, f"the {BAD_VERSION} pods going away")
            outcome.check(
                True, f"no {BAD_VERSION} pod left ({self.serving_name(revision)} removed)"
            )
        except DemoFailure as exc:
            outcome.check(False, str(exc))
        self._expect_serving(outcome, stable_version, str(status.get("stableRevision")))
        totals = self.stats.snapshot(time.monotonic())
        answered = totals.totals.get(BAD_VERSION, 0)
        failed = totals.total_errors.get(BAD_VERSION, 0)
        if answered:
            self.console.line(
                f"    users reached {BAD_VERSION} {answered} times while it was under test;"
                f" {failed} of those failed ({100 * failed / answered:.1f}%)"
            )
        else:
            self.console.line(f"    no user request reached {BAD_VERSION}: it was stopped at 0%")
        return outcome

    def _expect_serving(self, outcome: Outcome, version: str, revision: str) -> None:
        """The serving Deployment of `revision` runs `version` on every replica, it is
        the only one left (but for the one the watch after promotion keeps out of
        traffic for a revert), and users get only `version`."""
        name = self.serving_name(revision)

        def serving_on(gate: dict[str, Any] | None) -> bool:
            serving = self.deployment(name) or {}
            kept = ((gate or {}).get("status") or {}).get("previousRevision")
            others = [d for d in self.serving_deployments() if d != name]
            return (
                _env(serving, "APP_VERSION") == version
                and _fully_ready(serving)
                and name in self.serving_deployments()
                and others == ([self.serving_name(kept)] if kept else [])
            )

        def users_on(_: dict[str, Any] | None) -> bool:
            return self.stats.snapshot(time.monotonic()).only(version)

        for check, text in (
            (
                serving_on,
                f"{name} runs {version} on every replica, the only serving Deployment"
                " but for one kept out of traffic for a revert after promotion",
            ),
            (
                users_on,
                f"every user request of the last {self.stats.window_seconds:g}s"
                f" answered by {version}",
            ),
        ):
            try:
                self.watch(check, SETTLE_TIMEOUT, text)
                outcome.check(True, text)
            except DemoFailure as exc:
                outcome.check(False, str(exc))

    def epilogue(self, operator: OperatorHandle | None) -> None:
        self.console.headline("What the cluster says")
        self.console.block(self.kubectl("-n", NAMESPACE, "get", "deploymentgates"))
        self.console.block(
            self.kubectl(
                "-n", NAMESPACE, "get", "deployments", "-L", f"{ROLE_LABEL},{REVISION_LABEL}"
            )
        )
        if self.gateway is not None:
            self.console.block(
                self.kubectl(
                    "-n",
                    NAMESPACE,
                    "get",
                    "httproute",
                    APP,
                    "-o",
                    "jsonpath={range .spec.rules[*].backendRefs[*]}"
                    "{.name} weight {.weight}{'\\n'}{end}",
                    shown=f"kubectl -n {NAMESPACE} get httproute {APP} -o jsonpath=<backendRefs>",
                )
            )
        self.console.block(self.kubectl("-n", NAMESPACE, "describe", "deploymentgate", APP))
        if operator is None:
            return
        self.console.headline("The operator's key metrics (what Prometheus scrapes)")
        self.console.line(f"    # gate {NAMESPACE}/{APP}; namespace and gate labels left out")
        try:
            text = operator.metrics()
        except OSError as exc:
            self.console.line(f"    metrics unavailable: {exc}")
            return
        self.console.block("\n".join(key_samples(text, NAMESPACE, APP)))


def release_patch(image: str, version: str) -> str:
    """A strategic-merge patch changing image and APP_VERSION at once: one new revision."""
    container = {
        "name": CONTAINER,
        "image": image,
        "env": [{"name": "APP_VERSION", "value": version}],
    }
    patch = {"spec": {"template": {"spec": {"containers": [container]}}}}
    return json.dumps(patch, separators=(",", ":"))


GATEWAY_STEPS = (1, 10, 50, 100)
ROUTE_TIMEOUT = 30.0
GATEWAY_GROUP = "gateway.networking.k8s.io"


def gateway_objects(gateway: GatewayInfo) -> list[dict[str, Any]]:
    """A Gateway listening on the gateway's port, and the team's HTTPRoute to Service chat."""
    return [
        {
            "apiVersion": f"{GATEWAY_GROUP}/v1",
            "kind": "Gateway",
            "metadata": {"name": "edge"},
            "spec": {
                "gatewayClassName": gateway.gateway_class,
                "listeners": [{"name": "http", "protocol": "HTTP", "port": gateway.port}],
            },
        },
        {
            "apiVersion": f"{GATEWAY_GROUP}/v1",
            "kind": "HTTPRoute",
            "metadata": {"name": APP},
            "spec": {
                "parentRefs": [{"name": "edge"}],
                "rules": [{"backendRefs": [{"name": APP, "port": 80}]}],
            },
        },
    ]


def _gate_summary(gate: dict[str, Any]) -> str:
    spec = gate["spec"]
    traffic, probes, rollback = spec["traffic"], spec["probes"], spec["rollback"]
    rate = rollback["errorRate"]
    return "\n".join(
        [
            f"verify new pods at 0% traffic: {', '.join(probes)}",
            f"then move traffic {' -> '.join(f'{s}%' for s in traffic['steps'])},"
            f" {traffic['stepDuration']} per step"
            + (" (HTTPRoute weights)" if traffic.get("router") == "gatewayAPI" else ""),
            f"roll back if: error rate > {rate['threshold']} over {rate['window']},"
            f" health failing {rollback['healthFailingFor']},"
            f" WebSocket silent {rollback['websocketSilentFor']}, startup failed",
        ]
    )


def _env(deployment: dict[str, Any], name: str) -> str | None:
    containers = ((deployment.get("spec") or {}).get("template") or {}).get("spec", {}).get(
        "containers"
    ) or []
    for container in containers:
        for item in container.get("env") or []:
            if item.get("name") == name:
                return str(item.get("value"))
    return None


def _fully_ready(deployment: dict[str, Any]) -> bool:
    spec, status = deployment.get("spec") or {}, deployment.get("status") or {}
    want = int(spec.get("replicas") or 0)
    return (
        want > 0
        and int(status.get("readyReplicas") or 0) == want
        and int(status.get("updatedReplicas") or 0) == want
        and int(status.get("replicas") or 0) == want
    )
