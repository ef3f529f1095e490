"""How the operator's cost grows with the number of gates (issue 13, goal 1).

    .venv/bin/python bench/scale.py                    # 100, 1,000 and 10,000 gates
    .venv/bin/python bench/scale.py --gates 1000 --rollouts 20
    .venv/bin/python bench/scale.py --gates 10000 --shards 2   # two operators, namespaces split

For each N it starts a fresh local cluster, creates N Deployments (0 replicas),
N Services and N gates spread over namespaces of 500, starts one operator
(`deploymentgate run`, as in production), and prints:

- how long until every gate is Idle (adopted),
- the operator's CPU (cores) and RSS over an idle minute,
- the same while M rollouts are in progress (M Deployments get a new template),
- the cost per gate, so the curve over N shows whether it stays flat.

CPU is read from /proc (utime + stime of the operator process), RSS from
/proc/<pid>/status. Runs for minutes; it is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CRD = ROOT / "deploy" / "crds" / "deploymentgates.rollout.deploymentgate.dev.yaml"
GATES_PATH = "/apis/rollout.deploymentgate.dev/v1alpha1"
PER_NAMESPACE = 500
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


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def measure_all(pids: list[int], seconds: float) -> list[tuple[float, float]]:
    """`measure` for several processes over the same interval."""
    start = time.monotonic()
    cpu = [cpu_seconds(pid) for pid in pids]
    peaks = [rss_mib(pid) for pid in pids]
    while time.monotonic() - start < seconds:
        time.sleep(1.0)
        peaks = [max(p, rss_mib(pid)) for p, pid in zip(peaks, pids, strict=True)]
    elapsed = time.monotonic() - start
    return [
        ((cpu_seconds(pid) - c) / elapsed, p) for pid, c, p in zip(pids, cpu, peaks, strict=True)
    ]


def run_all(jobs: Iterable[Callable[[], object]], workers: int = 16) -> None:
    with ThreadPoolExecutor(workers) as pool:
        for future in [pool.submit(job) for job in jobs]:
            future.result()


def phases(cluster: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    items = cluster.request("GET", f"{GATES_PATH}/deploymentgates")["items"]
    for item in items:
        phase = (item.get("status") or {}).get("phase") or "-"
        counts[phase] = counts.get(phase, 0) + 1
    return counts


def bench(
    n: int, rollouts: int, idle_seconds: float, adopt_timeout: float, shards: int = 1
) -> dict[str, float]:
    from deploymentgate.sandbox import Sandbox
    from deploymentgate.testing import OperatorProcess

    with Sandbox.start(nodes=1) as cluster:
        cluster.kubectl("apply", "--server-side", "-f", str(CRD))
        cluster.kubectl(
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/deploymentgates.rollout.deploymentgate.dev",
        )
        namespaces = [cluster.create_namespace() for _ in range((n - 1) // PER_NAMESPACE + 1)]
        names = [(namespaces[i // PER_NAMESPACE], f"app{i}") for i in range(n)]
        began = time.monotonic()

        def create(ns: str, name: str) -> None:
            cluster.request(
                "POST", f"/apis/apps/v1/namespaces/{ns}/deployments", json=deployment(name)
            )
            cluster.request("POST", f"/api/v1/namespaces/{ns}/services", json=service(name))
            cluster.request(
                "POST", f"{GATES_PATH}/namespaces/{ns}/deploymentgates", json=gate(name)
            )

        run_all(lambda ns=ns, name=name: create(ns, name) for ns, name in names)
        print(f"  created {n} Deployments, Services and gates in {time.monotonic() - began:.0f}s")
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
                operator.start()
            pids = [op.proc.pid for op in operators if op.proc is not None]
            began = time.monotonic()
            while True:
                counts = phases(cluster)
                if counts.get("Idle", 0) >= n:
                    break
                if time.monotonic() - began > adopt_timeout:
                    print(f"  not all adopted within {adopt_timeout:.0f}s: {counts}")
                    break
                if int(time.monotonic() - began) % 30 < 2:
                    print(f"  {time.monotonic() - began:.0f}s: {counts}", flush=True)
                time.sleep(2.0)
            adopted = time.monotonic() - began
            rss = " + ".join(f"{rss_mib(pid):.0f}" for pid in pids)
            print(f"  all {n} gates Idle after {adopted:.0f}s (RSS {rss} MiB)")
            time.sleep(5.0)
            idle = measure_all(pids, idle_seconds)
            for i, (cores, mib) in enumerate(idle):
                print(
                    f"  operator {i} idle for {idle_seconds:.0f}s: {cores:.3f} cores, {mib:.0f} MiB"
                )
            moving = names[:rollouts]

            def ship(ns: str, name: str) -> None:
                patch = {
                    "spec": {
                        "template": {
                            "spec": {
                                "containers": [
                                    {"name": "app", "env": [{"name": "APP_VERSION", "value": "v2"}]}
                                ]
                            }
                        }
                    }
                }
                cluster.request(
                    "PATCH",
                    f"/apis/apps/v1/namespaces/{ns}/deployments/{name}",
                    json=patch,
                    content_type="application/strategic-merge-patch+json",
                )

            run_all(lambda ns=ns, name=name: ship(ns, name) for ns, name in moving)
            busy = measure_all(pids, idle_seconds)
            print(
                f"  {rollouts} rollouts in progress for {idle_seconds:.0f}s:"
                + ", ".join(f" {c:.3f} cores {m:.0f} MiB" for c, m in busy)
                + f"; phases now {phases(cluster)}"
            )
        finally:
            for operator in operators:
                operator.stop()
        idle_cpu, idle_rss = sum(c for c, _ in idle), sum(m for _, m in idle)
        busy_cpu, busy_rss = sum(c for c, _ in busy), sum(m for _, m in busy)
        return {
            "gates": n,
            "adopt_s": adopted,
            "idle_cores": idle_cpu,
            "idle_mib": idle_rss,
            "busy_cores": busy_cpu,
            "busy_mib": busy_rss,
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--gates", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--rollouts", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each measurement")
    parser.add_argument("--adopt-timeout", type=float, default=600.0)
    parser.add_argument("--shards", type=int, default=1, help="operators, namespaces split")
    args = parser.parse_args(argv)
    # A stopped bench still stops its operators and cluster (the finally blocks run).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30
    print(f"machine: {os.cpu_count()} cores, {memory:.0f} GiB")
    rows = []
    for n in args.gates:
        print(f"{n} gates:")
        rows.append(bench(n, min(args.rollouts, n), args.seconds, args.adopt_timeout, args.shards))
    print()
    print(
        f"{'gates':>6} {'adopted':>8} {'idle cores':>11} {'idle MiB':>9} {'KiB/gate':>9}"
        f" {'busy cores':>11} {'busy MiB':>9}"
    )
    for row in rows:
        per_gate = row["idle_mib"] * 1024 / row["gates"]
        print(
            f"{row['gates']:>6.0f} {row['adopt_s']:>7.0f}s {row['idle_cores']:>11.3f}"
            f" {row['idle_mib']:>9.0f} {per_gate:>9.1f} {row['busy_cores']:>11.3f}"
            f" {row['busy_mib']:>9.0f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
