"""`kubectl gate <verb>`: one documented API write (or read) per verb.

kubectl finds `kubectl-gate` on PATH and hands it every argument after
`gate`; kubectl's own global flags are not passed on, so the plugin takes
-n/--namespace, --kubeconfig and --context itself (KUBECONFIG is honoured).

Verbs and the RBAC each needs (the chart's ClusterRole
<release>-deploymentgate-approver grants them):

  approve <gate> --role R   get deploymentgates; create gateapprovals
                            (plus SelfSubjectReview, which every
                            authenticated user may create)
  get [gate] [-w]           list (or get) deploymentgates, read only; -w polls
                            every second and prints a line per change
  status <gate> [-w]        read only: get deploymentgates; list deployments,
                            pods and events in the gate's namespace (the
                            default `view` role plus the chart's aggregated
                            <release>-deploymentgate-view grant all four);
                            -w polls every second and redraws on change
  abort <gate>              get, patch deploymentgates; update deploymentgates/abort
  retry <gate>              get, patch deploymentgates; update deploymentgates/retry
  promote <gate> [--full]   get, patch deploymentgates; update deploymentgates/promote
                            (<release>-deploymentgate-abort|retry|promote)

abort, retry and promote each write one annotation on the gate,
rollout.deploymentgate.dev/<verb>: <revision>/<token> (a merge patch); the chart's
admission policy deploymentgates-commands.rollout.deploymentgate.dev admits it only from someone
allowed the verb, for the revision under test. The operator acts on each once.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from deploymentgate.core.commands import Verb
from deploymentgate.plugin.session import PluginError, Session


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kubectl gate",
        description="Work with DeploymentGates: list them, sign off, abort, retry, promote.",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-n", "--namespace", help="namespace (default: the context's)")
    common.add_argument("--kubeconfig", help="kubeconfig file (default: KUBECONFIG, ~/.kube)")
    common.add_argument("--context", help="kubeconfig context")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", required=True)

    approve = sub.add_parser(
        "approve",
        parents=[common],
        help="sign off the revision a gate has under test, as one role",
        description="Create a GateApproval for the gate's current revision, as you (the user"
        " the API server authenticates). Admission refuses it unless the gate's"
        " spec.approvals gives you the role.",
    )
    approve.add_argument("gate", help="the DeploymentGate")
    approve.add_argument("--role", required=True, help="the role you sign off as, e.g. qa")
    approve.add_argument(
        "--revision", help="the revision you mean to sign off (refused if not under test)"
    )
    approve.set_defaults(func=_approve)

    get = sub.add_parser(
        "get",
        parents=[common],
        help="list gates: phase, revision, weight, probes, sign-offs",
    )
    get.add_argument("gate", nargs="?", help="only this gate")
    get.add_argument(
        "-w", "--watch", action="store_true", help="then print a line per gate that changes"
    )
    get.set_defaults(func=_get)

    status = sub.add_parser(
        "status",
        parents=[common],
        help="one gate as a tree: revisions, Deployments, pods, probes, events",
    )
    status.add_argument("gate", help="the DeploymentGate")
    status.add_argument(
        "-w", "--watch", action="store_true", help="redraw whenever anything shown changes"
    )
    status.set_defaults(func=_status)

    requests = (
        (Verb.ABORT, "roll the revision under test back now (RolledBack, trigger aborted)"),
        (Verb.RETRY, "verify a rolled-back or blocked revision again, without a spec edit"),
        (Verb.PROMOTE, "skip the rest of the current step of a verified revision"),
    )
    for verb, text in requests:
        cmd = sub.add_parser(verb.value, parents=[common], help=text, description=text)
        cmd.add_argument("gate", help="the DeploymentGate")
        cmd.add_argument(
            "--revision", help="the revision you mean (refused if it is not the one under test)"
        )
        cmd.add_argument(
            "--timeout",
            type=float,
            default=30.0,
            help="seconds to wait for the operator to act (default 30)",
        )
        if verb is Verb.PROMOTE:
            cmd.add_argument(
                "--full", action="store_true", help="skip every remaining step: promote now"
            )
        cmd.set_defaults(func=_request, verb=verb)
    return parser


def _approve(args: argparse.Namespace) -> int:
    from deploymentgate.plugin.approve import approve

    session = Session.connect(args.kubeconfig, args.context, args.namespace)
    print(approve(session, args.gate, args.role, revision=args.revision))
    return 0


def _get(args: argparse.Namespace) -> int:
    from deploymentgate.plugin.get import get, watch

    session = Session.connect(args.kubeconfig, args.context, args.namespace)
    if args.watch:
        watch(session, args.gate)
    else:
        print(get(session, args.gate))
    return 0


def _status(args: argparse.Namespace) -> int:
    from deploymentgate.plugin.status import status, watch

    session = Session.connect(args.kubeconfig, args.context, args.namespace)
    if args.watch:
        watch(session, args.gate)
    else:
        print(status(session, args.gate))
    return 0


def _request(args: argparse.Namespace) -> int:
    from deploymentgate.plugin.commands import request

    verb = Verb.PROMOTE_FULL if getattr(args, "full", False) else args.verb
    session = Session.connect(args.kubeconfig, args.context, args.namespace)
    print(request(session, args.gate, verb, revision=args.revision, timeout=args.timeout))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except PluginError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    raise SystemExit(main())
