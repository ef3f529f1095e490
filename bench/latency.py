"""How fast the operator sees and acts (issue 13, goals 3 and 5), on the local cluster.

    .venv/bin/python bench/latency.py                  # every figure, >= 20 trials each
    .venv/bin/python bench/latency.py --trials 5 --mode-trials 1   # a quick look

One local cluster, one operator (`deploymentgate run`, production tick), one
namespace per scenario, the scenarios running side by side. It prints:

1. fail fast at 0% traffic: for each deterministic failure mode of the reference
   backend, shipped under a gate that names the three probes and keeps every
   default, seconds from its verification pod becoming ready (startup-fails:
   from its container starting, as it never becomes ready) to the gate
   RolledBack. Goal: under 15 s.
2. new revision -> its verification pod under probe: seconds from the
   Deployment's template change to the operator starting the startup probe on
   the verification pod (read from the operator's log as it is written), and
   from the pod having an address to the same moment. Goal: p95 under 1 s.
3. trigger condition true -> no ready canary endpoint behind the Service: a
   revision whose /health turns 503 while it carries 50% of the traffic, under
   healthFailingFor 5s and a 1s health interval; seconds from the first 503
   (the bench polls the canary pods itself) to the Service's EndpointSlices
   holding no ready canary endpoint, minus the 5 s window. Its pods are made
   ready by a TCP readiness probe, so that only the gate, not the kubelet,
   takes them out of the Service. Goal: p95 under 2 s.

It is a measurement, not a test: it runs for minutes and prints figures.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
CRDS = sorted((ROOT / "deploy" / "crds").glob("*.yaml"))
GATES = "/apis/rollout.deploymentgate.dev/v1alpha1"
APP = "chat"
POLL = 0.05

# Failure modes of the reference backend, each with the env it needs (none: defaults).
MODES: dict[str, dict[str, str]] = {
    "startup-fails": {},
    "ws-missing-event": {},
    "ws-slow-events": {},
    "ws-drops": {},
    "health-fails-after-start": {},
}
DEFAULT_GATE = {
    "targetRef": {"kind": "Deployment", "name": APP},
    "service": APP,
    "probes": {"startup": {}, "health": {}, "websocket": {}},
}
WINDOW = 5.0  # healthFailingFor of the canary scenario
CANARY_GATE = {
    "targetRef": {"kind": "Deployment", "name": APP},
    "service": APP,
    "traffic": {"steps": [50, 100], "stepDuration": "2m", "progressDeadline": "2m"},
    "probes": {
        "startup": {},
        "health": {"interval": "1s", "maxLatency": "1s"},
        "websocket": {"interval": "2s", "timeout": "5s"},
    },
    "rollback": {"errorRate": None, "healthFailingFor": "5s", "websocketSilentFor": "5s"},
}
CANARY_HEALTHY_SECONDS = "8"  # long enough to pass verification and reach the 50% step


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def describe(values: list[float]) -> str:
    if not values:
        return "no samples"
    return (
        f"n={len(values)} p50={percentile(values, 0.5):.2f}s p95={percentile(values, 0.95):.2f}s"
        f" max={max(values):.2f}s"
    )


class LogWatch:
    """Tails the operator log; remembers when each startup probe was first started."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.started: dict[tuple[str, str], float] = {}  # (namespace, pod) -> time seen
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> LogWatch:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        offset = 0
        while not self._stop.is_set():
            try:
                with self.path.open("rb") as f:
                    f.seek(offset)
                    chunk = f.read()
            except FileNotFoundError:
                chunk = b""
            now = time.monotonic()
            if chunk:
                complete = chunk.rfind(b"\n") + 1
                offset += complete
                for line in chunk[:complete].decode(errors="replace").splitlines():
                    marker = "startup probe of "
                    if marker not in line:
                        continue
                    rest = line.split(marker, 1)[1]
                    gate, _, pod = rest.partition(" started on pod ")
                    ns = gate.split("/", 1)[0]
                    self.started.setdefault((ns, pod.strip().split()[0]), now)
            time.sleep(0.02)


@dataclass
class Scenario:
    cluster: Any
    namespace: str
    watch: LogWatch
    to_probe: list[float] = field(default_factory=list)
    address_to_probe: list[float] = field(default_factory=list)
    to_pod: list[float] = field(default_factory=list)
    last: str | None = None  # revision under test (or stable) before the latest ship

    def request(self, method: str, path: str, **kw: Any) -> Any:
        return self.cluster.request(method, path, **kw)

    def status(self) -> dict[str, Any]:
        gate = self.request("GET", f"{GATES}/namespaces/{self.namespace}/deploymentgates/{APP}")
        return dict(gate.get("status") or {})

    def pods(self) -> list[dict[str, Any]]:
        items = self.request("GET", f"/api/v1/namespaces/{self.namespace}/pods")["items"]
        return [p for p in items if not p["metadata"].get("deletionTimestamp")]

    def wait(self, what: str, check: Callable[[], Any], timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = check()
            if value:
                return value
            time.sleep(POLL)
        raise TimeoutError(f"{self.namespace}: {what} not within {timeout:g}s")

    def setup(self, spec: dict[str, Any]) -> None:
        from deploymentgate_devkit.testing.manifests import chat_deployment, chat_service

        ns = self.namespace
        self.request(
            "POST", f"/apis/apps/v1/namespaces/{ns}/deployments", json=chat_deployment(APP)
        )
        self.request("POST", f"/api/v1/namespaces/{ns}/services", json=chat_service(APP))
        body = {
            "apiVersion": "rollout.deploymentgate.dev/v1alpha1",
            "kind": "DeploymentGate",
            "metadata": {"name": APP},
            "spec": spec,
        }
        self.request("POST", f"{GATES}/namespaces/{ns}/deploymentgates", json=body)
        self.wait("gate Idle", lambda: self.status().get("phase") == "Idle", 120)

    def ship(
        self, version: str, mode: str, env: dict[str, str], *, tcp_readiness: bool = False
    ) -> float:
        variables = {"APP_VERSION": version, "CHAT_PHASE_SECONDS": "0.1", **env}
        container: dict[str, Any] = {
            "name": APP,
            "image": f"chat-backend:{mode}",
            "env": [{"name": k, "value": v} for k, v in variables.items()],
        }
        if tcp_readiness:  # a failing /health then leaves the pod Ready: only the gate acts
            container["readinessProbe"] = {
                "httpGet": None,
                "tcpSocket": {"port": 8000},
                "periodSeconds": 1,
            }
        patch = {"spec": {"template": {"spec": {"containers": [container]}}}}
        self.last = self.status().get("revision") or self.status().get("stableRevision")
        shipped = time.monotonic()
        self.request(
            "PATCH",
            f"/apis/apps/v1/namespaces/{self.namespace}/deployments/{APP}",
            json=patch,
            content_type="application/strategic-merge-patch+json",
        )
        return shipped

    def verify_pod(self) -> dict[str, Any] | None:
        from deploymentgate.k8s.builders import ROLE_LABEL, ROLE_VERIFY

        for pod in self.pods():
            if pod["metadata"].get("labels", {}).get(ROLE_LABEL) == ROLE_VERIFY:
                return pod
        return None

    def follow_verification(self, shipped: float, timeout: float) -> tuple[str, float, float]:
        """Until the gate leaves Verifying: (final phase, pod started-or-ready time, end)."""
        seen_address: dict[str, float] = {}
        seen_pod: float | None = None
        # The gate still shows the previous revision's verdict until it notices this one.
        self.wait(
            "new revision noticed",
            lambda: self.status().get("revision") not in (None, self.last),
            30,
        )
        self.last = self.status().get("revision")
        ready_at = started_at = None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            now = time.monotonic()
            pod = self.verify_pod()
            if pod is not None:
                if seen_pod is None:
                    seen_pod = now
                    self.to_pod.append(now - shipped)
                name = pod["metadata"]["name"]
                status = pod.get("status") or {}
                if status.get("podIP"):
                    seen_address.setdefault(name, now)
                running = any(
                    "running" in (c.get("state") or {})
                    or "terminated" in (c.get("state") or {})
                    or c.get("restartCount", 0) > 0
                    for c in status.get("containerStatuses") or []
                )
                if running and started_at is None:
                    started_at = now
                ready = any(
                    c.get("type") == "Ready" and c.get("status") == "True"
                    for c in status.get("conditions") or []
                )
                if ready and ready_at is None:
                    ready_at = now
            phase = self.status().get("phase")
            if phase not in ("Verifying", "Idle", None):
                self._record_probe_start(shipped, seen_address)
                return phase, ready_at or started_at or now, now
            time.sleep(POLL)
        self._record_probe_start(shipped, seen_address)
        return "timeout", ready_at or started_at or deadline, deadline

    def _record_probe_start(self, shipped: float, addresses: dict[str, float]) -> None:
        for pod, address in addresses.items():
            probed = self.watch.started.get((self.namespace, pod))
            if probed is not None:
                self.to_probe.append(probed - shipped)
                self.address_to_probe.append(max(0.0, probed - address))
                return


def fail_fast(scenario: Scenario, mode: str, trials: int, out: dict[str, list[str]]) -> None:
    scenario.setup(DEFAULT_GATE)
    for n in range(trials):
        shipped = scenario.ship(f"bad-{n}", mode, MODES[mode])
        phase, since, end = scenario.follow_verification(shipped, 90)
        if phase == "RolledBack":
            out[mode].append(f"{end - since:.1f}s")
        else:
            reason = scenario.status().get("message", "")[:160]
            out[mode].append(f"{phase} after {end - since:.0f}s ({reason})")
        scenario.wait(
            "gate settled",
            lambda: scenario.status().get("phase") in ("RolledBack", "Blocked", "Progressing"),
            30,
        )
        if scenario.status().get("phase") == "Progressing":
            return  # passed verification: later trials would measure the same


def canary_pod_names(scenario: Scenario) -> list[tuple[str, str]]:
    """(name, IP) of the serving pods of the revision under test (the canary)."""
    from deploymentgate.k8s.builders import REVISION_LABEL, ROLE_LABEL, ROLE_SERVING

    revision = scenario.status().get("revision")
    out = []
    for pod in scenario.pods():
        labels = pod["metadata"].get("labels") or {}
        if labels.get(ROLE_LABEL) != ROLE_SERVING or labels.get(REVISION_LABEL) != revision:
            continue
        ip = (pod.get("status") or {}).get("podIP")
        if revision and ip:
            out.append((pod["metadata"]["name"], ip))
    return out


def ready_canary_endpoints(scenario: Scenario, canaries: set[str]) -> int:
    slices = scenario.request(
        "GET",
        f"/apis/discovery.k8s.io/v1/namespaces/{scenario.namespace}/endpointslices"
        f"?labelSelector=kubernetes.io/service-name={APP}",
    )["items"]
    count = 0
    for item in slices:
        for endpoint in item.get("endpoints") or []:
            name = (endpoint.get("targetRef") or {}).get("name")
            if name in canaries and (endpoint.get("conditions") or {}).get("ready"):
                count += 1
    return count


def failing_since(scenario: Scenario) -> float | None:
    """The operator's own start of the failure (status.probes.health.failingSince)."""
    from datetime import datetime

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        health = (scenario.status().get("probes") or {}).get("health") or {}
        value = health.get("failingSince")
        if value:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        time.sleep(POLL)
    return None


def canary_trials(
    scenario: Scenario,
    trials: int,
    out: list[float],
    from_status: list[float],
    to_decision: list[float],
    notes: list[str],
) -> None:
    scenario.setup(CANARY_GATE)
    env = {"CHAT_HEALTHY_SECONDS": CANARY_HEALTHY_SECONDS}
    with httpx.Client(timeout=0.5) as http:
        for n in range(trials):
            shipped = scenario.ship(
                f"fading-{n}", "health-fails-after-start", env, tcp_readiness=True
            )
            phase, _, _ = scenario.follow_verification(shipped, 60)
            if phase != "Progressing":
                notes.append(f"trial {n}: {phase}: {scenario.status().get('message', '')[:160]}")
                continue
            canaries = scenario.wait("canary pods", lambda: canary_pod_names(scenario), 60)
            names = {name for name, _ in canaries}
            onset = None
            healthy: set[str] = set()  # pods that answered 200: a 503 after it is the onset
            decided: float | None = None  # wall time the gate was first seen RolledBack
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                now = time.monotonic()
                if onset is None:
                    for name, ip in canary_pod_names(scenario):
                        try:
                            code = http.get(f"http://{ip}:8000/health").status_code
                        except httpx.HTTPError:
                            continue
                        if code == 200:
                            healthy.add(name)
                        elif name in healthy:
                            onset = now
                            break
                names |= {name for name, _ in canary_pod_names(scenario)}
                if decided is None and scenario.status().get("phase") == "RolledBack":
                    decided = time.time()
                if onset is not None and ready_canary_endpoints(scenario, names) == 0:
                    out.append(now - onset - WINDOW)
                    gone_wall = time.time()
                    since = failing_since(scenario)
                    if since is not None:
                        from_status.append(gone_wall - since - WINDOW)
                        if decided is not None:
                            to_decision.append(decided - since - WINDOW)
                    break
                time.sleep(POLL)
            else:
                notes.append(f"trial {n}: no verdict within 60s ({scenario.status().get('phase')})")
            scenario.wait(
                "rolled back",
                lambda: scenario.status().get("phase") in ("RolledBack", "Blocked"),
                60,
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=20, help="canary-trigger trials")
    parser.add_argument("--mode-trials", type=int, default=4, help="trials per failure mode")
    parser.add_argument("--modes", nargs="*", default=list(MODES))
    parser.add_argument(
        "--crds", type=Path, default=None, help="CRD directory (default: deploy/crds)"
    )
    args = parser.parse_args()
    crds = sorted(args.crds.glob("*.yaml")) if args.crds else CRDS

    sys.path.insert(0, str(ROOT / "operator"))
    from deploymentgate_devkit.sandbox import Sandbox
    from deploymentgate_devkit.testing import OperatorProcess

    started = time.monotonic()
    with Sandbox.start() as cluster, tempfile.TemporaryDirectory() as tmp:
        for crd in crds:
            cluster.kubectl("apply", "--server-side", "-f", str(crd))
        for crd in crds:
            name = crd.name.removesuffix(".yaml")
            cluster.kubectl("wait", "--for=condition=Established", "--timeout=30s", f"crd/{name}")
        namespaces = {key: cluster.create_namespace() for key in [*args.modes, "canary"]}
        log = Path(tmp) / "operator.log"
        watch = LogWatch(log).start()
        scenarios = {key: Scenario(cluster, ns, watch) for key, ns in namespaces.items()}
        results: dict[str, list[str]] = {mode: [] for mode in args.modes}
        canary: list[float] = []
        canary_status: list[float] = []
        canary_decision: list[float] = []
        notes: list[str] = []
        errors: list[str] = []

        def guarded(key: str, work: Callable[[], None]) -> Callable[[], None]:
            def run() -> None:
                try:
                    work()
                except Exception as exc:  # a scenario's trouble is a figure, not a crash
                    errors.append(f"{key}: {type(exc).__name__}: {exc}")

            return run

        with OperatorProcess(
            cluster.kubeconfig, log, namespaces=list(namespaces.values()), tick=1.0
        ):
            threads = [
                threading.Thread(
                    target=guarded(
                        mode,
                        functools.partial(
                            fail_fast, scenarios[mode], mode, args.mode_trials, results
                        ),
                    )
                )
                for mode in args.modes
            ]
            threads.append(
                threading.Thread(
                    target=guarded(
                        "canary",
                        lambda: canary_trials(
                            scenarios["canary"],
                            args.trials,
                            canary,
                            canary_status,
                            canary_decision,
                            notes,
                        ),
                    )
                )
            )
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        watch.stop()

        print(f"\nbench/latency: {time.monotonic() - started:.0f}s on the local cluster\n")
        print("1. fail fast at 0% traffic (default probe settings), pod ready -> RolledBack:")
        for mode, outcomes in results.items():
            print(f"   {mode:26} {', '.join(outcomes) or 'no trial'}")
        to_probe = [x for s in scenarios.values() for x in s.to_probe]
        address = [x for s in scenarios.values() for x in s.address_to_probe]
        print("2. new revision -> verification pod under probe:")
        print(f"   template change -> startup probe started  {describe(to_probe)}")
        print(f"   pod address seen -> startup probe started {describe(address)}")
        to_pod = [x for s in scenarios.values() for x in s.to_pod]
        print(f"   (template change -> verification pod exists {describe(to_pod)})")
        print(f"3. trigger true -> no ready canary endpoint, beyond the {WINDOW:g}s window:")
        print(f"   from the app's first 503 (includes the 1s probe interval) {describe(canary)}")
        print(
            f"   from the operator's failingSince                        {describe(canary_status)}"
        )
        print(f"   (failingSince -> gate seen RolledBack: {describe(canary_decision)})")
        for note in notes + errors:
            print(f"   note: {note}")
        if errors:
            print(f"\n===== operator log (tail) =====\n{log.read_text(errors='replace')[-6000:]}")
            for key, scenario in scenarios.items():
                print(f"{key}: {scenario.status()}")
        if to_probe:
            print(f"   (mean template change -> probe {statistics.mean(to_probe):.2f}s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
