"""What the watch after promotion buys and costs (rollback.watchAfterPromotion).

    .venv/bin/python bench/revert.py                     # 20 trials, 5 at a time
    .venv/bin/python bench/revert.py --trials 5 --cold-trials 2   # a quick look

One local cluster, one operator (`deploymentgate run`, production tick), one
namespace per trial, `--parallel` trials at a time. Each trial deploys the
reference chat app (v1, 3 replicas) behind a gate (the fast test spec, steps
50/100 of 4 s, `rollback.watchAfterPromotion` left at its default of 10m),
ships v2 as `chat-backend:breaks-after-start` (/health 503 and every /api/chat
500 `--healthy-seconds` after each pod started), and waits for the revert
after promotion. It prints:

1. how fast the revert is, p50/p95/max over the trials:
   - the RevertedAfterPromotion history entry minus the first failure (the
     earliest `status.probes.<kind>.failingSince`);
   - the Service's EndpointSlices holding only v1 (again) minus the first
     failure, and with all of v1's pods ready behind it;
   - from a user sampler (one request through the Service every 0.1 s, a new
     connection each): the first v1 answer after the last other answer,
     minus the first failure; and the failed requests per trial.
2. what the warm previous revision costs: pod-seconds per rollout, from the
   status ((watchUntil - the Promoted history entry) x v1's pods seen parked:
   running, out of the Service), and a parked pod's RSS and CPU, read from
   /proc (the local cluster runs pods as local processes, found by their
   POD_NAME/POD_NAMESPACE environment).
3. the cold alternative, in a namespace with no gate: the same app at
   3 replicas, scaled 0 -> 3 and (a rollback without warm pods) its template
   changed, seconds until the Service's EndpointSlices hold 3 ready endpoints
   of the new pods.

It is a measurement, not a test: it runs for minutes and prints figures.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import os
import signal
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from deploymentgate.models import API_GROUP, API_VERSION, PLURAL, SERVING_LABEL
from deploymentgate_devkit.testing import manifests

ROOT = Path(__file__).resolve().parents[1]
CRDS = sorted((ROOT / "deploy" / "crds").glob("*.yaml"))
GATES = f"/apis/{API_GROUP}/{API_VERSION}"
APP = "chat"
REPLICAS = 3
POLL = 0.25
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ----------------------------------------------------------------- figures


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def describe(values: list[float], unit: str = "s") -> str:
    if not values:
        return "no samples"
    return (
        f"n={len(values)} p50={percentile(values, 0.5):.2f}{unit}"
        f" p95={percentile(values, 0.95):.2f}{unit} max={max(values):.2f}{unit}"
    )


def seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}s"


def parse_time(text: str) -> float:
    """RFC 3339 from the API -> time.time() scale."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def pod_version(pod: dict[str, Any]) -> str:
    for c in pod["spec"]["containers"]:
        for var in c.get("env") or []:
            if var.get("name") == "APP_VERSION":
                return str(var.get("value"))
    return "none"


# --------------------------------------------------- pods as local processes


def pod_pids(namespace: str, pod: str) -> list[int]:
    """The local processes of a sandbox pod (every process carrying its env)."""
    name, ns = f"POD_NAME={pod}".encode(), f"POD_NAMESPACE={namespace}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            env = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if name in env and ns in env:
            found.append(int(entry.name))
    return found


def rss_mib(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
        except OSError:
            pass
    return total


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime
    return total


# ------------------------------------------------------------ one namespace


class Samplers:
    """Users of the Service and its ready endpoints, in the background."""

    def __init__(self, space: Space, users_every: float = 0.1, slices_every: float = 0.2) -> None:
        self.space = space
        self.users_every = users_every
        self.slices_every = slices_every
        self.answers: list[tuple[float, str]] = []  # (time, "v1" | "v2:500" | "error:...")
        self.endpoints: list[tuple[float, Counter[str]]] = []
        self._names: dict[str, str] = {}  # pod name -> APP_VERSION
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._loop, args=(self._user, users_every), daemon=True),
            threading.Thread(target=self._loop, args=(self._slices, slices_every), daemon=True),
        ]

    def start(self) -> Samplers:
        host, port = self.space.cluster.service_address(self.space.namespace, APP)
        self._url = f"http://{host}:{port}/api/chat"
        self._http = httpx.Client(trust_env=False, timeout=2.0)
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(10)
        self._http.close()

    def _loop(self, sample: Callable[[], None], every: float) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(Exception):  # keep sampling; a gap shows in the figures
                sample()
            self._stop.wait(every)

    def _user(self) -> None:
        try:
            response = self._http.get(self._url, headers={"Connection": "close"})
        except httpx.HTTPError as exc:
            self.answers.append((time.time(), f"error:{type(exc).__name__}"))
            return
        try:
            version = str(response.json().get("version"))
        except ValueError:
            version = "unparsable"
        ok = response.status_code == 200
        self.answers.append((time.time(), version if ok else f"{version}:{response.status_code}"))

    def _slices(self) -> None:
        names = self.space.ready_endpoint_names()
        at = time.time()
        if any(n not in self._names for n in names):
            for pod in self.space.pods(terminating=True):
                self._names[pod["metadata"]["name"]] = pod_version(pod)
        self.endpoints.append((at, Counter(self._names.get(n, "unknown") for n in names)))


@dataclass
class Space:
    cluster: Any
    namespace: str

    def request(self, method: str, path: str, **kw: Any) -> Any:
        return self.cluster.request(method, path, **kw)

    def status(self) -> dict[str, Any]:
        gate = self.request("GET", f"{GATES}/namespaces/{self.namespace}/{PLURAL}/{APP}")
        return dict(gate.get("status") or {})

    def pods(self, terminating: bool = False) -> list[dict[str, Any]]:
        items = self.request("GET", f"/api/v1/namespaces/{self.namespace}/pods")["items"]
        return [p for p in items if terminating or not p["metadata"].get("deletionTimestamp")]

    def ready_endpoint_names(self) -> list[str]:
        slices = self.request(
            "GET",
            f"/apis/discovery.k8s.io/v1/namespaces/{self.namespace}/endpointslices"
            f"?labelSelector=kubernetes.io/service-name={APP}",
        )["items"]
        return [
            (e.get("targetRef") or {}).get("name", "")
            for item in slices
            for e in item.get("endpoints") or []
            if (e.get("conditions") or {}).get("ready")
        ]

    def wait(self, what: str, check: Callable[[], Any], timeout: float, poll: float = POLL) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            try:
                value = check()
            except Exception:  # a busy API server: not yet
                value = None
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.namespace}: {what} not within {timeout:g}s")
            time.sleep(poll)

    def phase(self, phase: str, timeout: float, allowed: tuple[str, ...]) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            status = self.status()
            if status.get("phase") == phase:
                return status
            if status.get("phase") not in (*allowed, None):
                raise RuntimeError(
                    f"{self.namespace}: gate {status.get('phase')} ({status.get('message')})"
                    f" while waiting for {phase}"
                )
            return None

        deadline = time.monotonic() + timeout
        while True:
            status = None
            try:
                status = reached()
            except RuntimeError:
                raise
            except Exception:  # a busy API server: not yet
                pass
            if status:
                return status
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.namespace}: phase {phase} not within {timeout:g}s")
            time.sleep(POLL)

    def deploy(self, version: str, replicas: int) -> None:
        ns = self.namespace
        self.request(
            "POST",
            f"/apis/apps/v1/namespaces/{ns}/deployments",
            json=manifests.chat_deployment(APP, version=version, replicas=replicas),
        )
        self.request("POST", f"/api/v1/namespaces/{ns}/services", json=manifests.chat_service(APP))

    def patch_deployment(self, patch: dict[str, Any]) -> None:
        self.request(
            "PATCH",
            f"/apis/apps/v1/namespaces/{self.namespace}/deployments/{APP}",
            json=patch,
            content_type="application/strategic-merge-patch+json",
        )

    def set_version(self, version: str, mode: str | None = None, **env: str) -> None:
        """One template change, as `kubectl set image/env` would make it."""
        container: dict[str, Any] = {
            "name": APP,
            "env": [{"name": k, "value": v} for k, v in {"APP_VERSION": version, **env}.items()],
        }
        if mode is not None:
            container["image"] = f"chat-backend:{mode}"
        self.patch_deployment({"spec": {"template": {"spec": {"containers": [container]}}}})


def gate_spec() -> dict[str, Any]:
    """The acceptance test's: the fast spec, steps 50/100, the default watch (10m)."""
    spec = copy.deepcopy(manifests.fast_gate_spec(APP, steps=(50, 100), step_duration="4s"))
    spec["traffic"]["progressDeadline"] = "90s"
    del spec["rollback"]["watchAfterPromotion"]
    return spec


# ------------------------------------------------------------- one trial


@dataclass
class Trial:
    namespace: str
    trigger: str = ""
    decided: float | None = None  # RevertedAfterPromotion - first failingSince
    slices_v1: float | None = None  # EndpointSlices only v1 - first failingSince
    slices_full: float | None = None  # ... and all REPLICAS of v1 ready
    users_back: float | None = None  # first v1 answer after the last other one
    failed: int = 0  # user requests not answered 200 by v1 or v2
    requests: int = 0
    window: float = 0.0  # watchUntil - Promoted
    parked: int = 0  # v1 pods running out of the Service at promotion
    same_pods: bool = False
    restarts: int = 0
    rss: list[float] = field(default_factory=list)  # MiB per parked pod
    cores: float | None = None  # CPU of the parked pods, per pod
    note: str = ""


def history_time(status: dict[str, Any], reason: str) -> float | None:
    times = [parse_time(h["time"]) for h in status.get("history") or [] if h["reason"] == reason]
    return times[-1] if times else None


def trial(cluster: Any, namespace: str, healthy_seconds: int) -> Trial:
    space = Space(cluster, namespace)
    out = Trial(namespace)
    space.deploy("v1", REPLICAS)
    space.request(
        "POST",
        f"{GATES}/namespaces/{namespace}/{PLURAL}",
        json=manifests.gate(APP, gate_spec()),
    )
    space.phase("Idle", 120, ("Initializing", "Pending"))

    def v1_uids() -> set[str]:
        return {p["metadata"]["uid"] for p in space.pods() if pod_version(p) == "v1"}

    # Adopted: the gate's serving Deployment holds the v1 pods (the team's went).
    space.wait(
        "v1 serving",
        lambda: len(space.ready_endpoint_names()) == REPLICAS and len(v1_uids()) == REPLICAS,
        90,
    )
    v1_before = v1_uids()

    space.set_version("v2", mode="breaks-after-start", CHAT_HEALTHY_SECONDS=str(healthy_seconds))
    promoted = space.phase("Promoted", 180, ("Idle", "Verifying", "Progressing", "Promoting"))
    samplers = Samplers(space).start()
    try:
        promoted_at = history_time(promoted, "Promoted")
        until = promoted.get("watchUntil")
        if promoted_at is None or not until or not promoted.get("previousRevision"):
            raise RuntimeError(f"{namespace}: promoted without a watch: {promoted}")
        out.window = parse_time(until) - promoted_at
        parked = [
            p
            for p in space.pods()
            if pod_version(p) == "v1" and SERVING_LABEL not in (p["metadata"].get("labels") or {})
        ]
        out.parked = len(parked)
        parked_uids = {p["metadata"]["uid"] for p in parked}
        pids = [pod_pids(namespace, p["metadata"]["name"]) for p in parked]
        out.rss = [rss_mib(p) for p in pids]
        cpu_before, cpu_t0 = cpu_seconds([x for p in pids for x in p]), time.monotonic()

        reverted = space.phase("RolledBack", healthy_seconds + 120, ("Promoted",))
        seen_reverted = time.monotonic()
        if pids and seen_reverted > cpu_t0:
            used = cpu_seconds([x for p in pids for x in p]) - cpu_before
            out.cores = used / (seen_reverted - cpu_t0) / len(pids)
        space.wait(
            "v1 back behind the Service",
            lambda: (
                Counter(
                    pod_version(p)
                    for p in space.pods()
                    if p["metadata"]["name"] in set(space.ready_endpoint_names())
                )
                == Counter(v1=REPLICAS)
            ),
            30,
        )
        time.sleep(3)  # users after the revert count too
    finally:
        samplers.stop()

    out.trigger = str(reverted.get("rollbackTrigger") or "?")
    decided = history_time(reverted, "RevertedAfterPromotion")
    failing = [
        parse_time(p["failingSince"])
        for p in (reverted.get("probes") or {}).values()
        if isinstance(p, dict) and p.get("failingSince")
    ]
    if decided is None or not failing:
        out.note = f"no RevertedAfterPromotion entry or failingSince ({reverted.get('message')})"
        return out
    first = min(failing)
    out.decided = decided - first

    for at, versions in samplers.endpoints:
        if at >= first and versions and set(versions) == {"v1"}:
            out.slices_v1 = at - first if out.slices_v1 is None else out.slices_v1
            if versions["v1"] == REPLICAS:
                out.slices_full = at - first
                break

    answers = [a for a in samplers.answers if a[0] >= first - 5]
    out.requests = len(samplers.answers)
    out.failed = sum(1 for _, v in samplers.answers if v not in ("v1", "v2"))
    last_other = max((at for at, v in answers if v != "v1"), default=None)
    if last_other is not None:
        back = [at for at, v in answers if v == "v1" and at > last_other]
        out.users_back = (min(back) - first) if back else None
    if out.users_back is None:
        out.note += f" no v1 answer after the last other one: {answers[-4:]}"

    v1_after = {p["metadata"]["uid"]: p for p in space.pods() if pod_version(p) == "v1"}
    out.same_pods = set(v1_after) == parked_uids
    if not out.same_pods:
        out.note = (
            f"v1 pods parked {sorted(parked_uids)}, after the revert {sorted(v1_after)}"
            f" (before the rollout {sorted(v1_before)})"
        )
    out.restarts = sum(
        c.get("restartCount", 0)
        for p in v1_after.values()
        for c in (p.get("status") or {}).get("containerStatuses") or []
    )
    return out


# ------------------------------------------------------- the cold alternative


def cold(cluster: Any, namespace: str, trials: int) -> dict[str, list[float]]:
    """No gate: scale 0 -> 3 and a template change, until 3 new ready endpoints."""
    space = Space(cluster, namespace)
    space.deploy("c0", REPLICAS)
    out: dict[str, list[float]] = {"scale": [], "scale_first": [], "template": []}

    def ready_versions() -> Counter[str]:
        names = set(space.ready_endpoint_names())
        return Counter(pod_version(p) for p in space.pods() if p["metadata"]["name"] in names)

    space.wait("c0 serving", lambda: ready_versions() == Counter(c0=REPLICAS), 120)
    version = "c0"
    for n in range(trials):
        space.patch_deployment({"spec": {"replicas": 0}})
        space.wait("no pod left", lambda: not space.pods(terminating=True), 60)
        began, first = time.monotonic(), None
        space.patch_deployment({"spec": {"replicas": REPLICAS}})
        while time.monotonic() - began < 120:
            count = len(space.ready_endpoint_names())
            if count and first is None:
                first = time.monotonic() - began
            if count == REPLICAS:
                out["scale"].append(time.monotonic() - began)
                out["scale_first"].append(first or 0.0)
                break
            time.sleep(0.05)

        version = f"c{n + 1}"
        began = time.monotonic()
        space.set_version(version)
        wanted = Counter({version: REPLICAS})
        space.wait(f"{version} serving", lambda w=wanted: ready_versions() == w, 120, poll=0.05)
        out["template"].append(time.monotonic() - began)
    return out


# --------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=20, help="reverts after promotion (20)")
    parser.add_argument("--parallel", type=int, default=5, help="trials at a time (5)")
    parser.add_argument(
        "--healthy-seconds",
        type=int,
        default=45,
        help="v2's CHAT_HEALTHY_SECONDS: it breaks this long after each pod started (45)",
    )
    parser.add_argument(
        "--stagger", type=float, default=8.0, help="seconds between the first trials' starts (8)"
    )
    parser.add_argument(
        "--cold-trials", type=int, default=10, help="scale 0 -> 3 and template changes (10)"
    )
    parser.add_argument("--tick", type=float, default=1.0, help="the operator's --tick (1.0)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    from deploymentgate_devkit.sandbox import Sandbox
    from deploymentgate_devkit.testing import OperatorProcess

    memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30
    print(
        f"machine: {os.cpu_count()} cores, {memory:.0f} GiB; load {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    started = time.monotonic()
    with Sandbox.start() as cluster, tempfile.TemporaryDirectory() as tmp:
        for crd in CRDS:
            cluster.kubectl("apply", "--server-side", "-f", str(crd))
        for crd in CRDS:
            name = crd.name.removesuffix(".yaml")
            cluster.kubectl("wait", "--for=condition=Established", "--timeout=30s", f"crd/{name}")
        namespaces = [cluster.create_namespace() for _ in range(args.trials)]
        log = Path(tmp) / "operator.log"
        results: list[Trial] = []
        errors: list[str] = []
        loads: list[float] = []

        def run(index: int, namespace: str) -> None:
            if index < args.parallel:
                time.sleep(index * args.stagger)
            began = time.monotonic()
            try:
                result = trial(cluster, namespace, args.healthy_seconds)
                results.append(result)
                print(
                    f"  trial {index + 1:>2} ({namespace}): trigger {result.trigger},"
                    f" from the first failure: reverted {seconds(result.decided)},"
                    f" slices only v1 {seconds(result.slices_v1)},"
                    f" users only on v1 {seconds(result.users_back)};"
                    f" {result.failed} failed requests; {time.monotonic() - began:.0f}s",
                    flush=True,
                )
            except Exception as exc:  # a trial's trouble is a figure, not a crash
                errors.append(f"{namespace}: {type(exc).__name__}: {exc}")
                traceback.print_exc()
            finally:
                loads.append(os.getloadavg()[0])
                cluster.delete_namespace(namespace)

        with (
            OperatorProcess(cluster.kubeconfig, log, namespaces=namespaces, tick=args.tick),
            ThreadPoolExecutor(max_workers=args.parallel) as pool,
        ):
            list(pool.map(run, range(args.trials), namespaces))
        warm_took = time.monotonic() - started
        if errors and "Traceback" in log.read_text(errors="replace"):
            print(f"===== operator log (tail) =====\n{log.read_text(errors='replace')[-6000:]}")

        print(f"  warm trials done after {warm_took:.0f}s; cold trials ...", flush=True)
        cold_ns = cluster.create_namespace()
        cold_began = time.monotonic()
        recreate = cold(cluster, cold_ns, args.cold_trials) if args.cold_trials else {}
        cold_load = os.getloadavg()[0]
        cold_took = time.monotonic() - cold_began

    report(args, results, errors, loads, warm_took, recreate, cold_took, cold_load)
    return 1 if errors else 0


def row(label: str, values: list[float], unit: str = "s") -> None:
    print(f"   {label:<44} {describe(values, unit)}")


def report(
    args: argparse.Namespace,
    results: list[Trial],
    errors: list[str],
    loads: list[float],
    warm_took: float,
    recreate: dict[str, list[float]],
    cold_took: float,
    cold_load: float,
) -> None:
    ok = [r for r in results if r.decided is not None]
    print(
        f"\nbench/revert: {len(results)} of {args.trials} trials, {args.parallel} at a time,"
        f" {warm_took:.0f}s (load average {min(loads, default=0):.1f}-{max(loads, default=0):.1f});"
        f" v2 breaks {args.healthy_seconds}s after each pod started; {REPLICAS} replicas;"
        f" operator --tick {args.tick:g}\n"
    )
    print(f"1. revert after promotion (triggers: {dict(Counter(r.trigger for r in ok))}),")
    print("   from the first failure (earliest failingSince):")
    row("RevertedAfterPromotion entry", [r.decided for r in ok if r.decided is not None])
    row("EndpointSlices: only v1", [r.slices_v1 for r in ok if r.slices_v1 is not None])
    row(
        f"EndpointSlices: all {REPLICAS} v1 ready",
        [r.slices_full for r in ok if r.slices_full is not None],
    )
    row(
        "users only on v1 (sampler, 10 req/s)",
        [r.users_back for r in ok if r.users_back is not None],
    )
    sent = sum(r.requests for r in ok) / len(ok) if ok else 0.0
    row(f"failed user requests per trial (of ~{sent:.0f})", [float(r.failed) for r in ok], "")
    print(
        f"   the same v1 pods after the revert: {sum(r.same_pods for r in ok)} of {len(ok)}"
        f" trials; v1 container restarts: {sum(r.restarts for r in ok)}"
    )

    windows = [r.window for r in ok]
    pods = [float(r.parked) for r in ok]
    rss = [x for r in ok for x in r.rss]
    per_rollout = [r.window * r.parked for r in ok]
    print("2. the warm previous revision, per promoted rollout:")
    row("watchUntil - Promoted", windows)
    row("v1 pods parked (running, out of the Service)", pods, "")
    row("pod-seconds kept (window x pods)", per_rollout, "")
    row("RSS of a parked pod", rss, " MiB")
    row("CPU of a parked pod", [r.cores * 1000 for r in ok if r.cores is not None], " mcores")
    if rss and per_rollout:
        mib = percentile(rss, 0.5) * percentile(pods, 0.5)
        print(
            f"   = {percentile(per_rollout, 0.5):,.0f} pod-seconds per rollout: {mib:.0f} MiB"
            f" held for {percentile(windows, 0.5):.0f}s"
            f" ({mib * percentile(windows, 0.5) / 1024:,.0f} GiB-seconds)"
        )
    if recreate:
        print(
            f"3. the cold alternative, no gate, {REPLICAS} replicas, {args.cold_trials} trials"
            f" one at a time ({cold_took:.0f}s, load average {cold_load:.1f}):"
        )
        row(f"scale 0 -> {REPLICAS}: first ready endpoint", recreate["scale_first"])
        row(f"scale 0 -> {REPLICAS}: {REPLICAS} ready endpoints", recreate["scale"])
        row(f"template change -> {REPLICAS} new ready endpoints", recreate["template"])
    for r in results:
        if r.note:
            print(f"   note: {r.namespace}: {r.note}")
    for error in errors:
        print(f"   error: {error}")


if __name__ == "__main__":
    sys.exit(main())
