"""`python -m deploymentgate_devkit.demo.keeper`: a kept demo's operator, while its cluster runs.

The operator is tied to its parent (it dies with it, even on SIGKILL), so a
kept demo gives it a parent that outlives the demo command: this keeper, in
a session of its own. The keeper stops the operator when told to (SIGTERM,
from `deploymentgate demo --down`) and also when the sandbox goes away by
any other route (`deploymentgate sandbox down`), so no operator is ever left
talking to a cluster that is gone.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from deploymentgate_devkit.sandbox.processes import pid_alive
from deploymentgate_devkit.sandbox.state import SandboxState
from deploymentgate_devkit.testing import OperatorProcess

CHECK_INTERVAL = 1.0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploymentgate_devkit.demo.keeper")
    parser.add_argument("--workdir", type=Path, required=True, help="the kept sandbox's directory")
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--tick", type=float, default=0.5)
    parser.add_argument("--ready-file", type=Path, required=True, help="written once live")
    args = parser.parse_args(argv)

    state = SandboxState.load(args.workdir)
    if state is None or state.kubeconfig is None or not pid_alive(state.supervisor_pid):
        print(f"keeper: no running sandbox in {args.workdir}", file=sys.stderr)
        return 1
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())

    operator = OperatorProcess(
        Path(state.kubeconfig),
        args.workdir / "operator.log",
        namespaces=[args.namespace],
        tick=args.tick,
    )
    try:
        operator.start()
        ready = {"pid": os.getpid(), "metrics_url": operator.metrics_url}
        tmp = args.ready_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(ready))
        os.replace(tmp, args.ready_file)
        while not stop.wait(CHECK_INTERVAL):
            if not pid_alive(state.supervisor_pid):
                print("keeper: the sandbox is gone; stopping the operator", file=sys.stderr)
                break
            if not operator.running:
                print("keeper: the operator exited", file=sys.stderr)
                return 1
    finally:
        operator.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
