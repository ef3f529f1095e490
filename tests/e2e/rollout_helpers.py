"""What the operator's acceptance tests observe, the way a user would.

Manifests of the reference chat app and its gate; and a `GateWorld` per test
namespace that reads the gate, its Events, the Service's EndpointSlices and
the traffic that really flows through the sandbox's service proxy.
"""

from __future__ import annotations

import copy
import json
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from deploymentgate.core.routers.replicas import split
from deploymentgate.k8s.builders import ROLE_LABEL, ROLE_SERVING, SERVING_LABEL
from deploymentgate.models import API_GROUP, API_VERSION, PLURAL
from deploymentgate_devkit.sandbox import Sandbox, SandboxApiError
from deploymentgate_devkit.sandbox.binaries import require_tools
from deploymentgate_devkit.testing import OperatorProcess, manifests

T = TypeVar("T")
StartOperator = Callable[..., OperatorProcess]
MakeWorld = Callable[..., "GateWorld"]

APP = "chat"
# The Service's selector as the team wrote it, and as the gate holds it.
TEAM_SELECTOR = {"app": APP}
GATED_SELECTOR = {**TEAM_SELECTOR, SERVING_LABEL: APP}
TERMINAL = frozenset({"Promoted", "RolledBack", "Blocked", "Invalid"})


# ------------------------------------------------------- waiting, failing


def failed(request: pytest.FixtureRequest) -> bool:
    """Whether the test failed so far (conftest's makereport hook records the phases)."""
    reports = (getattr(request.node, f"report_{when}", None) for when in ("setup", "call"))
    return any(r is not None and r.failed for r in reports)


def wait_until(
    fn: Callable[[], T | None],
    timeout: float,
    *,
    interval: float = 0.25,
    describe: Callable[[], str] | None = None,
    what: str = "condition",
) -> T:
    """Poll `fn` until it returns something truthy; on timeout, say what was last seen.

    `fn` may raise `GiveUp` to fail at once (e.g. the gate reached a phase it
    can never leave); other exceptions count as "not yet".
    """
    deadline = time.monotonic() + timeout
    last: Any = None
    error: Exception | None = None
    while True:
        try:
            last, error = fn(), None
            if last:
                return last
        except GiveUp:
            raise
        except Exception as exc:
            error = exc
        if time.monotonic() >= deadline:
            seen = f"last error: {error!r}" if error is not None else f"last result: {last!r}"
            state = f"\n{describe()}" if describe is not None else ""
            raise AssertionError(f"{what} not reached within {timeout:.0f}s ({seen}){state}")
        time.sleep(interval)


class GiveUp(AssertionError):
    """A wait that can no longer succeed."""


def assert_clean_log(operator: OperatorProcess) -> None:
    """No handler, probe or indexer of the operator raised (kopf logs each with a traceback)."""
    log = operator.log()
    if "Traceback" in log:
        start = max(0, log.index("Traceback") - 300)
        pytest.fail(f"the operator logged a traceback ({operator.log_path}):\n{log[start:][:6000]}")


# ------------------------------------------------------------------ RBAC


class ChartRbac:
    """The chart's ServiceAccount and (Cluster)Roles, rendered by helm for the
    namespaces an operator watches (`watchNamespaces`), applied for real."""

    ONLY = ("templates/rbac.yaml", "templates/serviceaccount.yaml")

    def __init__(
        self, cluster: Sandbox, helm: Path, chart: Path, release: str, namespace: str
    ) -> None:
        self.cluster = cluster
        self.helm = helm
        self.chart = chart
        self.release = release
        self.namespace = namespace  # where the release (and its ServiceAccount) lives
        self._kubeconfig: Path | None = None

    def grant(self, *namespaces: str, gateway_api: bool = False) -> Path:
        """Apply the RBAC for watching `namespaces` (with the gatewayAPI router's
        rules when `gateway_api`); the ServiceAccount's kubeconfig."""
        argv = [str(self.helm), "template", self.release, str(self.chart)]
        argv += [
            "--namespace",
            self.namespace,
            "--set-json",
            f"watchNamespaces={json.dumps(namespaces)}",
            "--set-json",
            f"gatewayAPI.enabled={json.dumps(gateway_api)}",
        ]
        for template in self.ONLY:
            argv += ["--show-only", template]
        rendered = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True)
        objects = [o for o in yaml.safe_load_all(rendered.stdout) if o]
        self.cluster.kubectl("apply", "-f", "-", input=rendered.stdout)
        if self._kubeconfig is None:
            (account,) = [o["metadata"]["name"] for o in objects if o["kind"] == "ServiceAccount"]
            self._kubeconfig = self.cluster.kubeconfig_for_service_account(self.namespace, account)
        return self._kubeconfig

    def remove(self) -> None:
        selector = f"app.kubernetes.io/instance={self.release}"
        self.cluster.kubectl(
            "delete", "clusterrole,clusterrolebinding", "-l", selector, check=False
        )
        self.cluster.delete_namespace(self.namespace)


@contextmanager
def chart_template_applied(
    cluster: Sandbox, release: str, template: str
) -> Iterator[list[dict[str, Any]]]:
    """One chart template as helm renders it, applied for real, deleted afterwards."""
    helm = require_tools(("helm",), directory=cluster.bin_dir) / "helm"
    chart = Path(__file__).resolve().parents[2] / "deploy" / "helm" / "deploymentgate"
    rendered = subprocess.run(
        [str(helm), "template", release, str(chart), "--show-only", template],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    cluster.kubectl("apply", "-f", "-", input=rendered)
    try:
        yield [o for o in yaml.safe_load_all(rendered) if o]
    finally:
        cluster.kubectl("delete", "-f", "-", "--ignore-not-found", input=rendered, check=False)


# ------------------------------------------------------------- manifests


def chat_deployment(
    *,
    version: str,
    replicas: int,
    mode: str = "healthy",
    env: Mapping[str, str] | None = None,
    name: str = APP,
) -> dict[str, Any]:
    return manifests.chat_deployment(name, version=version, replicas=replicas, mode=mode, env=env)


def chat_service(name: str = APP) -> dict[str, Any]:
    return manifests.chat_service(name)


def gate_spec(**overrides: Any) -> dict[str, Any]:
    """The lead's verified manual-run spec, sections replaced by `overrides`."""
    spec = manifests.fast_gate_spec(APP)
    spec["traffic"]["progressDeadline"] = "90s"
    spec.update(overrides)
    return spec


def gate(spec: Mapping[str, Any], name: str = APP) -> dict[str, Any]:
    return {
        "apiVersion": f"{API_GROUP}/{API_VERSION}",
        "kind": "DeploymentGate",
        "metadata": {"name": name},
        "spec": copy.deepcopy(dict(spec)),
    }


def step_endpoints(replicas: int, weight: int, old: str = "v1", new: str = "v2") -> dict[str, int]:
    """Ready endpoints per version once a step at `weight`% is in effect, as the
    replicas router lays them out (core/routers/replicas.py: surge up to 50%)."""
    layout = split(replicas, weight)
    return {old: layout.stable, new: layout.canary}


# ---------------------------------------------------------- observing


class GateWorld:
    """One test namespace: the app, its gate, and what users would see of them."""

    def __init__(self, cluster: Sandbox, namespace: str, gate_name: str = APP) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.gate_name = gate_name

    # -- writing ----------------------------------------------------------

    def apply(self, *objects: Mapping[str, Any]) -> None:
        self.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(list(objects)))

    def kubectl(
        self,
        *args: str,
        input: str | None = None,
        check: bool = True,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        return self.cluster.kubectl("-n", self.namespace, *args, input=input, check=check, env=env)

    def set_version(self, version: str, *, mode: str | None = None, **env: str) -> None:
        """Ship a new revision in one template change, as `kubectl set image/env` would."""
        container: dict[str, Any] = {
            "name": "chat",
            "env": [{"name": k, "value": v} for k, v in {"APP_VERSION": version, **env}.items()],
        }
        if mode is not None:
            container["image"] = f"chat-backend:{mode}"
        patch = {"spec": {"template": {"spec": {"containers": [container]}}}}
        self.kubectl("patch", f"deployment/{APP}", "-p", json.dumps(patch))

    # -- reading ----------------------------------------------------------

    def get(self, path: str) -> Any:
        return self.cluster.request("GET", path)

    def gate(self) -> dict[str, Any]:
        base = f"/apis/{API_GROUP}/{API_VERSION}/namespaces/{self.namespace}/{PLURAL}"
        return dict(self.get(f"{base}/{self.gate_name}"))

    def status(self) -> dict[str, Any]:
        return dict(self.gate().get("status") or {})

    def deployment(self, name: str) -> dict[str, Any] | None:
        try:
            return dict(self.get(f"/apis/apps/v1/namespaces/{self.namespace}/deployments/{name}"))
        except SandboxApiError as exc:
            if exc.status == 404:
                return None
            raise

    def replicas(self, name: str) -> int | None:
        body = self.deployment(name)
        return None if body is None else int(body["spec"].get("replicas", 1))

    def serving_deployments(self) -> list[dict[str, Any]]:
        """The gate's own serving Deployments (`<target>-<revision>`): labelled
        serving AND controlled by the gate, as the API server has them."""
        listing = self.get(
            f"/apis/apps/v1/namespaces/{self.namespace}/deployments"
            f"?labelSelector={ROLE_LABEL}={ROLE_SERVING}"
        )
        return [
            d
            for d in listing["items"]
            if any(
                r.get("kind") == "DeploymentGate"
                and r.get("name") == self.gate_name
                and r.get("controller")
                for r in d["metadata"].get("ownerReferences") or []
            )
        ]

    def deployment_names(self) -> list[str]:
        listing = self.get(f"/apis/apps/v1/namespaces/{self.namespace}/deployments")
        return sorted(d["metadata"]["name"] for d in listing["items"])

    def serving_versions(self) -> dict[str, int]:
        """APP_VERSION -> spec.replicas of each serving Deployment of the gate."""
        return {template_version(d): int(d["spec"]["replicas"]) for d in self.serving_deployments()}

    def serving_of(self, revision: str, target: str = APP) -> dict[str, Any] | None:
        """The serving Deployment of `revision`, by the name the design gives it."""
        return self.deployment(f"{target}-{revision}")

    def service_selector(self, service: str = APP) -> dict[str, str]:
        body = self.get(f"/api/v1/namespaces/{self.namespace}/services/{service}")
        return dict(body["spec"].get("selector") or {})

    def pods(self) -> list[dict[str, Any]]:
        listing = self.get(f"/api/v1/namespaces/{self.namespace}/pods")
        return [p for p in listing["items"] if not p["metadata"].get("deletionTimestamp")]

    def endpoint_versions(self, service: str = APP) -> Counter[str]:
        """APP_VERSION of each ready endpoint of the Service, as its EndpointSlices say."""
        slices = self.get(
            f"/apis/discovery.k8s.io/v1/namespaces/{self.namespace}/endpointslices"
            f"?labelSelector=kubernetes.io/service-name={service}"
        )["items"]
        pods = {
            p["metadata"]["name"]: p
            for p in self.get(f"/api/v1/namespaces/{self.namespace}/pods")["items"]
        }
        versions: Counter[str] = Counter()
        for item in slices:
            for endpoint in item.get("endpoints") or []:
                if not (endpoint.get("conditions") or {}).get("ready"):
                    continue
                pod = pods.get((endpoint.get("targetRef") or {}).get("name", ""))
                versions[pod_version(pod) if pod else "unknown-pod"] += 1
        return versions

    def traffic(self, requests: int = 80, service: str = APP) -> Counter[str]:
        """`version` of each answer through the service proxy, one new connection each
        (the proxy picks an endpoint per connection); `v1:503`, `error:...` for failures."""
        host, port = self.cluster.service_address(self.namespace, service)
        url = f"http://{host}:{port}/api/chat"
        seen: Counter[str] = Counter()
        with httpx.Client(trust_env=False, timeout=3.0) as http:
            for _ in range(requests):
                try:
                    response = http.get(url, headers={"Connection": "close"})
                except httpx.HTTPError as exc:
                    seen[f"error:{type(exc).__name__}"] += 1
                    continue
                try:
                    version = str(response.json().get("version"))
                except ValueError:
                    version = "unparsable"
                ok = response.status_code == 200
                seen[version if ok else f"{version}:{response.status_code}"] += 1
        return seen

    def events(self) -> list[dict[str, str]]:
        """The gate's Kubernetes Events, oldest first."""
        result = self.kubectl(
            "get",
            "events",
            "--field-selector",
            f"involvedObject.kind=DeploymentGate,involvedObject.name={self.gate_name}",
            "-o",
            "json",
        )
        items = json.loads(result.stdout)["items"]
        items.sort(
            key=lambda e: (
                e.get("firstTimestamp") or e.get("eventTime") or "",
                e["metadata"]["creationTimestamp"],
            )
        )
        return [
            {
                "type": e.get("type", ""),
                "reason": e.get("reason", ""),
                "message": e.get("message", ""),
            }
            for e in items
        ]

    def events_once(self, reason: str, timeout: float = 10) -> list[dict[str, str]]:
        """The gate's Events once one of `reason` is among them: kopf posts an Event
        after the status patch it describes, so a test that saw the phase waits."""

        def with_reason() -> list[dict[str, str]] | None:
            events = self.events()
            return events if any(e["reason"] == reason for e in events) else None

        return wait_until(with_reason, timeout, what=f"a {reason} Event")

    def describe(self) -> str:
        return str(self.kubectl("describe", "deploymentgate", self.gate_name).stdout)

    def diagnostics(self) -> str:
        """Everything worth reading when a test fails."""
        parts = []
        for args in (
            ("describe", "deploymentgate", self.gate_name),
            ("get", "deployments,pods", "-o", "wide", "--show-labels"),
            ("get", "services", "-o", "wide"),
            ("get", "events", "--sort-by=.lastTimestamp"),
        ):
            result = self.kubectl(*args, check=False)
            parts.append(f"$ kubectl {' '.join(args)}\n{result.stdout}{result.stderr}")
        return "\n".join(parts)

    # -- waiting ----------------------------------------------------------

    def wait_endpoints(self, timeout: float = 20, **versions: int) -> None:
        """Until the Service's ready endpoints are exactly these versions, e.g. v1=2, v2=2."""
        wanted = +Counter(versions)
        wait_until(
            lambda: self.endpoint_versions() == wanted,
            timeout,
            describe=lambda: f"endpoints: {dict(self.endpoint_versions())}",
            what=f"ready endpoints {dict(wanted)}",
        )

    def wait_phase(
        self, phase: str, timeout: float, *, allowed: Iterable[str] | None = None
    ) -> dict[str, Any]:
        """Wait for the gate's phase; fail at once on a terminal phase not asked for
        (or, with `allowed`, on any phase outside it)."""
        allowed_set = None if allowed is None else {*allowed, phase}

        def reached() -> dict[str, Any] | None:
            status = self.status()
            current = status.get("phase")
            if current == phase:
                return status
            bad = (
                (current in TERMINAL)
                if allowed_set is None
                else (current is not None and current not in allowed_set)
            )
            if bad:
                raise GiveUp(
                    f"gate is {current} ({status.get('message')}) while waiting for {phase}\n"
                    + self.diagnostics()
                )
            return None

        return wait_until(reached, timeout, describe=self.diagnostics, what=f"phase {phase}")


def template_version(deployment: Mapping[str, Any]) -> str:
    """APP_VERSION of a Deployment's pod template."""
    return pod_version(deployment["spec"]["template"])


def pod_version(pod: Mapping[str, Any]) -> str:
    for c in pod["spec"]["containers"]:
        for var in c.get("env") or []:
            if var.get("name") == "APP_VERSION":
                return str(var.get("value"))
    return "none"


def history_reasons(status: Mapping[str, Any]) -> list[str]:
    return [h["reason"] for h in status.get("history") or []]


def metric_samples(text: str, name: str, **labels: str) -> list[float]:
    """Values of the samples in Prometheus text output that carry these labels."""
    return [
        float(sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    ]


def metric_value(text: str, name: str, **labels: str) -> float:
    """The value of one sample (0 when absent)."""
    values = metric_samples(text, name, **labels)
    assert len(values) <= 1, f"{name} {labels} matches {len(values)} samples"
    return values[0] if values else 0.0


# ------------------------------------------------- the operator's own signals

RECONCILES = "deploymentgate_reconciles_total"
CAUSES = "deploymentgate_reconcile_causes_total"


def passes(operator: OperatorProcess, cause: str | None = None) -> float:
    """Reconcile passes the operator ran to the end (only those `cause` started),
    as its /metrics count them."""
    text = operator.metrics()
    if cause is None:
        return metric_value(text, RECONCILES)
    return metric_value(text, CAUSES, cause=cause)


def wait_passes(
    operator: OperatorProcess,
    *,
    after: float,
    cause: str | None = None,
    more: int = 1,
    timeout: float = 30.0,
) -> float:
    """Until `more` passes (of `cause`) have ended since the operator counted
    `after`; the count then. For a gate in an active phase, which runs a pass
    every tick and never rests: each pass that ended has read what changed
    before it began, and written what it decided."""
    return wait_until(
        lambda: n if (n := passes(operator, cause)) >= after + more else None,
        timeout,
        interval=0.1,
        what=f"{more} reconcile pass(es) ({cause or 'any cause'}) after the change",
    )


def wait_rested(
    operator: OperatorProcess,
    *,
    after: float | None = None,
    cause: str | None = None,
    quiet: float = 2.0,
    timeout: float = 30.0,
) -> float:
    """Until the operator has acted on everything it saw; its pass count then.

    With `after` (a count of `passes(operator, cause)` taken before a change),
    first until a pass `cause` started has ended since: the operator has looked
    at the change. Then until no pass ends for `quiet` seconds: a pass that
    wrote is followed by another one tick (0.5 s) later, so four quiet ticks
    mean nothing is left to do (a gate in an active phase ticks on: use
    `wait_passes` for it). Waiting on the operator's own count replaces a
    fixed sleep that hoped it was long enough."""
    began = time.monotonic()
    if after is not None:
        wait_until(
            lambda: passes(operator, cause) > after,
            timeout,
            interval=0.1,
            what=f"a reconcile pass ({cause or 'any cause'}) after the change",
        )
    last, since = passes(operator), time.monotonic()
    while time.monotonic() - since < quiet:
        if time.monotonic() - began > timeout:
            raise AssertionError(f"the operator kept reconciling for {timeout:.0f}s ({last:.0f})")
        time.sleep(0.1)
        now = passes(operator)
        if now != last:
            last, since = now, time.monotonic()
    return last


@dataclass(frozen=True)
class Sample:
    phase: str | None
    weight: int
    served: Counter[str]


class Recorder:
    """Watches a gate and samples its Service's traffic in the background, so a
    test can ask afterwards what users were served in each phase."""

    def __init__(self, world: GateWorld, *, requests: int = 4, interval: float = 0.3) -> None:
        self.world = world
        self.requests = requests
        self.interval = interval
        self.samples: list[Sample] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Recorder:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=15)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                status = self.world.status()
                served = self.world.traffic(self.requests)
                after = self.world.status()
                if status.get("phase") == after.get("phase"):
                    weight = int(status.get("canaryWeight") or 0)
                    self.samples.append(Sample(status.get("phase"), weight, served))
            except Exception as exc:  # keep sampling; the test reads the errors
                self.errors.append(repr(exc))
            self._stop.wait(self.interval)

    def phases(self) -> list[str | None]:
        """Phases seen, in order, without repeats."""
        out: list[str | None] = []
        for s in self.samples:
            if not out or out[-1] != s.phase:
                out.append(s.phase)
        return out

    def served(self, phases: Iterable[str] | None = None) -> Counter[str]:
        wanted = None if phases is None else set(phases)
        total: Counter[str] = Counter()
        for s in self.samples:
            if wanted is None or s.phase in wanted:
                total += s.served
        return total

    def weights(self) -> list[int]:
        return sorted({s.weight for s in self.samples})
