"""``deploymentgate sandbox up|down|status``: a long-lived sandbox for demos and hands-on work."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from deploymentgate_devkit.sandbox.binaries import MissingBinariesError, repo_root
from deploymentgate_devkit.sandbox.client import Sandbox, SandboxError
from deploymentgate_devkit.sandbox.processes import pid_alive
from deploymentgate_devkit.sandbox.state import SandboxState, clear_workdir

DIR_ENV = "DEPLOYMENTGATE_SANDBOX_DIR"


def default_dir() -> Path:
    override = os.environ.get(DIR_ENV)
    return Path(override).expanduser() if override else repo_root() / ".cache" / "sandbox"


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "sandbox",
        help="run a local Kubernetes sandbox (real control plane, simulated nodes)",
        description="A real kube-apiserver, etcd and kube-controller-manager on loopback, "
        "with simulated nodes that run pods as local processes and a service proxy.",
    )
    parser.add_argument(
        "--dir",
        type=Path,
        default=None,
        help=f"sandbox directory (default ${DIR_ENV} or .cache/sandbox)",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    up = actions.add_parser(
        "up", help="start in the background; prints export lines for your shell"
    )
    up.add_argument("--nodes", type=int, default=2)
    up.add_argument("--timeout", type=float, default=120.0)
    up.set_defaults(func=run_up)
    down = actions.add_parser("down", help="stop it and wait until every process and port is gone")
    down.set_defaults(func=run_down)
    status = actions.add_parser("status", help="what runs and where")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(func=run_status)


def _dir(args: argparse.Namespace) -> Path:
    return (args.dir or default_dir()).resolve()


def _exports(sandbox: Sandbox) -> str:
    path = f"{sandbox.bin_dir}:$PATH"
    return f'export KUBECONFIG={shlex.quote(str(sandbox.kubeconfig))}\nexport PATH="{path}"\n'


def run_up(args: argparse.Namespace) -> int:
    workdir = _dir(args)
    running = Sandbox.attach(workdir)
    if running is not None:
        print(f"# sandbox already running in {workdir} (api {running.api_url})", file=sys.stderr)
        sys.stdout.write(_exports(running))
        return 0
    workdir.mkdir(parents=True, exist_ok=True)
    clear_workdir(workdir)
    try:
        sandbox = Sandbox.start(workdir, nodes=args.nodes, timeout=args.timeout, detach=True)
    except (SandboxError, MissingBinariesError) as exc:
        print(f"deploymentgate sandbox up: {exc}", file=sys.stderr)
        return 1
    seconds = sandbox.state.ready_seconds
    print(
        f"# sandbox ready in {seconds}s: api {sandbox.api_url}, logs in {workdir}",
        file=sys.stderr,
    )
    print('# use it: eval "$(deploymentgate sandbox up)"', file=sys.stderr)
    sys.stdout.write(_exports(sandbox))
    return 0


def run_down(args: argparse.Namespace) -> int:
    workdir = _dir(args)
    sandbox = Sandbox.attach(workdir)
    if sandbox is None:
        print(f"no sandbox running in {workdir}")
        return 0
    report = sandbox.stop()
    if not report.clean:
        print(f"sandbox stopped, but not cleanly:\n{report.describe()}", file=sys.stderr)
        return 1
    print(f"sandbox {sandbox.sandbox_id} stopped; no process or port left")
    return 0


def _pod_phases(sandbox: Sandbox) -> dict[str, int]:
    try:
        pods = sandbox.request("GET", "/api/v1/pods").get("items") or []
    except (SandboxError, OSError):
        return {}
    return dict(Counter(str((p.get("status") or {}).get("phase", "Unknown")) for p in pods))


def run_status(args: argparse.Namespace) -> int:
    workdir = _dir(args)
    sandbox = Sandbox.attach(workdir)
    if sandbox is None:
        stale = SandboxState.load(workdir)
        note = f" (stale state: {stale.status})" if stale is not None else ""
        print(f"no sandbox running in {workdir}{note}")
        return 1
    state = sandbox.state
    phases = _pod_phases(sandbox)
    if args.json:
        json.dump({"state": state.__dict__, "pods": phases}, sys.stdout, indent=2, default=str)
        print()
        return 0
    print(f"sandbox {state.sandbox_id}: {state.status} (supervisor pid {state.supervisor_pid})")
    print(f"  api        {state.api_url}")
    print(f"  kubeconfig {state.kubeconfig}")
    print(f"  tools      {state.bin_dir}")
    for name, info in state.components.items():
        alive = "running" if pid_alive(int(info["pid"])) else "DEAD"
        ports = ",".join(str(p) for p in info.get("ports", [])) or "-"
        print(f"  {name:<24} pid {info['pid']:<7} {alive:<8} ports {ports}")
    print(f"  nodes      {', '.join(state.nodes)} (pod IPs 127.{state.address_block}.x.y)")
    total = sum(phases.values())
    detail = ", ".join(f"{n} {phase}" for phase, n in sorted(phases.items()))
    print(f"  pods       {total}" + (f" ({detail})" if detail else ""))
    if state.services:
        print("  service proxies:")
        for service, listeners in state.services.items():
            for port, address in sorted(listeners.items(), key=lambda item: int(item[0])):
                print(f"    {service}:{port} -> {address}")
    else:
        print("  service proxies: none")
    return 0
