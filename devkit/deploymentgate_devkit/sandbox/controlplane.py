"""etcd, kube-apiserver and kube-controller-manager on loopback, as child processes.

No kube-scheduler (the simulated nodes bind their pods) and no kubelet or
kube-proxy (see node.py and proxy.py). Flag choices that matter are commented
where they are made.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import ssl
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from deploymentgate_devkit.sandbox import processes
from deploymentgate_devkit.sandbox.kubeapi import client_ssl_context
from deploymentgate_devkit.sandbox.kubeconfig import render_kubeconfig, write_private
from deploymentgate_devkit.sandbox.pki import ClusterPki
from deploymentgate_devkit.sandbox.ports import LOOPBACK

SERVICE_CIDR = "10.96.0.0/16"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"

# Only what Deployments, ReplicaSets, Jobs, namespaces, service accounts, RBAC
# aggregation, garbage collection, HorizontalPodAutoscalers and
# PodDisruptionBudgets need (teams ship both with their Deployments, and an HPA's
# minReplicas/maxReplicas change the replicas a gate sees). endpointslice/endpoints
# controllers are off on purpose: they cannot publish loopback pod IPs (see slices.py).
CONTROLLERS = (
    "deployment-controller",
    "replicaset-controller",
    "job-controller",
    "garbage-collector-controller",
    "namespace-controller",
    "serviceaccount-controller",
    "serviceaccount-token-controller",
    "root-ca-certificate-publisher-controller",
    "clusterrole-aggregation-controller",
    # No metrics API here (no metrics-server): an HPA's metrics stay unknown, but
    # the controller enforces minReplicas/maxReplicas before it reads any metric.
    "horizontal-pod-autoscaler-controller",
    "disruption-controller",
)


@dataclass(frozen=True)
class ControlPlaneConfig:
    workdir: Path
    bin_dir: Path
    pki: ClusterPki
    etcd_client_port: int
    etcd_peer_port: int
    apiserver_port: int

    @property
    def api_url(self) -> str:
        return f"https://{LOOPBACK}:{self.apiserver_port}"

    @property
    def etcd_url(self) -> str:
        return f"http://{LOOPBACK}:{self.etcd_client_port}"

    @property
    def logs_dir(self) -> Path:
        return self.workdir / "logs"


def etcd_args(cfg: ControlPlaneConfig) -> list[str]:
    peer = f"http://{LOOPBACK}:{cfg.etcd_peer_port}"
    return [
        str(cfg.bin_dir / "etcd"),
        "--name=sandbox",
        f"--data-dir={cfg.workdir / 'etcd'}",
        f"--listen-client-urls={cfg.etcd_url}",
        f"--advertise-client-urls={cfg.etcd_url}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=sandbox={peer}",
        "--initial-cluster-state=new",
        "--unsafe-no-fsync",  # a throwaway cluster: durability buys nothing, fsync costs seconds
        "--log-level=warn",
    ]


def apiserver_args(cfg: ControlPlaneConfig) -> list[str]:
    pki = cfg.pki
    return [
        str(cfg.bin_dir / "kube-apiserver"),
        f"--etcd-servers={cfg.etcd_url}",
        f"--bind-address={LOOPBACK}",
        f"--advertise-address={LOOPBACK}",
        f"--secure-port={cfg.apiserver_port}",
        f"--tls-cert-file={pki.apiserver_cert}",
        f"--tls-private-key-file={pki.apiserver_key}",
        f"--client-ca-file={pki.ca_cert}",
        f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
        f"--service-account-key-file={pki.service_account_pub}",
        f"--service-account-signing-key-file={pki.service_account_key}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--authorization-mode=RBAC",
        # The 'kubernetes' Service would get 127.0.0.1 endpoints, which validation rejects.
        "--endpoint-reconciler-type=none",
        # Priority-and-fairness bootstraps its config objects at start-up; tests don't need it.
        "--enable-priority-and-fairness=false",
        f"--kubelet-certificate-authority={pki.ca_cert}",
        f"--kubelet-client-certificate={pki.kubelet_client_cert}",
        f"--kubelet-client-key={pki.kubelet_client_key}",
        "--kubelet-preferred-address-types=InternalIP",
        "--allow-privileged=true",
        "--profiling=false",
        "--v=0",
    ]


def controller_manager_args(cfg: ControlPlaneConfig, kubeconfig: Path) -> list[str]:
    pki = cfg.pki
    return [
        str(cfg.bin_dir / "kube-controller-manager"),
        f"--kubeconfig={kubeconfig}",
        f"--bind-address={LOOPBACK}",
        "--secure-port=0",  # no serving endpoint: one port fewer to allocate and leak
        "--leader-elect=false",
        f"--controllers={','.join(CONTROLLERS)}",
        "--use-service-account-credentials=true",
        f"--service-account-private-key-file={pki.service_account_key}",
        f"--root-ca-file={pki.ca_cert}",
        "--kube-api-qps=200",
        "--kube-api-burst=400",
        "--concurrent-deployment-syncs=10",
        "--concurrent-replicaset-syncs=10",
        "--concurrent-gc-syncs=20",
        "--concurrent-namespace-syncs=10",
        # A new HPA or a spec change is acted on at once, but anything else waits
        # for the HPA's next pass, one per period (15s by default): a target
        # scaled outside minReplicas..maxReplicas (kubectl scale, a rollout tool)
        # and the status.currentReplicas that follows a rescale. 5s keeps a test's
        # wait for those short, at the cost of one pass per HPA every 5s.
        "--horizontal-pod-autoscaler-sync-period=5s",
        "--profiling=false",
        "--v=0",
    ]


class ComponentFailed(RuntimeError):
    pass


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class ControlPlane:
    """Owns the three processes; start() returns at once, wait_ready() blocks until serving."""

    def __init__(self, cfg: ControlPlaneConfig, env: Mapping[str, str]) -> None:
        self.cfg = cfg
        self.env = dict(env)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        # Set while the kube-apiserver is down on purpose (an outage for tests):
        # its exit is then not a failure of the control plane.
        self.apiserver_stopped = False

    def log_path(self, name: str) -> Path:
        return self.cfg.logs_dir / f"{name}.log"

    def start(self) -> None:
        # All three at once: the apiserver retries etcd and the controller manager
        # retries the apiserver, so no start-up step waits for another.
        cfg = self.cfg
        kubeconfig = write_private(
            cfg.workdir / "controller-manager.kubeconfig",
            render_kubeconfig(
                cfg.api_url,
                cfg.pki.ca_cert.read_bytes(),
                "system:kube-controller-manager",
                client_cert_pem=cfg.pki.controller_manager_cert.read_bytes(),
                client_key_pem=cfg.pki.controller_manager_key.read_bytes(),
            ),
        )
        for name, argv in (
            ("etcd", etcd_args(cfg)),
            ("kube-apiserver", apiserver_args(cfg)),
            ("kube-controller-manager", controller_manager_args(cfg, kubeconfig)),
        ):
            self.procs[name] = processes.spawn(
                argv, env=self.env, log_path=self.log_path(name), cwd=cfg.workdir
            )

    def stop_apiserver(self, grace: float = 2.0) -> None:
        """Stop the kube-apiserver alone, as an outage does: clients get "connection
        refused" until start_apiserver(); etcd keeps every object."""
        self.apiserver_stopped = True
        proc = self.procs.get("kube-apiserver")
        if proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                processes.stop(proc, grace=grace)

    def start_apiserver(self) -> subprocess.Popen[bytes]:
        """Start it again on the same address and etcd; wait_ready() says when it serves."""
        proc = processes.spawn(
            apiserver_args(self.cfg),
            env=self.env,
            log_path=self.log_path("kube-apiserver"),
            cwd=self.cfg.workdir,
        )
        self.procs["kube-apiserver"] = proc
        self.apiserver_stopped = False
        return proc

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if name == "kube-apiserver" and self.apiserver_stopped:
                continue
            if proc.poll() is not None:
                raise ComponentFailed(
                    f"{name} exited with {proc.returncode}; last log lines:\n"
                    + log_tail(self.log_path(name))
                )

    async def wait_ready(self, timeout: float) -> None:
        """Poll /readyz until it answers 200; fail fast if a component dies."""
        context: ssl.SSLContext = client_ssl_context(
            self.cfg.pki.ca_cert, self.cfg.pki.admin_cert, self.cfg.pki.admin_key
        )
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        async with httpx.AsyncClient(verify=context, timeout=2.0) as http:
            while time.monotonic() < deadline:
                self.check_alive()
                try:
                    response = await http.get(f"{self.cfg.api_url}/readyz")
                    if response.status_code == 200:
                        return
                    last = f"{response.status_code}: {response.text[-300:]}"
                except httpx.HTTPError as exc:
                    last = str(exc) or type(exc).__name__
                await asyncio.sleep(0.1)
        raise ComponentFailed(f"kube-apiserver not ready after {timeout:.0f}s ({last})")

    def stop(self) -> None:
        """Controller manager first, etcd last, each SIGTERM then SIGKILL."""
        for name in ("kube-controller-manager", "kube-apiserver", "etcd"):
            proc = self.procs.get(name)
            if proc is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    processes.stop(proc, grace=5.0)
        for proc in self.procs.values():
            processes.signal_group(proc.pid, signal.SIGKILL)
