"""`deploymentgate demo [--keep | --down]`: a gated rollout promoted and a bad one reverted."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="show a gated rollout promoted and a bad one rolled back, on a local cluster",
        description="Start a local cluster, deploy the reference chat backend behind a "
        "DeploymentGate, send it user traffic, roll out a healthy version (verified and "
        "promoted step by step) and a version with 8% errors (rolled back). Exits 0 only "
        "if both outcomes happened; stops everything it started unless --keep.",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--keep",
        action="store_true",
        help="leave the cluster and the operator running afterwards, and print how to use them",
    )
    mode.add_argument("--down", action="store_true", help="stop a demo started earlier with --keep")
    parser.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="where a kept demo lives (default .cache/demo); only with --keep/--down",
    )
    parser.add_argument(
        "--rate", type=float, default=30.0, help="user requests per second (default 30)"
    )
    parser.add_argument(
        "--router",
        choices=("replicas", "gatewayAPI"),
        default="replicas",
        help="replicas (default: the share of ready pods) or gatewayAPI (HTTPRoute weights"
        " through a real gateway, Traefik, on loopback; `make traefik` builds it)",
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from deploymentgate_devkit.demo.run import DemoOptions, run_demo, run_down

    if args.rate <= 0:
        print("deploymentgate demo: --rate must be positive")
        return 2
    if args.router == "gatewayAPI" and (args.keep or args.down):
        # Traefik runs as a child of this process; a kept cluster would lose it.
        print("deploymentgate demo: --router gatewayAPI runs without --keep/--down only")
        return 2
    if args.router == "gatewayAPI" and (missing := _missing_gateway()):
        # Said before a cluster starts: `make demo` builds the replica demo's tools only.
        print(
            "deploymentgate demo: --router gatewayAPI needs Traefik, which `make demo` does"
            f" not build; missing: {', '.join(missing)}.\n"
            "Build it once with `make traefik` (cluster/build.sh traefik; Go, several"
            " minutes), or run `make demo-gateway`, which builds it and runs this demo."
        )
        return 2
    options = DemoOptions(keep=args.keep, workdir=args.dir, rate=args.rate, router=args.router)
    if args.down:
        return run_down(options)
    return run_demo(options)


def _missing_gateway() -> list[str]:
    """What the gateway demo needs from cluster/build.sh's traefik group and lacks."""
    from deploymentgate_devkit.sandbox.binaries import bin_dir
    from deploymentgate_devkit.sandbox.gateway import crd_dir

    missing = []
    traefik = bin_dir() / "traefik"
    if not os.access(traefik, os.X_OK):
        missing.append(str(traefik))
    if not (crd_dir() / "VERSION").is_file():
        missing.append(f"the Gateway API CRDs in {crd_dir()}")
    return missing
