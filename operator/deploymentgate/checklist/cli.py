"""``deploymentgate check -f gate.yaml --url http://127.0.0.1:8000``

Runs the gate's probes once against a service outside Kubernetes (a CI job,
a laptop) and prints the checklist. Exit codes: 0 every check passed, 1 a
check failed or had no data, 2 the gate file or the command line is wrong.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from deploymentgate.checklist.gate_file import GateFileError, load_gate_file
from deploymentgate.checklist.report import all_passed, render_json, render_text
from deploymentgate.observations import ProbeKind
from deploymentgate.probe_kinds import by_name
from deploymentgate.probe_kinds import kinds as probe_kinds
from deploymentgate.probes.runner import PrometheusContext, configured_probes, run_gate_probes
from deploymentgate.probes.urls import probe_url, redact

EXIT_PASSED, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "check",
        help="run a gate's probes against a running service and print the checklist",
        description=(
            "Run the probes a DeploymentGate declares against a service running outside "
            "Kubernetes. Start the service right before the check so the startup probe "
            "sees its phases. Exit 0 if every check passed, 1 if one failed or had no "
            "data, 2 for a bad gate file or usage."
        ),
    )
    parser.add_argument(
        "-f", "--file", required=True, help="DeploymentGate YAML (or just its spec)"
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
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        gate = load_gate_file(args.file)
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
    observations = asyncio.run(
        run_gate_probes(
            gate.spec,
            args.url,
            include=include,
            honor_ports=args.gate_ports,
            target=redact(args.url),
            revision=args.revision,
            prometheus=PrometheusContext(namespace=args.namespace, revision=args.revision),
        )
    )
    if args.json:
        report = render_json(observations, gate=gate.name, url=args.url)
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        print(render_text(observations, gate=gate.name, url=args.url))
    return EXIT_PASSED if all_passed(observations) else EXIT_FAILED


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
