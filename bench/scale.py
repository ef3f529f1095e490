"""How the operator's cost grows with the number of gates (issue 13, goal 1).

    .venv/bin/python bench/scale.py                    # 100, 1,000 and 10,000 gates
    .venv/bin/python bench/scale.py --gates 1000 --rollouts 20
    .venv/bin/python bench/scale.py --gates 10000 --shards 1 2   # one, then two operators

For each N it starts a fresh local cluster, creates N Deployments (0 replicas),
N Services and N gates spread over namespaces of 500, starts one operator
(`deploymentgate run`, as in production; with `--shards 1 2`, then stops it
and starts two, each watching half of the namespaces), and prints:

- how long until every gate is Idle (adopted), and the operator's peak RSS,
- the operator's CPU (cores), RSS, reconcile passes and writes to gates over
  an idle minute,
- the same while M rollouts are in progress (M Deployments get a new template),
- the cost per gate, so the curve over N shows whether it stays flat,
- the load average beside each figure (the machine may be shared).

CPU is read from /proc (utime + stime of the operator process), RSS and peak
RSS (VmHWM) from /proc/<pid>/status, passes from the operator's
deploymentgate_reconciles_total (and what caused them, from
deploymentgate_reconcile_causes_total), writes from the gates' and the
Deployments' resourceVersions.
Runs for minutes; it is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
CRD = ROOT / "deploy" / "crds" / "deploymentgates.rollout.deploymentgate.dev.yaml"
GATES_PATH = "/apis/rollout.deploymentgate.dev/v1alpha1"
PER_NAMESPACE = 500
SETTLED = ("Idle", "Promoted")
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def deployment(name: str) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": "chat-backend:healthy",
                            "ports": [{"containerPort": 8000, "name": "http"}],
                            "env": [{"name": "APP_VERSION", "value": "v1"}],
                        }
                    ]
                },
            },
        },
    }


def service(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {
            "selector": {"app": name},
            "ports": [{"name": "http", "port": 80, "targetPort": 8000}],
        },
    }


def gate(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "rollout.deploymentgate.dev/v1alpha1",
        "kind": "DeploymentGate",
        "metadata": {"name": name},
        "spec": {
            "targetRef": {"kind": "Deployment", "name": name},
            "service": name,
            "traffic": {"steps": [50, 100], "stepDuration": "5s"},
            "rollback": {"errorRate": None},
        },
    }


def install_crd(cluster: Any) -> None:
    cluster.kubectl("apply", "--server-side", "-f", str(CRD))
    cluster.kubectl(
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd/deploymentgates.rollout.deploymentgate.dev",
    )


def idle_names(cluster: Any, n: int) -> tuple[list[str], list[tuple[str, str]]]:
    """Namespaces of PER_NAMESPACE gates, and (namespace, name) of each of n idle gates."""
    namespaces = [cluster.create_namespace() for _ in range((n - 1) // PER_NAMESPACE + 1)]
    return namespaces, [(namespaces[i // PER_NAMESPACE], f"app{i}") for i in range(n)]


def create_idle(cluster: Any, ns: str, name: str) -> None:
    """A Deployment at 0 replicas, its Service, and a gate on them."""
    cluster.request("POST", f"/apis/apps/v1/namespaces/{ns}/deployments", json=deployment(name))
    cluster.request("POST", f"/api/v1/namespaces/{ns}/services", json=service(name))
    cluster.request("POST", f"{GATES_PATH}/namespaces/{ns}/deploymentgates", json=gate(name))


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_mib(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0


def load() -> str:
    """The 1-minute load average, to print beside a figure."""
    return f"load {os.getloadavg()[0]:.1f}"


def reconciles(operators: list[Any]) -> float:
    """Reconcile passes so far, summed over the operators."""
    total = 0.0
    for operator in operators:
        text = httpx.get(operator.metrics_url, timeout=10).text
        for line in text.splitlines():
            if line.startswith("deploymentgate_reconciles_total "):
                total += float(line.split()[1])
    return total


def causes(operators: list[Any]) -> dict[str, float]:
    """Reconcile passes so far by what started them, summed over the operators."""
    total: dict[str, float] = {}
    prefix = 'deploymentgate_reconcile_causes_total{cause="'
    for operator in operators:
        for line in httpx.get(operator.metrics_url, timeout=10).text.splitlines():
            if line.startswith(prefix):
                cause, value = line[len(prefix) :].split('"}')
                total[cause] = total.get(cause, 0.0) + float(value)
    return total


def since(before: dict[str, float], after: dict[str, float]) -> dict[str, int]:
    """What grew between two readings of `causes`, largest first."""
    grew = {k: round(v - before.get(k, 0.0)) for k, v in after.items()}
    return dict(sorted(((k, v) for k, v in grew.items() if v), key=lambda kv: -kv[1]))


def deployment_versions(cluster: Any) -> dict[tuple[str, str], str]:
    """Every Deployment's resourceVersion: the cluster's own controllers may
    still be writing them (and waking gates) after the gates settled."""
    items = cluster.request("GET", "/apis/apps/v1/deployments")["items"]
    return {
        (i["metadata"]["namespace"], i["metadata"]["name"]): i["metadata"]["resourceVersion"]
        for i in items
    }


def versions(cluster: Any) -> dict[tuple[str, str], str]:
    """Every gate's resourceVersion: a write to a gate changes its own."""
    items = cluster.request("GET", f"{GATES_PATH}/deploymentgates")["items"]
    return {
        (i["metadata"]["namespace"], i["metadata"]["name"]): i["metadata"]["resourceVersion"]
        for i in items
    }


def measure_all(pids: list[int], seconds: float) -> list[tuple[float, float]]:
    """(cores, RSS MiB at the end) of each process over the same interval."""
    start = time.monotonic()
    cpu = [cpu_seconds(pid) for pid in pids]
    time.sleep(seconds)
    elapsed = time.monotonic() - start
    return [
        ((cpu_seconds(pid) - c) / elapsed, rss_mib(pid)) for pid, c in zip(pids, cpu, strict=True)
    ]


def quiet(operators: list[Any], still: float = 5.0, limit: float = 180.0) -> tuple[float, float]:
    """Wait until no operator has run a pass for `still` seconds (at most
    `limit`): (seconds waited, passes meanwhile)."""
    start = time.monotonic()
    first = last = reconciles(operators)
    since_change = start
    while time.monotonic() - since_change < still and time.monotonic() - start < limit:
        time.sleep(0.5)
        now = reconciles(operators)
        if now != last:
            last, since_change = now, time.monotonic()
    return time.monotonic() - start, last - first


def run_all(jobs: Iterable[Callable[[], object]], workers: int = 16) -> None:
    with ThreadPoolExecutor(workers) as pool:
        for future in [pool.submit(job) for job in jobs]:
            future.result()


def phases(cluster: Any) -> dict[str, int]:
    """Gates by phase, from the Table form of the list (the CRD's printer
    columns): polled every few seconds while adopting, the whole objects of
    10,000 gates would be a load of the bench's own on the API server."""
    table = cluster.request("GET", f"{GATES_PATH}/deploymentgates", accept=TABLE)
    column = [c["name"] for c in table["columnDefinitions"]].index("Phase")
    counts: dict[str, int] = {}
    for row in table["rows"]:
        phase = row["cells"][column] or "-"
        counts[phase] = counts.get(phase, 0) + 1
    return counts


def ship(cluster: Any, ns: str, name: str, version: str) -> None:
    """A new template for one Deployment: its gate starts a rollout."""
    container = {"name": "app", "env": [{"name": "APP_VERSION", "value": version}]}
    cluster.request(
        "PATCH",
        f"/apis/apps/v1/namespaces/{ns}/deployments/{name}",
        json={"spec": {"template": {"spec": {"containers": [container]}}}},
        content_type="application/strategic-merge-patch+json",
    )


def bench(
    n: int, rollouts: int, idle_seconds: float, adopt_timeout: float, shards: list[int]
) -> list[dict[str, float]]:
    """One cluster with n gates; for each entry of `shards`, that many operators
    (namespaces split) measured in turn. The first adopts the gates; later ones
    take over gates already adopted (an operator restart, sharded)."""
    from deploymentgate_devkit.sandbox import Sandbox

    with Sandbox.start(nodes=1) as cluster:
        install_crd(cluster)
        namespaces, names = idle_names(cluster, n)
        began = time.monotonic()
        run_all(lambda ns=ns, name=name: create_idle(cluster, ns, name) for ns, name in names)
        print(
            f"  created {n} Deployments, Services and gates in {time.monotonic() - began:.0f}s"
            f" ({load()})"
        )
        rows = []
        for turn, count in enumerate(shards):
            moving = names[turn * rollouts : (turn + 1) * rollouts]
            rows.append(
                measure(
                    cluster,
                    namespaces,
                    n,
                    count,
                    moving,
                    idle_seconds,
                    adopt_timeout,
                    f"v{turn + 2}",
                )
            )
        return rows


def measure(
    cluster: Any,
    namespaces: list[str],
    n: int,
    shards: int,
    moving: list[tuple[str, str]],
    idle_seconds: float,
    adopt_timeout: float,
    version: str,
) -> dict[str, float]:
    from deploymentgate_devkit.testing import OperatorProcess

    print(f"  {shards} operator(s):")
    logs = Path(tempfile.mkdtemp(prefix="dg-scale-"))
    # Sharding by namespace: each operator watches every `shards`-th namespace.
    operators = [
        OperatorProcess(
            cluster.kubeconfig,
            logs / f"operator-{i}.log",
            namespaces=namespaces[i::shards],
            tick=1.0,
        )
        for i in range(shards)
    ]
    try:
        for operator in operators:
            operator.start(timeout=120)
        pids = [op.proc.pid for op in operators if op.proc is not None]
        began = time.monotonic()
        poll = max(2.0, n / 2000)  # a list of 10,000 gates is not free either
        # Adopted: every gate settled (Idle, or Promoted after an earlier turn's
        # rollout), and every gate had a pass of these operators.
        while True:
            counts = phases(cluster)
            settled = sum(counts.get(phase, 0) for phase in SETTLED)
            if settled >= n and reconciles(operators) >= n:
                break
            if time.monotonic() - began > adopt_timeout:
                print(f"  not all adopted within {adopt_timeout:.0f}s: {counts}")
                break
            print(f"    {time.monotonic() - began:.0f}s: {counts} ({load()})", flush=True)
            time.sleep(poll)
        adopted = time.monotonic() - began
        peak = sum(rss_mib(pid, "VmHWM") for pid in pids)
        cpu = sum(cpu_seconds(pid) for pid in pids)
        print(
            f"    all {n} gates settled after {adopted:.0f}s ({cpu:.0f} s of operator CPU),"
            f" peak RSS {peak:.0f} MiB ({load()})"
        )
        # The last gates to settle still have a pass due (after a write, a gate
        # looks once more before it sleeps): the idle window starts once the
        # operators' pass counter has stood still, and reads it at its edges.
        tail, tail_passes = quiet(operators)
        print(f"    follow-up passes after the last gate settled: {tail_passes:.0f} in {tail:.0f}s")
        before, deployments = versions(cluster), deployment_versions(cluster)
        passes, by_cause = reconciles(operators), causes(operators)
        idle = measure_all(pids, idle_seconds)
        idle_passes = (reconciles(operators) - passes) / idle_seconds
        idle_causes = since(by_cause, causes(operators))
        writes = sum(1 for k, v in versions(cluster).items() if before.get(k) != v)
        moved = sum(1 for k, v in deployment_versions(cluster).items() if deployments.get(k) != v)
        for i, (cores, mib) in enumerate(idle):
            print(
                f"    operator {i} idle for {idle_seconds:.0f}s: {cores:.3f} cores,"
                f" {mib:.0f} MiB ({load()})"
            )
        print(f"    idle: {idle_passes:.2f} reconcile passes/s, {writes} gates written")
        print(f"    idle passes by cause: {idle_causes or 'none'}")
        print(f"    Deployments written meanwhile (by anyone): {moved}")
        run_all(lambda ns=ns, name=name: ship(cluster, ns, name, version) for ns, name in moving)
        busy = measure_all(pids, idle_seconds)
        print(
            f"    {len(moving)} rollouts in progress for {idle_seconds:.0f}s:"
            + ", ".join(f" {c:.3f} cores {m:.0f} MiB" for c, m in busy)
            + f" ({load()}); phases now {phases(cluster)}"
        )
    finally:
        for operator in operators:
            operator.stop()
    return {
        "gates": n,
        "shards": shards,
        "adopt_s": adopted,
        "adopt_cpu": cpu,
        "peak_mib": peak,
        "idle_cores": sum(c for c, _ in idle),
        "idle_mib": sum(m for _, m in idle),
        "idle_passes": idle_passes,
        "idle_writes": writes,
        "busy_cores": sum(c for c, _ in busy),
        "busy_mib": sum(m for _, m in busy),
        "load": os.getloadavg()[0],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--gates", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--rollouts", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each measurement")
    parser.add_argument("--adopt-timeout", type=float, default=600.0)
    parser.add_argument(
        "--shards",
        type=int,
        nargs="+",
        default=[1],
        help="operators, namespaces split; several (1 2) measure each in turn on one cluster",
    )
    args = parser.parse_args(argv)
    # A stopped bench still stops its operators and cluster (the finally blocks run).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30
    print(f"machine: {os.cpu_count()} cores, {memory:.0f} GiB")
    rows = []
    for n in args.gates:
        print(f"{n} gates:")
        rollouts = min(args.rollouts, n // len(args.shards))
        rows += bench(n, rollouts, args.seconds, args.adopt_timeout, args.shards)
    print()
    print("$ " + shlex.join(["bench/scale.py", *(argv if argv is not None else sys.argv[1:])]))
    print(
        f"{'gates':>6} {'shards':>6} {'adopted':>8} {'CPU s':>6} {'peak MiB':>9}"
        f" {'idle cores':>11} {'idle MiB':>9} {'KiB/gate':>9} {'+KiB/gate':>10}"
        f" {'passes/s':>9} {'writes':>7} {'busy cores':>11} {'busy MiB':>9} {'load':>5}"
    )
    # +KiB/gate: the marginal cost, from the previous N measured with as many shards
    previous: dict[float, dict[str, float]] = {}
    for row in sorted(rows, key=lambda r: (r["shards"], r["gates"])):
        per_gate = row["idle_mib"] * 1024 / row["gates"]
        last = previous.get(row["shards"])
        marginal = (
            f"{(row['idle_mib'] - last['idle_mib']) * 1024 / (row['gates'] - last['gates']):>10.1f}"
            if last is not None and row["gates"] > last["gates"]
            else f"{'-':>10}"
        )
        previous[row["shards"]] = row
        print(
            f"{row['gates']:>6.0f} {row['shards']:>6.0f} {row['adopt_s']:>7.0f}s"
            f" {row['adopt_cpu']:>6.0f} {row['peak_mib']:>9.0f} {row['idle_cores']:>11.3f}"
            f" {row['idle_mib']:>9.0f} {per_gate:>9.1f} {marginal}"
            f" {row['idle_passes']:>9.2f} {row['idle_writes']:>7.0f}"
            f" {row['busy_cores']:>11.3f} {row['busy_mib']:>9.0f} {row['load']:>5.1f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
