"""`deploymentgate run`: start the operator."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "run",
        help="run the operator",
        description="Watch DeploymentGates and gate the rollouts of their Deployments.",
    )
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument(
        "-n",
        "--namespace",
        action="append",
        default=[],
        help="watch this namespace (repeatable; glob patterns allowed)",
    )
    scope.add_argument(
        "-A", "--all-namespaces", action="store_true", help="watch all namespaces (default)"
    )
    parser.add_argument(
        "--kubeconfig", help="kubeconfig file (default: in-cluster, then KUBECONFIG)"
    )
    parser.add_argument("--metrics-port", type=int, default=9090, help="Prometheus metrics port")
    parser.add_argument(
        "--metrics-host", default="0.0.0.0", help="address the metrics server binds to"
    )
    parser.add_argument(
        "--liveness",
        default="http://0.0.0.0:8080/healthz",
        help="liveness endpoint URL kopf serves ('' to disable)",
    )
    parser.add_argument(
        "--peering",
        default=None,
        help="kopf peering object name for HA (two replicas, one acts); default: standalone",
    )
    parser.add_argument("--priority", type=int, default=0, help="peering priority of this replica")
    parser.add_argument(
        "--tick",
        type=float,
        default=1.0,
        help="seconds between reconcile passes of a gate with a rollout in progress",
    )
    parser.add_argument(
        "--steady-interval",
        type=float,
        default=30.0,
        help="seconds between the health and WebSocket checks of an Idle or Promoted"
        " gate's stable pods (the deploymentgate_stable_check_success metric; 0: off)",
    )
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING, ERROR")
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="text (default) or json: one JSON object per line, gate fields as fields",
    )
    parser.add_argument(
        "--webhook",
        action="append",
        default=[],
        metavar="TYPE=URL",
        help="notify this webhook of every gate's transitions (TYPE slack or json; repeatable)",
    )
    parser.add_argument(
        "--webhook-from-env",
        action="append",
        default=[],
        metavar="TYPE=VAR",
        help="the same, the URL read from environment variable VAR (keeps it out of the"
        " process arguments; the chart fills VAR from a Secret)",
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from deploymentgate.controller.options import OperatorOptions
    from deploymentgate.controller.runner import run_operator

    options = OperatorOptions(
        namespaces=tuple(args.namespace),
        kubeconfig=args.kubeconfig,
        metrics_host=args.metrics_host,
        metrics_port=args.metrics_port,
        liveness=args.liveness or None,
        peering=args.peering,
        priority=args.priority,
        tick=args.tick,
        steady_interval=args.steady_interval,
        log_level=args.log_level,
        log_format=args.log_format,
        webhooks=tuple(args.webhook),
        webhooks_from_env=tuple(args.webhook_from_env),
    )
    return run_operator(options)
