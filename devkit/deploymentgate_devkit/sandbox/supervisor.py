"""The sandbox's long-running process: control plane, simulated nodes and service proxy.

``deploymentgate sandbox up`` and ``Sandbox.start()`` both run this module as a
child process, so tests and the CLI share one code path. It ends, taking every
child with it, on SIGTERM/SIGINT/SIGHUP, when its lifeline (stdin, held open by
the parent) reaches EOF because the parent died, or when a component dies.

SIGUSR1 stops the kube-apiserver alone (an API outage: etcd, the controllers,
the nodes and their pods keep running) and SIGUSR2 starts it again on the same
address and etcd; ``state.apiserver`` says where that stands.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import shutil
import signal
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

from deploymentgate_devkit.sandbox import processes
from deploymentgate_devkit.sandbox.addresses import AddressPool, BlockClaim, claim_block
from deploymentgate_devkit.sandbox.binaries import bin_dir as default_bin_dir
from deploymentgate_devkit.sandbox.binaries import require_tools
from deploymentgate_devkit.sandbox.controlplane import ControlPlane, ControlPlaneConfig
from deploymentgate_devkit.sandbox.events import EventRecorder
from deploymentgate_devkit.sandbox.kubeapi import ApiError, Informer, KubeApi
from deploymentgate_devkit.sandbox.kubeconfig import render_kubeconfig, write_private
from deploymentgate_devkit.sandbox.kubeletapi import KubeletApi
from deploymentgate_devkit.sandbox.node import SimulatedNodes
from deploymentgate_devkit.sandbox.pki import ClusterPki, create_cluster_pki
from deploymentgate_devkit.sandbox.pods import NodeRuntime
from deploymentgate_devkit.sandbox.ports import LOOPBACK, free_ports
from deploymentgate_devkit.sandbox.proxy import ServiceProxy
from deploymentgate_devkit.sandbox.slicecontroller import EndpointSliceController
from deploymentgate_devkit.sandbox.state import MARKER_ENV, SandboxState, keep_workdir

log = logging.getLogger("deploymentgate_devkit.sandbox")

READY_TIMEOUT = 90.0
PASS_THROUGH_ENV = (
    "HOME",
    "LANG",
    "LC_ALL",
    "TZ",
    "TMPDIR",
    "USER",
    "LOGNAME",
    "VIRTUAL_ENV",
    "PYTHONPATH",
    "SSL_CERT_FILE",
)


def pod_base_env(bin_dir: Path) -> dict[str, str]:
    """A clean environment for pod processes: no proxies, no host KUBECONFIG, our tools first."""
    env = {k: os.environ[k] for k in PASS_THROUGH_ENV if k in os.environ}
    env.update({k: v for k, v in os.environ.items() if k.startswith("DEPLOYMENTGATE_")})
    path = [str(bin_dir), str(Path(sys.executable).parent), os.environ.get("PATH", os.defpath)]
    env["PATH"] = os.pathsep.join(path)
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Supervisor:
    def __init__(
        self, workdir: Path, *, nodes: int, lifeline: bool, remove_workdir: bool, bin_dir: Path
    ) -> None:
        self.workdir = workdir
        self.node_count = nodes
        self.lifeline = lifeline
        self.remove_workdir = remove_workdir
        self.bin_dir = bin_dir
        sandbox_id = os.environ.get(MARKER_ENV) or uuid.uuid4().hex[:12]
        os.environ[MARKER_ENV] = sandbox_id  # inherited by every child
        self.state = SandboxState(
            sandbox_id=sandbox_id,
            workdir=str(workdir),
            supervisor_pid=os.getpid(),
            bin_dir=str(bin_dir),
            started_at=time.time(),
        )
        self.stop_requested = asyncio.Event()
        self.control_plane: ControlPlane | None = None
        self.block: BlockClaim | None = None
        self.api: KubeApi | None = None
        self.probe_http: httpx.AsyncClient | None = None
        self.nodes: SimulatedNodes | None = None
        self.proxy: ServiceProxy | None = None
        self.events: EventRecorder | None = None
        self.kubelet: KubeletApi | None = None
        self.tasks: list[asyncio.Task[None]] = []
        self.orphaned = False
        self.apiserver_lock = asyncio.Lock()
        self.procs_changed = asyncio.Event()  # a component was replaced: watch the new one

    def save(self) -> None:
        if self.proxy is not None:
            self.state.services = self.proxy.addresses()
            for address in self.state.services.values():
                for hostport in address.values():
                    host, _, port = hostport.rpartition(":")
                    self.state.add_ports(host, [int(port)])
        self.state.save()

    def _install_stop_triggers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.add_signal_handler(sig, self.stop_requested.set)
        for sig, running in ((signal.SIGUSR1, False), (signal.SIGUSR2, True)):
            loop.add_signal_handler(sig, self._on_apiserver_signal, running)
        if self.lifeline:

            def on_lifeline() -> None:
                try:
                    data = os.read(0, 4096)
                except OSError:
                    data = b""
                if not data:
                    log.info("lifeline closed: the parent is gone")
                    self.orphaned = True
                    loop.remove_reader(0)
                    self.stop_requested.set()

            loop.add_reader(0, on_lifeline)

    async def run(self) -> int:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.save()
        self._install_stop_triggers()
        code = 0
        try:
            started = time.monotonic()
            startup = asyncio.ensure_future(asyncio.wait_for(self._start(), READY_TIMEOUT))
            stop = asyncio.ensure_future(self.stop_requested.wait())
            await asyncio.wait({startup, stop}, return_when=asyncio.FIRST_COMPLETED)
            if not startup.done():
                startup.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await startup
                self.state.status = "stopping"
                return 0
            startup.result()
            self.state.status = "ready"
            self.state.ready_seconds = round(time.monotonic() - started, 2)
            self.save()
            log.info("sandbox ready in %.1fs at %s", self.state.ready_seconds, self.state.api_url)
            await self._wait_for_stop()
            stop.cancel()
        except Exception as exc:
            log.exception("sandbox failed")
            self.state.status = "failed"
            self.state.error = str(exc)
            code = 1
        finally:
            failed = self.state.status == "failed"
            if not failed:
                self.state.status = "stopping"
            with contextlib.suppress(OSError):
                self.save()
            await self._shutdown()
            if not failed:
                self.state.status = "stopped"
            if self.remove_workdir and self.orphaned and not keep_workdir(failed):
                shutil.rmtree(self.workdir, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    self.save()
        return code

    async def _wait_for_stop(self) -> None:
        """Until asked to stop, or until a control plane process dies (then fail).

        A kube-apiserver stopped on purpose (SIGUSR1) is not a death; the one
        started again (SIGUSR2) is watched from then on.
        """
        control_plane = self.control_plane
        assert control_plane is not None
        loop = asyncio.get_running_loop()
        stop = loop.create_task(self.stop_requested.wait())
        try:
            while True:
                self.procs_changed.clear()
                watchers = [
                    loop.create_task(processes.wait_exit(proc))
                    for name, proc in control_plane.procs.items()
                    if not (name == "kube-apiserver" and control_plane.apiserver_stopped)
                ]
                swapped = loop.create_task(self.procs_changed.wait())
                done, _ = await asyncio.wait(
                    {stop, swapped, *watchers}, return_when=asyncio.FIRST_COMPLETED
                )
                for task in (swapped, *watchers):
                    task.cancel()
                if stop in done:
                    return
                control_plane.check_alive()  # raises ComponentFailed with the log tail
        finally:
            stop.cancel()

    def _on_apiserver_signal(self, running: bool) -> None:
        task = asyncio.get_running_loop().create_task(self._set_apiserver(running))
        self.tasks.append(task)

    async def _set_apiserver(self, running: bool) -> None:
        """Stop or start the kube-apiserver; state.apiserver ends "stopped" or "running"."""
        async with self.apiserver_lock:
            control_plane = self.control_plane
            if control_plane is None or self.state.status != "ready":
                log.warning("kube-apiserver stop/start ignored: sandbox is %s", self.state.status)
                return
            if running != control_plane.apiserver_stopped:
                return  # already so
            component = self.state.components["kube-apiserver"]
            if not running:
                log.info("stopping kube-apiserver (an outage on request)")
                await asyncio.to_thread(control_plane.stop_apiserver)
                self.state.apiserver = "stopped"
                self.save()
                return
            log.info("starting kube-apiserver again")
            self.state.apiserver = "starting"
            proc = control_plane.start_apiserver()  # spawned from this (the main) thread
            component["pid"] = proc.pid
            self.procs_changed.set()
            self.save()
            try:
                await control_plane.wait_ready(READY_TIMEOUT)
            except Exception as exc:  # the process watch fails the sandbox if it died
                log.exception("kube-apiserver did not come back")
                self.state.apiserver = "failed"
                self.state.error = str(exc)
            else:
                self.state.apiserver = "running"
                log.info("kube-apiserver serving again")
            self.save()

    async def _start(self) -> None:
        require_tools(directory=self.bin_dir)
        self.block = claim_block()
        self.state.address_block = self.block.block
        pki = create_cluster_pki(self.workdir / "pki")
        etcd_client, etcd_peer, apiserver = free_ports(3)
        cfg = ControlPlaneConfig(self.workdir, self.bin_dir, pki, etcd_client, etcd_peer, apiserver)
        self.control_plane = ControlPlane(cfg, os.environ)
        self.control_plane.start()
        self.state.api_url = cfg.api_url
        self.state.ca_file = str(pki.ca_cert)
        self.state.kubeconfig = str(self._write_admin_kubeconfig(pki, cfg.api_url))
        self.state.components = {
            name: {"pid": proc.pid, "log": str(self.control_plane.log_path(name))}
            for name, proc in self.control_plane.procs.items()
        }
        self.state.components["etcd"]["ports"] = [etcd_client, etcd_peer]
        self.state.components["kube-apiserver"]["ports"] = [apiserver]
        self.state.add_ports(LOOPBACK, [etcd_client, etcd_peer, apiserver])
        self.save()
        await self.control_plane.wait_ready(READY_TIMEOUT)
        await self._start_node_side(pki, cfg.api_url)

    def _write_admin_kubeconfig(self, pki: ClusterPki, api_url: str) -> Path:
        return write_private(
            self.workdir / "admin.kubeconfig",
            render_kubeconfig(
                api_url,
                pki.ca_cert.read_bytes(),
                "sandbox-admin",
                client_cert_pem=pki.admin_cert.read_bytes(),
                client_key_pem=pki.admin_key.read_bytes(),
            ),
        )

    async def _start_node_side(self, pki: ClusterPki, api_url: str) -> None:
        assert self.block is not None
        self.api = api = KubeApi(api_url, pki.ca_cert, pki.node_cert, pki.node_key)
        self.events = EventRecorder(api)
        self.probe_http = httpx.AsyncClient(verify=False, trust_env=False, follow_redirects=False)
        runtime = NodeRuntime(
            api=api,
            pool=AddressPool(self.block.block),
            pods_dir=self.workdir / "pods",
            python=sys.executable,
            base_env=pod_base_env(self.bin_dir),
            http=self.probe_http,
            events=self.events,
            api_url=api_url,
            ca_pem=pki.ca_cert.read_bytes(),
            on_ports=self._on_pod_ports,
        )
        names = [f"sandbox-node-{i + 1}" for i in range(self.node_count)]
        self.kubelet = KubeletApi(
            runtime.pods_dir, pki, lambda ns, name: self._pod_running(ns, name)
        )
        kubelet_port = await self.kubelet.start()
        self.state.components["kubelet-api"] = {"pid": os.getpid(), "ports": [kubelet_port]}
        self.state.add_ports(LOOPBACK, [kubelet_port])
        self.nodes = SimulatedNodes(runtime, names, kubelet_port)
        pods = Informer(api, "/api/v1/pods", name="pods")
        services = Informer(api, "/api/v1/services", name="services")
        slices = Informer(api, "/apis/discovery.k8s.io/v1/endpointslices", name="endpointslices")
        pods.add_handler(self.nodes.on_pod)
        controller = EndpointSliceController(services, pods, slices)
        self.proxy = ServiceProxy(services, slices, self.save)
        runtime.routed = self.proxy.routes_to
        await self.nodes.register()
        self.state.nodes = names
        loop = asyncio.get_running_loop()
        for coro in (pods.run(), services.run(), slices.run(), controller.run(), self.proxy.run()):
            self.tasks.append(loop.create_task(coro))
        await asyncio.gather(pods.synced.wait(), services.synced.wait(), slices.synced.wait())
        await self._wait_default_service_account(api)

    def _pod_running(self, namespace: str, name: str) -> bool:
        return self.nodes is not None and self.nodes.running(namespace, name)

    def _on_pod_ports(self, ip: str, ports: tuple[int, ...]) -> None:
        if self.state.add_ports(ip, list(ports)):
            self.save()

    async def _wait_default_service_account(self, api: KubeApi) -> None:
        """Pods cannot be created in a namespace before its default ServiceAccount exists."""
        while True:
            try:
                await api.get("/api/v1/namespaces/default/serviceaccounts/default")
                return
            except ApiError as exc:
                if exc.status != 404:
                    raise
            assert self.control_plane is not None
            self.control_plane.check_alive()
            await asyncio.sleep(0.1)

    async def _shutdown(self) -> None:
        """Each step on its own: one failing must not keep the next from running."""
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        nodes, events = self.nodes, self.events
        steps: list[tuple[str, Callable[[], Awaitable[object]] | None]] = [
            ("service proxy", self.proxy.close if self.proxy else None),
            ("kubelet api", self.kubelet.stop if self.kubelet else None),
            ("pods", (lambda: nodes.shutdown(grace=1.0)) if nodes else None),
            ("events", (lambda: events.drain(0.5)) if events else None),
            ("api client", self.api.close if self.api else None),
            ("probe client", self.probe_http.aclose if self.probe_http else None),
        ]
        for name, step in steps:
            if step is not None:
                try:
                    await step()
                except Exception:
                    log.exception("shutdown: stopping %s failed", name)
        if self.control_plane is not None:
            self.control_plane.stop()
        if self.block is not None:
            self.block.release()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m deploymentgate_devkit.sandbox.supervisor")
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--bin-dir", type=Path, default=None)
    parser.add_argument(
        "--lifeline", action="store_true", help="stop when stdin reaches EOF (parent died)"
    )
    parser.add_argument(
        "--remove-workdir",
        action="store_true",
        help="delete workdir on exit if the parent died (it cannot clean up any more)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    supervisor = Supervisor(
        args.workdir.resolve(),
        nodes=args.nodes,
        lifeline=args.lifeline,
        remove_workdir=args.remove_workdir,
        bin_dir=(args.bin_dir or default_bin_dir()).resolve(),
    )
    return asyncio.run(supervisor.run())


if __name__ == "__main__":
    raise SystemExit(main())
