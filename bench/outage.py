"""What the operator does while the API server is gone (issue 13, goal 6).

    .venv/bin/python bench/outage.py                         # 300 gates, a 60 s outage
    .venv/bin/python bench/outage.py --gates 1000 --outage 300 --rollouts 3

Starts a fresh local cluster with N idle gates (each adopting a Deployment at
0 replicas, as bench/scale.py does) and M gates with a rollout of the reference
chat app in flight (M real Deployments of 2 replicas, steps 25/50/100). Once
every rollout is past its verification, it stops the kube-apiserver for the
given time (etcd, the controllers, the pods and their traffic keep running),
then starts it again, and prints:

- the operator's log during the outage: lines, bytes, the most lines about
  one gate, and lines per minute;
- its CPU (cores) during the outage, against a minute before it;
- after the API server's return: how long until every gate had written its
  status again, and until every rollout was Promoted, each step taken once.

CPU is read from /proc (utime + stime of the operator process). Runs for
minutes; it is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scale import (  # a sibling script, not a package
    GATES_PATH,
    cpu_seconds,
    create_idle,
    idle_names,
    install_crd,
    rss_mib,
    run_all,
)

from deploymentgate_devkit.testing import manifests

STEPS = (25, 50, 100)
TERMINAL = {"Promoted", "RolledBack", "Blocked", "Invalid"}


def gates(cluster: Any) -> list[dict[str, Any]]:
    return list(cluster.request("GET", f"{GATES_PATH}/deploymentgates")["items"])


def phases(items: list[dict[str, Any]]) -> Counter[str]:
    return Counter((g.get("status") or {}).get("phase") or "-" for g in items)


def wait(what: str, predicate: Any, timeout: float, interval: float = 1.0) -> float:
    """Seconds until predicate() is true; exits the bench if it never is."""
    began = time.monotonic()
    while True:
        try:
            if predicate():
                return time.monotonic() - began
        except Exception:  # the API server coming back: not yet
            pass
        if time.monotonic() - began > timeout:
            raise SystemExit(f"{what}: not within {timeout:.0f}s")
        time.sleep(interval)


RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")  # a record's first line
GATE_REF = re.compile(r"\b(t-[0-9a-f]{8})/([a-z0-9-]+)\b")


def log_figures(text: str, keys: set[tuple[str, str]], seconds: float) -> dict[str, float]:
    """Lines (tracebacks included), records, bytes, and the most records about one gate."""
    lines = text.splitlines()
    per_gate: Counter[tuple[str, str]] = Counter()
    records = 0
    for line in lines:
        if not RECORD.match(line):
            continue
        records += 1
        for found in {m for m in GATE_REF.findall(line) if m in keys}:
            per_gate[found] += 1
    return {
        "lines": len(lines),
        "records": records,
        "bytes": len(text.encode()),
        "per_minute": len(lines) * 60 / seconds,
        "max_per_gate": max(per_gate.values(), default=0),
        "gates_named": len(per_gate),
    }


def bench(n: int, rollouts: int, outage: float, tick: float) -> dict[str, float]:
    from deploymentgate_devkit.sandbox import Sandbox
    from deploymentgate_devkit.testing import OperatorProcess

    with Sandbox.start(nodes=1) as cluster:
        install_crd(cluster)
        namespaces, idle = idle_names(cluster, n)
        moving = [(cluster.create_namespace(), "chat") for _ in range(rollouts)]

        def create_moving(ns: str, name: str) -> None:
            spec = manifests.fast_gate_spec(name, steps=STEPS, step_duration="20s")
            spec["traffic"]["progressDeadline"] = "10m"
            cluster.request(
                "POST",
                f"/apis/apps/v1/namespaces/{ns}/deployments",
                json=manifests.chat_deployment(name, version="v1", replicas=2),
            )
            cluster.request(
                "POST", f"/api/v1/namespaces/{ns}/services", json=manifests.chat_service(name)
            )
            cluster.request(
                "POST",
                f"{GATES_PATH}/namespaces/{ns}/deploymentgates",
                json=manifests.gate(name, spec),
            )

        began = time.monotonic()
        run_all(lambda ns=ns, name=name: create_idle(cluster, ns, name) for ns, name in idle)
        run_all(lambda ns=ns, name=name: create_moving(ns, name) for ns, name in moving)
        print(f"  created {n} idle and {rollouts} moving gates in {time.monotonic() - began:.0f}s")
        log_path = Path(tempfile.mkdtemp(prefix="dg-outage-")) / "operator.log"
        operator = OperatorProcess(
            cluster.kubeconfig,
            log_path,
            namespaces=[*namespaces, *(ns for ns, _ in moving)],
            tick=tick,
        )
        try:
            operator.start()
            assert operator.proc is not None
            pid = operator.proc.pid
            total = n + rollouts
            adopted = wait(
                "every gate Idle", lambda: phases(gates(cluster))["Idle"] >= total, 900, 2.0
            )
            print(f"  all {total} gates Idle after {adopted:.0f}s (RSS {rss_mib(pid):.0f} MiB)")

            time.sleep(5.0)
            cpu_before, t0 = cpu_seconds(pid), time.monotonic()
            time.sleep(30)
            baseline = (cpu_seconds(pid) - cpu_before) / (time.monotonic() - t0)
            for ns, name in moving:
                cluster.request(
                    "PATCH",
                    f"/apis/apps/v1/namespaces/{ns}/deployments/{name}",
                    json={
                        "spec": {
                            "template": {
                                "spec": {
                                    "containers": [
                                        {
                                            "name": "chat",
                                            "env": [{"name": "APP_VERSION", "value": "v2"}],
                                        }
                                    ]
                                }
                            }
                        }
                    },
                    content_type="application/strategic-merge-patch+json",
                )

            def all_progressing() -> bool:
                items = [g for g in gates(cluster) if g["metadata"]["name"] == "chat"]
                return all((g.get("status") or {}).get("phase") == "Progressing" for g in items)

            shipped = wait("every rollout Progressing", all_progressing, 300, 0.5)
            print(f"  {rollouts} rollouts Progressing {shipped:.0f}s after their template change")
            before_status = {
                (g["metadata"]["namespace"], g["metadata"]["name"]): g.get("status") or {}
                for g in gates(cluster)
            }

            offset = log_path.stat().st_size
            cpu_before, t0 = cpu_seconds(pid), time.monotonic()
            cluster.stop_apiserver()
            print(f"  kube-apiserver stopped for {outage:.0f}s", flush=True)
            time.sleep(outage)
            cpu_outage = (cpu_seconds(pid) - cpu_before) / (time.monotonic() - t0)
            elapsed = time.monotonic() - t0
            with open(log_path, "rb") as log:
                log.seek(offset)
                during = log.read().decode(errors="replace")
            figures = log_figures(during, {*idle, *moving}, elapsed)
            cluster.start_apiserver()
            back = time.monotonic()
            print(
                f"  kube-apiserver serving again ({time.monotonic() - t0 - elapsed:.1f}s to start)"
            )

            def moved(item: dict[str, Any]) -> bool:
                key = (item["metadata"]["namespace"], item["metadata"]["name"])
                now, old = item.get("status") or {}, before_status.get(key) or {}
                return now.get("phase") in TERMINAL or now != old

            resumed = wait(
                "every rollout moved again",
                lambda: all(moved(g) for g in gates(cluster) if g["metadata"]["name"] == "chat"),
                600,
                0.5,
            )
            promoted = wait(
                "every rollout finished",
                lambda: all(
                    (g.get("status") or {}).get("phase") in TERMINAL
                    for g in gates(cluster)
                    if g["metadata"]["name"] == "chat"
                ),
                600,
            )
            ends = phases([g for g in gates(cluster) if g["metadata"]["name"] == "chat"])
            steps_ok = all(
                [
                    h["message"].split("%", 1)[0]
                    for h in (g.get("status") or {}).get("history", [])
                    if h["reason"] == "TrafficShifted"
                ]
                == [str(s) for s in STEPS]
                for g in gates(cluster)
                if g["metadata"]["name"] == "chat"
            )
            tail = log_path.read_text(errors="replace")[offset:]
            said = [line for line in tail.splitlines() if "API server answers again" in line]
        finally:
            operator.stop()
        sample = "\n".join(f"    | {line[:200]}" for line in during.splitlines()[:12])
        print(f"  first lines of the outage's log:\n{sample}")
        print(
            f"  during the outage ({elapsed:.0f}s): {figures['lines']:.0f} log lines"
            f" ({figures['records']:.0f} records),"
            f" {figures['bytes'] / 1024:.1f} KiB ({figures['per_minute']:.0f} lines/min),"
            f" at most {figures['max_per_gate']:.0f} records about one gate"
            f" ({figures['gates_named']:.0f} gates named); CPU {cpu_outage:.3f} cores"
            f" (idle before: {baseline:.3f})"
        )
        print(f"  the operator said: {said[0].split(': ', 1)[-1] if said else '(nothing)'}")
        print(
            f"  after its return: every rollout moved within {resumed:.0f}s, all finished within"
            f" {resumed + promoted:.0f}s: {dict(ends)}; each step once: {steps_ok};"
            f" traceback in the log: {'Traceback' in tail}"
        )
        return {
            "gates": n,
            "rollouts": rollouts,
            "outage_s": elapsed,
            "lines": figures["lines"],
            "kib": figures["bytes"] / 1024,
            "max_per_gate": figures["max_per_gate"],
            "cores": cpu_outage,
            "baseline": baseline,
            "resumed_s": resumed,
            "finished_s": resumed + promoted,
            "since_back": time.monotonic() - back,
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--gates", type=int, nargs="+", default=[300])
    parser.add_argument("--rollouts", type=int, default=3)
    parser.add_argument("--outage", type=float, default=60.0, help="seconds without API server")
    parser.add_argument("--tick", type=float, default=1.0, help="the operator's --tick")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30
    print(f"machine: {os.cpu_count()} cores, {memory:.0f} GiB; load {os.getloadavg()[0]:.1f}")
    rows = []
    for n in args.gates:
        print(f"{n} idle gates, {args.rollouts} rollouts, {args.outage:.0f}s outage:")
        rows.append(bench(n, args.rollouts, args.outage, args.tick))
    print()
    print(
        f"{'gates':>6} {'outage':>7} {'lines':>6} {'KiB':>7} {'max/gate':>9} {'cores':>6}"
        f" {'before':>7} {'resumed':>8} {'finished':>9}"
    )
    for r in rows:
        print(
            f"{r['gates'] + r['rollouts']:>6.0f} {r['outage_s']:>6.0f}s {r['lines']:>6.0f}"
            f" {r['kib']:>7.1f} {r['max_per_gate']:>9.0f} {r['cores']:>6.3f}"
            f" {r['baseline']:>7.3f} {r['resumed_s']:>7.0f}s {r['finished_s']:>8.0f}s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
