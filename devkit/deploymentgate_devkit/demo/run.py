"""`deploymentgate demo`: start everything, tell the story, and leave nothing behind.

Without --keep the sandbox and the operator are tied to this process (they
die with it even on SIGKILL) and are stopped in order on the way out, also
on Ctrl-C, SIGTERM or a failure. With --keep both outlive the command, in
a fixed directory, until `deploymentgate demo --down`.
"""

from __future__ import annotations

import contextlib
import shlex
import signal
import sys
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from deploymentgate_devkit.demo.console import Console
from deploymentgate_devkit.demo.kept import KeptDemo, KeptOperator
from deploymentgate_devkit.demo.scenario import (
    APP,
    BAD_VERSION,
    GOOD_VERSION,
    NAMESPACE,
    DemoFailure,
    OperatorHandle,
    Outcome,
    Scenario,
    release_patch,
)
from deploymentgate_devkit.demo.traffic import UserTraffic
from deploymentgate_devkit.demo.traffic_stats import TrafficStats
from deploymentgate_devkit.sandbox import MissingBinariesError, Sandbox, SandboxError
from deploymentgate_devkit.sandbox.binaries import repo_root
from deploymentgate_devkit.sandbox.gateway import GatewayInfo
from deploymentgate_devkit.sandbox.state import clear_workdir
from deploymentgate_devkit.testing import OperatorProcess

CRD_FILE = Path("deploy/crds/deploymentgates.rollout.deploymentgate.dev.yaml")
CRD_NAME = "deploymentgates.rollout.deploymentgate.dev"
OPERATOR_TICK = 0.5
LOG_TAIL_LINES = 40


@dataclass(frozen=True)
class DemoOptions:
    keep: bool = False
    workdir: Path | None = None  # --keep only; default .cache/demo
    rate: float = 30.0  # user requests per second
    window: float = 5.0  # seconds of user traffic the live error rate covers
    nodes: int = 2
    router: str = "replicas"  # or "gatewayAPI": users go through a real gateway

    @property
    def gateway(self) -> bool:
        return self.router == "gatewayAPI"


def kept_dir(options: DemoOptions) -> Path:
    return (options.workdir or repo_root() / ".cache" / "demo").resolve()


@contextlib.contextmanager
def _interruptible() -> Iterator[None]:
    """Ctrl-C, SIGTERM and SIGHUP end the demo through the cleanup.

    SIGINT gets a handler of our own too: a process started in the background
    by a non-interactive shell (`make demo &` in a script, a CI step) begins
    with SIGINT ignored, and Python then leaves it ignored, so Ctrl-C or
    `kill -INT` would do nothing at all.
    """

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    sigs = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.signal(sig, interrupt) for sig in sigs}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def _uninterrupted() -> Iterator[None]:
    """Cleanup runs to its (bounded) end: a second Ctrl-C must not strand processes."""
    sigs = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in sigs}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class DemoRun:
    def __init__(self, options: DemoOptions, console: Console) -> None:
        self.options = options
        self.console = console
        self.stats = TrafficStats(window_seconds=options.window)
        self.sandbox: Sandbox | None = None
        self.operator: OperatorProcess | KeptOperator | None = None
        self.traffic: UserTraffic | None = None
        self.kept: KeptDemo | None = None

    def operator_handle(self) -> OperatorHandle | None:
        return self.operator

    # ---- start ---------------------------------------------------------

    def start_cluster(self) -> Sandbox:
        self.console.headline(
            "Starting a local Kubernetes cluster (real kube-apiserver, on loopback)"
        )
        began = time.monotonic()
        if self.options.keep:
            workdir = kept_dir(self.options)
            if KeptDemo.load(workdir) is not None or Sandbox.attach(workdir) is not None:
                self.console.line(f"    stopping the demo kept earlier in {workdir}")
                take_down(workdir, self.console)
            workdir.mkdir(parents=True, exist_ok=True)
            clear_workdir(workdir)
            self.sandbox = Sandbox.start(workdir, nodes=self.options.nodes, detach=True)
        else:
            self.sandbox = Sandbox.start(nodes=self.options.nodes)
        self.console.line(
            f"    api {self.sandbox.api_url}, {self.options.nodes} simulated nodes,"
            f" ready in {time.monotonic() - began:.1f}s"
        )
        return self.sandbox

    def install_crd(self, scenario: Scenario) -> None:
        self.console.headline("Installing the DeploymentGate CRD")
        path = repo_root() / CRD_FILE
        if path.exists():
            text = path.read_text()
        else:  # an installed package without the repository: the same CRD, from the models
            from deploymentgate.manifests.crdgen import render

            text = render()
        scenario.kubectl(
            "apply",
            "--server-side",
            "-f",
            "-",
            input=text,
            shown=f"kubectl apply --server-side -f {CRD_FILE}",
        )
        scenario.kubectl(
            "wait", "--for", "condition=established", f"crd/{CRD_NAME}", "--timeout=30s"
        )

    def start_operator(self, sandbox: Sandbox) -> None:
        self.console.headline("Starting the operator, watching namespace demo")
        self.console.command(
            f"deploymentgate run --kubeconfig $KUBECONFIG --namespace {NAMESPACE}"
            f" --tick {OPERATOR_TICK}"
        )
        if self.options.keep:
            kept_operator = KeptOperator.spawn(
                sandbox.workdir, namespace=NAMESPACE, tick=OPERATOR_TICK
            )
            self.operator = kept_operator
            self.kept = KeptDemo(
                operator_pid=kept_operator.pid,
                operator_marker=kept_operator.marker,
                metrics_url="",
                operator_log=str(kept_operator.log_path),
                namespace=NAMESPACE,
            )
            self.kept.save(sandbox.workdir)  # before waiting: --down must find it even then
            kept_operator.wait_live()
            self.kept.metrics_url = kept_operator.metrics_url
            self.kept.save(sandbox.workdir)
        else:
            self.operator = OperatorProcess(
                sandbox.kubeconfig,
                sandbox.workdir / "operator.log",
                namespaces=[NAMESPACE],
                tick=OPERATOR_TICK,
            ).start()
        self.console.line(f"    metrics at {self.operator.metrics_url}")

    def start_gateway(self, sandbox: Sandbox) -> GatewayInfo:
        self.console.headline(
            "Starting the gateway: Traefik (Gateway API implementation) on loopback"
        )
        began = time.monotonic()
        info = sandbox.start_gateway()
        self.console.line(
            f"    {info.url}, GatewayClass {info.gateway_class} accepted,"
            f" ready in {time.monotonic() - began:.1f}s"
        )
        return info

    def start_traffic(self, sandbox: Sandbox, gateway: GatewayInfo | None = None) -> None:
        if gateway is not None:
            host, port = gateway.host, gateway.port
            self.console.headline(
                f"Sending {self.options.rate:g} user requests/s through the gateway at"
                f" {host}:{port} (HTTPRoute {APP})"
            )
        else:
            host, port = sandbox.service_address(NAMESPACE, APP, 80)
            self.console.headline(
                f"Sending {self.options.rate:g} user requests/s to Service {APP}"
                f" (via the service proxy at {host}:{port})"
            )
        self.console.line(
            "    each progress line: time, gate phase, step, traffic weight, probe verdicts,"
        )
        self.console.line(
            f"    and what users saw in the last {self.options.window:g}s, per version"
        )
        self.traffic = UserTraffic((host, port), self.stats, rate=self.options.rate).start()
        if self.kept is not None:
            self.kept.service_url = f"http://{host}:{port}/api/chat"
            self.kept.save(sandbox.workdir)

    # ---- the whole run -------------------------------------------------

    def run(self) -> int:
        outcomes: list[Outcome] = []
        keep_up = False
        code = 1
        try:
            with _interruptible():
                sandbox = self.start_cluster()
                gateway = self.start_gateway(sandbox) if self.options.gateway else None
                scenario = Scenario(
                    sandbox, self.console, self.stats, self.operator_handle, gateway=gateway
                )
                self.install_crd(scenario)
                scenario.deploy_app()
                self.start_operator(sandbox)
                self.start_traffic(sandbox, gateway)
                scenario.adopt()
                outcomes.append(scenario.good_rollout())
                if outcomes[-1].ok:
                    outcomes.append(scenario.bad_rollout(GOOD_VERSION))
                scenario.epilogue(self.operator)
                code = self.summarize(outcomes)
                keep_up = self.options.keep
        except DemoFailure as exc:
            self.console.headline("Demo failed")
            self.console.line(f"    {exc}")
            self.show_operator_log()
            keep_up = self.options.keep  # a kept cluster is the place to find out why
        except (SandboxError, MissingBinariesError) as exc:
            self.console.headline("The local cluster could not start")
            self.console.block(str(exc))
        except Exception as exc:  # a bug or a broken part: say what broke, then clean up
            self.console.headline("Demo failed unexpectedly")
            self.console.block("".join(traceback.format_exception(exc)[-6:]))
            self.show_operator_log()
            keep_up = self.options.keep and self.sandbox is not None
        except KeyboardInterrupt:
            self.console.line()
            self.console.line("interrupted; stopping everything the demo started")
            code = 130
        finally:
            with _uninterrupted():
                if self.traffic is not None:
                    self.traffic.stop()
                if keep_up and self.sandbox is not None:
                    self.explain_kept(self.sandbox)
                elif not self.cleanup():
                    code = code or 1
        return code

    def summarize(self, outcomes: list[Outcome]) -> int:
        self.console.headline("Result")
        for outcome in outcomes:
            self.console.line(f"  {outcome.title}:")
            for ok, text in outcome.checks:
                self.console.verdict(ok, text)
        snapshot = self.stats.snapshot(time.monotonic())
        self.console.line("  what users saw, whole run:")
        for version, answered in sorted(snapshot.totals.items()):
            failed = snapshot.total_errors.get(version, 0)
            self.console.line(f"    {version}: {answered} requests, {failed} failed")
        passed = len(outcomes) == 2 and all(o.ok for o in outcomes)
        took = self.console.elapsed()
        if passed:
            how = " by HTTPRoute weight" if self.options.gateway else ""
            self.console.line(
                f"\nDemo passed in {took:.0f}s: {GOOD_VERSION} was promoted step by step{how},"
                " and the bad version was rolled back by the error-rate trigger."
            )
            return 0
        self.console.line(f"\nDemo FAILED after {took:.0f}s (see above).")
        self.show_operator_log()
        return 1

    def show_operator_log(self) -> None:
        if self.operator is None:
            return
        tail = self.operator.log().splitlines()[-LOG_TAIL_LINES:]
        if tail:
            self.console.line(f"    last {len(tail)} lines of the operator log:")
            self.console.block("\n".join(tail), indent="      ")

    # ---- the way out ---------------------------------------------------

    def cleanup(self) -> bool:
        """Stop the operator, then the cluster; True if nothing is left running."""
        clean = True
        if self.operator is not None:
            if isinstance(self.operator, OperatorProcess):
                self.operator.stop()
            else:
                clean = self.operator.stop() and clean
        if self.sandbox is not None:
            self.console.line("Stopping the cluster ...")
            report = self.sandbox.stop()
            if report.clean:
                self.console.line("Stopped: no process or port of the demo is left.")
            else:
                self.console.line("The cluster did not stop cleanly:\n" + report.describe())
                clean = False
            if self.options.keep:
                KeptDemo.forget(self.sandbox.workdir)
        return clean

    def explain_kept(self, sandbox: Sandbox) -> None:
        self.console.headline(f"Kept running (state in {sandbox.workdir})")
        python_bin = str(Path(sys.executable).parent)
        self.console.line("Use it from your shell:")
        self.console.line(f"export KUBECONFIG={shlex.quote(str(sandbox.kubeconfig))}")
        self.console.line(f'export PATH="{sandbox.bin_dir}:{python_bin}:$PATH"')
        self.console.line("Then, for example:")
        self.console.line(f"  kubectl -n {NAMESPACE} get deploymentgates,deployments,pods")
        self.console.line(f"  kubectl -n {NAMESPACE} describe deploymentgate {APP}")
        self.console.line(
            f"  # Deployment {APP} still asks for {BAD_VERSION}'s image: the gate moved traffic"
            " back, not your manifest. Ship a fix, and watch it being gated:"
        )
        fix = release_patch("chat-backend:healthy", "v4")
        self.console.line(f"  kubectl -n {NAMESPACE} patch deployment/{APP} -p '{fix}'")
        self.console.line(f"  kubectl -n {NAMESPACE} get deploymentgate {APP} --watch")
        if self.kept is not None and self.kept.service_url:
            self.console.line(f"  curl -s {self.kept.service_url}")
        if self.kept is not None:
            self.console.line(f"  curl -s {self.kept.metrics_url}")
            self.console.line(f"  tail -f {self.kept.operator_log}")
        self.console.line("Stop it all with: deploymentgate demo --down")


def take_down(workdir: Path, console: Console) -> bool:
    """Stop a kept demo's operator and cluster; True if nothing of it is left."""
    clean = True
    kept = KeptDemo.load(workdir)
    if kept is not None:
        clean = KeptOperator.from_kept(kept).stop() and clean
    sandbox = Sandbox.attach(workdir)
    if sandbox is not None:
        report = sandbox.stop()
        if not report.clean:
            console.line("the cluster did not stop cleanly:\n" + report.describe())
            clean = False
    KeptDemo.forget(workdir)
    return clean


def run_demo(options: DemoOptions, console: Console | None = None) -> int:
    return DemoRun(options, console or Console()).run()


def run_down(options: DemoOptions, console: Console | None = None) -> int:
    console = console or Console()
    workdir = kept_dir(options)
    if KeptDemo.load(workdir) is None and Sandbox.attach(workdir) is None:
        console.line(f"no kept demo in {workdir}")
        return 0
    if take_down(workdir, console):
        console.line(f"demo in {workdir} stopped; no process or port left")
        return 0
    return 1
