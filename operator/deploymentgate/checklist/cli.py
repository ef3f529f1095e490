"""``deploymentgate check -f gate.yaml --url http://127.0.0.1:8000 [-- ./run-server ...]``

Runs the gate's probes once against a service outside Kubernetes (a CI job,
a laptop) and prints the checklist. After ``--``, the command that starts the
service: check starts it, so the startup probe watches it from its first
phase, and stops it at the end (checklist.service). Exit codes: 0 every check
passed, 1 a check failed, had no data, or the service exited before the end,
2 the gate file or the command line is wrong.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from collections.abc import Coroutine
from typing import Any
from urllib.parse import urlsplit

from deploymentgate.checklist.gate_file import GateFile, GateFileError, load_gate_file
from deploymentgate.checklist.report import ServiceExit, all_passed, render_json, render_text
from deploymentgate.checklist.service import ServiceError, run_with_service
from deploymentgate.models import GateSpec
from deploymentgate.observations import ProbeKind, ProbeObservation
from deploymentgate.probe_kinds import by_name, descriptor
from deploymentgate.probe_kinds import kinds as probe_kinds
from deploymentgate.probes.runner import PrometheusContext, configured_probes, run_gate_probes
from deploymentgate.probes.urls import probe_url, redact

EXIT_PASSED, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "check",
        help="run a gate's probes against a running service and print the checklist",
        usage=(
            "deploymentgate check -f FILE [-f FILE ...] --url URL [options] [-- COMMAND [ARG ...]]"
        ),
        description=(
            "Run the probes a DeploymentGate declares against a service running outside "
            "Kubernetes. After `--`, the command that starts the service: check starts it "
            "once its probes are watching, so the startup probe sees every phase, and stops "
            "it (its process group) at the end; its output goes to stderr. Exit 0 if every "
            "check passed, 1 if one failed or had no data or the service exited before the "
            "end, 2 for a bad gate file or usage."
        ),
    )
    parser.add_argument(
        "-f",
        "--file",
        required=True,
        action="append",
        help=(
            "DeploymentGate YAML (or just its spec); repeat it for files of the "
            "(Cluster)MetricCheckTemplates its checks name (they may also sit beside "
            "the gate in its file)"
        ),
    )
    parser.add_argument(
        "--url", required=True, help="where the service listens, e.g. http://127.0.0.1:8000"
    )
    parser.add_argument("--json", action="store_true", help="print a machine-readable report")
    parser.add_argument(
        "--only",
        metavar="LIST",
        help=f"comma-separated subset: {','.join(_names())}",
    )
    parser.add_argument(
        "--gate-ports",
        action="store_true",
        help="use the probes' `port` fields instead of the port in --url",
    )
    parser.add_argument("--namespace", default="", help="{namespace} in a Prometheus query")
    parser.add_argument("--revision", default=None, help="{revision} in a Prometheus query")
    # The words after `--`: the main entry splits them off (deploymentgate.cli).
    parser.set_defaults(func=run, service=None)


def run(args: argparse.Namespace) -> int:
    if args.service == []:
        return _usage("nothing after `--`: name the command that starts the service")
    try:
        gate = load_gate_file(*args.file)
    except GateFileError as exc:
        print(f"deploymentgate check: invalid gate file\n{exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        probe_url(args.url, "/")
    except ValueError as exc:
        return _usage(f"--url: {exc}")
    configured = configured_probes(gate.spec)
    include = configured
    if args.only:
        try:
            include = _parse_only(args.only)
        except ValueError as exc:
            return _usage(str(exc))
        absent = [k.value for k in include if k not in configured]
        if absent:
            return _usage(f"--only: the gate does not configure {', '.join(absent)}")
    if not include:
        return _usage("the gate configures no probes")
    service: ServiceExit | None = None
    if args.service is None:
        observations = asyncio.run(_probes(args, gate, include))
    else:
        try:
            observations, service = _with_service(args, gate, include)
        except ServiceError as exc:
            return _usage(str(exc))
        except asyncio.CancelledError:
            print("deploymentgate check: stopped by SIGTERM, the service too", file=sys.stderr)
            return 128 + signal.SIGTERM
    if args.json:
        report = render_json(observations, gate=gate.name, url=args.url, service=service)
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        print(render_text(observations, gate=gate.name, url=args.url, service=service))
    return EXIT_PASSED if all_passed(observations, service) else EXIT_FAILED


def _probes(
    args: argparse.Namespace, gate: GateFile, include: list[ProbeKind]
) -> Coroutine[Any, Any, list[ProbeObservation]]:
    return run_gate_probes(
        gate.spec,
        args.url,
        include=include,
        honor_ports=args.gate_ports,
        target=redact(args.url),
        revision=args.revision,
        prometheus=PrometheusContext(
            namespace=args.namespace, revision=args.revision, templates=gate.template
        ),
    )


def _with_service(
    args: argparse.Namespace, gate: GateFile, include: list[ProbeKind]
) -> tuple[list[ProbeObservation], ServiceExit | None]:
    """The probes against the service `args.service` starts. They run one kind at a
    time, so that what they saw before the service exited is still reported."""
    kinds = [k for k in configured_probes(gate.spec) if k in include]
    observations: list[ProbeObservation] = []

    async def probe() -> None:
        for kind in kinds:
            observations.extend(await _probes(args, gate, [kind]))

    address = _address(gate.spec, kinds[0], args.url, args.gate_ports)
    watch_start = kinds[0] is ProbeKind.STARTUP
    code = asyncio.run(run_with_service(args.service, address, probe, watch_start=watch_start))
    return observations, None if code is None else ServiceExit(tuple(args.service), code)


def _address(spec: GateSpec, kind: ProbeKind, url: str, gate_ports: bool) -> tuple[str, int]:
    """Where the first probe finds the service: --url's host and port, or with
    --gate-ports the probe's own `port`."""
    port = getattr(descriptor(kind).section(spec), "port", None) if gate_ports else None
    parts = urlsplit(probe_url(url, "/", port))
    default = 443 if parts.scheme in ("https", "wss") else 80
    return parts.hostname or "", parts.port or default


def _names() -> list[str]:
    """The probes `--only` takes, by their names (the registry's, in run order)."""
    return [kind.kind.value for kind in probe_kinds() if kind.runs]


def _parse_only(raw: str) -> list[ProbeKind]:
    kinds: list[ProbeKind] = []
    for name in (part.strip() for part in raw.split(",")):
        if not name:
            continue
        found = by_name(name)
        if found is None:
            raise ValueError(f"--only: unknown probe {name!r} (use {', '.join(_names())})")
        if found.kind not in kinds:
            kinds.append(found.kind)
    if not kinds:
        raise ValueError("--only: name at least one probe")
    return kinds


def _usage(message: str) -> int:
    print(f"deploymentgate check: {message}", file=sys.stderr)
    return EXIT_USAGE
