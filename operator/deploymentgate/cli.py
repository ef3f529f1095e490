"""The ``deploymentgate`` command: each subcommand lives in its own module.

Subcommand modules are imported lazily so that ``deploymentgate check`` does
not pay for kopf, and a broken optional piece cannot break the others.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

# subcommand name -> module exposing add_parser(subparsers) that sets `func`.
COMMANDS: dict[str, str] = {
    "run": "deploymentgate.controller.cli",
    "check": "deploymentgate.checklist.cli",
    "sandbox": "deploymentgate_devkit.sandbox.cli",
    "demo": "deploymentgate_devkit.demo.cli",
}
# The distribution that carries the local cluster and the demo; the operator
# image and a plain install of `deploymentgate` leave it out (devkit/).
DEVKIT = "deploymentgate-devkit"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="deploymentgate",
        description="Gate Kubernetes rollouts on startup, health and WebSocket verification.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name is None or not module_name.startswith(exc.name):
                raise
            stub = sub.add_parser(name, help=f"(not in this install: needs {DEVKIT})")
            # Whatever follows is accepted (see main), so the answer is this message.
            stub.add_argument("rest", nargs="*", help=argparse.SUPPRESS)
            stub.set_defaults(func=_unavailable(name), unavailable=True)
            continue
        module.add_parser(sub)
    return parser


def _unavailable(name: str) -> Callable[[argparse.Namespace], int]:
    def run(_: argparse.Namespace) -> int:
        print(
            f"deploymentgate {name}: not part of this install. The local cluster and the demo"
            f" ship in the {DEVKIT} distribution, which the operator image leaves out;"
            " in a checkout, `make demo` (or `make venv`) installs it.",
            file=sys.stderr,
        )
        return 2

    return run


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    # `check ... -- ./run-server --port 8000`: the words after the first `--` are a
    # command, never options; split here, as argparse's handling of `--` varies by
    # Python version. A subcommand takes them by declaring a `service` default.
    service = None
    if "--" in argv:
        at = argv.index("--")
        argv, service = argv[:at], argv[at + 1 :]
    args, unknown = parser.parse_known_args(argv)
    unavailable = getattr(args, "unavailable", False)
    if service is not None and not unavailable:
        if not hasattr(args, "service"):
            unknown += ["--", *service]
        args.service = service
    if unknown and not unavailable:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    return int(func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
