"""``Sandbox``: start, use and stop a local cluster from Python (tests, the demo, the CLI)."""

from __future__ import annotations

import contextlib
import hashlib
import json as jsonlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import httpx
import yaml

from deploymentgate_devkit.sandbox import gateway as gw
from deploymentgate_devkit.sandbox import processes
from deploymentgate_devkit.sandbox.binaries import bin_dir as default_bin_dir
from deploymentgate_devkit.sandbox.binaries import require_tools
from deploymentgate_devkit.sandbox.controlplane import log_tail
from deploymentgate_devkit.sandbox.kubeapi import client_ssl_context
from deploymentgate_devkit.sandbox.kubeconfig import render_kubeconfig, write_private
from deploymentgate_devkit.sandbox.pki import cluster_pki_paths, issue, load_ca
from deploymentgate_devkit.sandbox.pods import pod_log_dir, safe_name
from deploymentgate_devkit.sandbox.ports import LOOPBACK, free_port, wait_ports_free
from deploymentgate_devkit.sandbox.state import MARKER_ENV, SandboxState
from deploymentgate_devkit.sandbox.state import keep_workdir as keep_workdir_setting

T = TypeVar("T")

START_TIMEOUT = 120.0
STOP_TIMEOUT = 30.0
SUPERVISOR_LOG = "supervisor.log"


class SandboxError(RuntimeError):
    """The sandbox could not start, or a request to it failed."""


class SandboxApiError(SandboxError):
    """The API server answered 4xx/5xx; ``status`` and ``body`` say what it said."""

    def __init__(self, status: int, method: str, path: str, body: Any) -> None:
        self.status = status
        self.body = body
        message = body.get("message") if isinstance(body, dict) else str(body)[:300]
        super().__init__(f"{method} {path}: {status} {message}")


class KubectlError(subprocess.CalledProcessError):
    """A failed kubectl call whose message includes what kubectl printed."""

    def __str__(self) -> str:
        return f"{super().__str__()}\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}"


@dataclass
class TeardownReport:
    """What survived a stop(); both lists are empty after a clean teardown."""

    leaked_processes: list[processes.ProcessInfo] = field(default_factory=list)
    busy_ports: list[tuple[str, int]] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.leaked_processes and not self.busy_ports

    def describe(self) -> str:
        lines = [f"process {p.pid} survived: {p.cmdline}" for p in self.leaked_processes]
        lines += [f"port {h}:{p} still bound" for h, p in self.busy_ports]
        return "\n".join(lines) or "clean"


def _is_supervisor(pid: int, sandbox_id: str) -> bool:
    return processes.pid_alive(pid) and any(
        p.pid == pid for p in processes.processes_with_env(MARKER_ENV, sandbox_id)
    )


class Sandbox:
    """A running sandbox cluster. Create with ``Sandbox.start()``; always ``stop()`` it.

    Where things are: ``kubeconfig`` (admin), ``env`` (for subprocesses), ``bin_dir``,
    ``api_url``, ``ca_file``, ``service_address()`` (the service proxy). Identities:
    ``kubeconfig_for_user()``, ``token_for_service_account()``,
    ``kubeconfig_for_service_account()``. Tools: ``kubectl()``, ``request()``,
    ``pod_log()``, ``wait_for()``, ``create_namespace()``, ``delete_namespace()``.
    Gateway API: ``start_gateway()`` (or ``start(gateway=True)``) runs Traefik on loopback.
    """

    def __init__(
        self,
        workdir: Path,
        state: SandboxState,
        *,
        process: subprocess.Popen[bytes] | None = None,
        owns_workdir: bool = False,
    ) -> None:
        self.workdir = workdir
        self.state = state
        self._process = process
        self._owns_workdir = owns_workdir
        self._http: httpx.Client | None = None
        self._gateway: gw.TraefikProcess | None = None
        self._stopped = False

    # ---- lifecycle -------------------------------------------------------

    @classmethod
    def start(
        cls,
        workdir: Path | None = None,
        *,
        nodes: int = 2,
        timeout: float = START_TIMEOUT,
        detach: bool = False,
        gateway: bool = False,
    ) -> Sandbox:
        """Start a supervisor process and block until the cluster is ready.

        Without ``detach`` the supervisor is tied to this process: it stops (and
        removes a temp workdir) when this process dies, however it dies.
        ``gateway`` also runs the Gateway API implementation (``start_gateway()``).
        """
        bin_dir = require_tools(directory=default_bin_dir())
        owns = workdir is None
        workdir = Path(tempfile.mkdtemp(prefix="dg-sandbox-")) if workdir is None else workdir
        workdir = workdir.resolve()
        workdir.mkdir(parents=True, exist_ok=True)
        sandbox_id = uuid.uuid4().hex[:12]
        argv = [
            sys.executable,
            "-m",
            "deploymentgate_devkit.sandbox.supervisor",
            f"--workdir={workdir}",
            f"--bin-dir={bin_dir}",
            f"--nodes={nodes}",
        ]
        if not detach:
            argv += ["--lifeline"] + (["--remove-workdir"] if owns else [])
        with open(workdir / SUPERVISOR_LOG, "ab") as log:
            process = subprocess.Popen(
                argv,
                env={**os.environ, MARKER_ENV: sandbox_id},
                cwd=workdir,
                stdin=subprocess.DEVNULL if detach else subprocess.PIPE,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a terminal's Ctrl-C reaches us, and we stop it in order
            )
        placeholder = SandboxState(sandbox_id, str(workdir), process.pid)
        sandbox = cls(workdir, placeholder, process=process, owns_workdir=owns)
        try:
            sandbox._wait_ready(timeout)
            if gateway:
                sandbox.start_gateway()
        except BaseException:
            sandbox.stop(failed=True)
            raise
        return sandbox

    @classmethod
    def attach(cls, workdir: Path) -> Sandbox | None:
        """The sandbox whose supervisor runs in workdir (``sandbox up``), or None."""
        state = SandboxState.load(workdir.resolve())
        if state is None or not _is_supervisor(state.supervisor_pid, state.sandbox_id):
            return None
        return cls(workdir.resolve(), state)

    def _wait_ready(self, timeout: float) -> None:
        assert self._process is not None
        deadline = time.monotonic() + timeout
        while True:
            state = SandboxState.load(self.workdir)
            if state is not None and state.sandbox_id == self.state.sandbox_id:
                self.state = state
                if state.status == "ready":
                    return
            code = self._process.poll()
            if code is not None or (state is not None and state.status == "failed"):
                error = state.error if state is not None and state.error else f"exit code {code}"
                raise SandboxError(
                    f"sandbox failed to start: {error}\nsupervisor log ({self.workdir}):\n"
                    + log_tail(self.workdir / SUPERVISOR_LOG)
                )
            if time.monotonic() >= deadline:
                raise SandboxError(
                    f"sandbox not ready after {timeout:.0f}s; supervisor log:\n"
                    + log_tail(self.workdir / SUPERVISOR_LOG)
                )
            time.sleep(0.05)

    def refresh(self) -> SandboxState:
        state = SandboxState.load(self.workdir)
        if state is not None and state.sandbox_id == self.state.sandbox_id:
            self.state = state
        return self.state

    def stop(self, *, keep_workdir: bool | None = None, failed: bool = False) -> TeardownReport:
        """Stop everything, then prove it: no process of this sandbox alive, no port bound."""
        if self._stopped:
            return TeardownReport()
        self._stopped = True
        if self._http is not None:
            self._http.close()
        gateway_ports = self.stop_gateway()
        self.refresh()
        pid = self.state.supervisor_pid
        if self._process is not None:
            if self._process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    self._process.send_signal(signal.SIGTERM)
                try:
                    self._process.wait(STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    self._process.kill()  # children die with it (PR_SET_PDEATHSIG)
                    self._process.wait(10)
            if self._process.stdin is not None:
                self._process.stdin.close()
        elif _is_supervisor(pid, self.state.sandbox_id):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + STOP_TIMEOUT
            while processes.pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if processes.pid_alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        ports = list(self.state.ports) + [p for p in gateway_ports if p not in self.state.ports]
        self.refresh()
        ports += [p for p in self.state.ports if p not in ports]
        report = TeardownReport()
        report.leaked_processes = processes.wait_processes_gone(
            MARKER_ENV, self.state.sandbox_id, timeout=10.0
        )
        processes.kill_processes(report.leaked_processes)
        report.busy_ports = wait_ports_free(ports, timeout=10.0)
        keep = keep_workdir_setting(failed) if keep_workdir is None else keep_workdir
        if self._owns_workdir and not keep:
            shutil.rmtree(self.workdir, ignore_errors=True)
        return report

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop(failed=exc is not None)

    # ---- Gateway API -----------------------------------------------------

    def start_gateway(self, timeout: float = gw.START_TIMEOUT) -> gw.GatewayInfo:
        """Install the Gateway API CRDs and run Traefik on a free loopback port.

        Returns where it listens; a Gateway of class ``gateway_class`` with a
        listener on ``port`` is served there. Idempotent while it runs. Call from
        the main thread: Traefik dies with the thread that started it, and with
        ``stop()``.
        """
        if self._gateway is not None and self._gateway.running():
            return self._gateway.info()
        binary = require_tools(("traefik",), directory=self.bin_dir) / "traefik"
        field_manager = "--field-manager=deploymentgate-sandbox"
        # Server-side: the HTTPRoute CRD is too large for the last-applied annotation.
        apply = ("apply", "--server-side", "--force-conflicts", field_manager)
        self.kubectl(*apply, "-f", str(gw.crd_dir()))
        crds = [f"crd/{name}" for name in gw.crd_names()]
        self.kubectl("wait", "--for=condition=Established", "--timeout=60s", *crds, timeout=70)
        objects = [*gw.rbac_objects(), *gw.loopback_policy_objects(), gw.gateway_class_object()]
        self.kubectl(*apply, "-f", "-", input=yaml.safe_dump_all(objects))
        kubeconfig = self.kubeconfig_for_user(gw.GATEWAY_USER)
        traefik = gw.TraefikProcess(self.workdir, binary, kubeconfig, free_port())
        traefik.start(gw.traefik_env(kubeconfig, self.sandbox_id, os.environ))
        self._gateway = traefik
        path = f"/apis/{gw.GATEWAY_GROUP}/v1/gatewayclasses/{gw.GATEWAY_CLASS}"
        try:
            traefik.wait_ready(
                lambda: gw.gateway_class_accepted(self.request("GET", path)), timeout
            )
        except gw.GatewayFailed as exc:
            self.stop_gateway()
            raise SandboxError(f"gateway failed to start: {exc}") from exc
        return traefik.info()

    @property
    def gateway(self) -> gw.GatewayInfo | None:
        """The running gateway started by this client, if any."""
        if self._gateway is None or not self._gateway.running():
            return None
        return self._gateway.info()

    def stop_gateway(self) -> list[tuple[str, int]]:
        """Stop Traefik (its port must then be free); returns the ports it had bound."""
        traefik, self._gateway = self._gateway, None
        if traefik is None:
            return []
        traefik.stop()
        return [(LOOPBACK, traefik.port)]

    # ---- where things are ------------------------------------------------

    @property
    def sandbox_id(self) -> str:
        return self.state.sandbox_id

    @property
    def kubeconfig(self) -> Path:
        """The admin kubeconfig (system:masters)."""
        return Path(self._require(self.state.kubeconfig, "kubeconfig"))

    @property
    def api_url(self) -> str:
        return self._require(self.state.api_url, "api_url")

    @property
    def ca_file(self) -> Path:
        return Path(self._require(self.state.ca_file, "ca_file"))

    @property
    def bin_dir(self) -> Path:
        return Path(self._require(self.state.bin_dir, "bin_dir"))

    @property
    def env(self) -> dict[str, str]:
        """os.environ plus KUBECONFIG (admin) and PATH with the built tools first."""
        path = os.pathsep.join([str(self.bin_dir), os.environ.get("PATH", os.defpath)])
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig), "PATH": path}

    def _require(self, value: str | None, what: str) -> str:
        if value is None:
            raise SandboxError(f"sandbox has no {what} yet (status {self.state.status})")
        return value

    def processes(self) -> list[processes.ProcessInfo]:
        """Every live process this sandbox started (supervisor, control plane, pods)."""
        return processes.processes_with_env(MARKER_ENV, self.state.sandbox_id)

    # ---- clients ---------------------------------------------------------

    def kubectl(
        self,
        *args: str,
        input: str | None = None,
        check: bool = True,
        timeout: float = 60,
        kubeconfig: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run the real kubectl (admin unless another kubeconfig is given), with
        `env` added to its environment (e.g. KUBE_EDITOR)."""
        env = {**self.env, **(env or {})}
        if kubeconfig is not None:
            env["KUBECONFIG"] = str(kubeconfig)
        argv = [str(self.bin_dir / "kubectl"), *args]
        result = subprocess.run(
            argv, input=input, capture_output=True, text=True, timeout=timeout, env=env
        )
        if check and result.returncode != 0:
            raise KubectlError(result.returncode, argv, result.stdout, result.stderr)
        return result

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        content_type: str = "application/json",
        accept: str | None = None,
    ) -> Any:
        """One API call as the admin; raises SandboxApiError on 4xx/5xx.

        `accept`: e.g. the Table form of a list (its printer columns only),
        far cheaper for the API server to send than every object whole."""
        if self._http is None:
            pki = cluster_pki_paths(self.workdir / "pki")
            self._http = httpx.Client(
                base_url=self.api_url,
                verify=client_ssl_context(pki.ca_cert, pki.admin_cert, pki.admin_key),
                trust_env=False,
                timeout=30.0,
            )
        headers = {"Content-Type": content_type} if json is not None else {}
        if accept is not None:
            headers["Accept"] = accept
        content = None if json is None else jsonlib.dumps(json).encode()
        response = self._http.request(method, path, content=content, params=params, headers=headers)
        if response.status_code >= 400:
            try:
                body: Any = response.json()
            except ValueError:
                body = response.text
            raise SandboxApiError(response.status_code, method, path, body)
        return response.json() if response.content else None

    def service_address(
        self, namespace: str, name: str, port: int | None = None, timeout: float = 30
    ) -> tuple[str, int]:
        """Where the service proxy listens for this Service port (lowest port if None)."""

        def lookup() -> tuple[str, int] | None:
            ports = self.refresh().services.get(f"{namespace}/{name}") or {}
            key = str(port) if port is not None else min(ports, key=int, default=None)
            if key is None or key not in ports:
                return None
            host, _, listen = ports[key].rpartition(":")
            return host, int(listen)

        return self.wait_for(lookup, timeout=timeout, interval=0.05)

    def token_for_service_account(
        self, namespace: str, name: str, duration_seconds: int = 3600
    ) -> str:
        """A bound token from the TokenRequest API (what ``kubectl create token`` does)."""
        body = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"expirationSeconds": duration_seconds},
        }
        path = f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token"
        deadline = time.monotonic() + 5.0
        while True:
            try:
                return str(self.request("POST", path, json=body)["status"]["token"])
            except SandboxApiError as exc:
                # A fresh namespace's default ServiceAccount appears a moment later.
                if exc.status != 404 or name != "default" or time.monotonic() >= deadline:
                    raise
            time.sleep(0.1)

    def kubeconfig_for_service_account(
        self, namespace: str, name: str, duration_seconds: int = 3600
    ) -> Path:
        token = self.token_for_service_account(namespace, name, duration_seconds)
        user = f"system:serviceaccount:{namespace}:{name}"
        path = self.workdir / "users" / f"sa-{safe_name(namespace)}-{safe_name(name)}.kubeconfig"
        text = render_kubeconfig(
            self.api_url, self.ca_file.read_bytes(), user, token=token, namespace=namespace
        )
        return write_private(path, text)

    def kubeconfig_for_user(self, user: str, groups: Sequence[str] = ()) -> Path:
        """A client-certificate kubeconfig for any user and groups (CN=user, O=group each)."""
        pki = cluster_pki_paths(self.workdir / "pki")
        pair = issue(
            load_ca(pki.ca_cert, pki.ca_key), user, organizations=tuple(groups), client=True
        )
        digest = hashlib.sha256("\0".join([user, *groups]).encode()).hexdigest()[:8]
        path = self.workdir / "users" / f"{safe_name(user)}-{digest}.kubeconfig"
        text = render_kubeconfig(
            self.api_url,
            pki.ca_cert.read_bytes(),
            user,
            client_cert_pem=pair.cert_pem,
            client_key_pem=pair.key_pem,
        )
        return write_private(path, text)

    # ---- API outages ---------------------------------------------------------

    def stop_apiserver(self, timeout: float = 30) -> None:
        """Stop the kube-apiserver alone, as in an outage: every client gets
        "connection refused" until ``start_apiserver()``. etcd, the controllers,
        the nodes and their pods (and so the Services' traffic) keep running."""
        self._apiserver_to(signal.SIGUSR1, "stopped", timeout)

    def start_apiserver(self, timeout: float = 120) -> None:
        """Start it again on the same address and etcd; returns once it serves."""
        self._apiserver_to(signal.SIGUSR2, "running", timeout)

    def _apiserver_to(self, sig: int, wanted: str, timeout: float) -> None:
        if self._http is not None:  # no pooled connection to the old process
            self._http.close()
            self._http = None
        os.kill(self.state.supervisor_pid, sig)

        def reached() -> bool:
            state = self.refresh()
            if state.apiserver == "failed" or state.status != "ready":
                raise SandboxError(
                    f"kube-apiserver {state.apiserver}, sandbox {state.status}: {state.error}"
                )
            return state.apiserver == wanted

        self.wait_for(reached, timeout=timeout, interval=0.05)

    # ---- helpers for tests -------------------------------------------------

    def pod_log(self, namespace: str, pod: str) -> str:
        """What the pod's container processes printed (all containers, all restarts)."""
        directory = pod_log_dir(self.workdir / "pods", namespace, pod)
        logs = sorted(directory.glob("*.log"))
        if len(logs) == 1:
            return logs[0].read_text(errors="replace")
        return "".join(f"==> {p.stem} <==\n{p.read_text(errors='replace')}" for p in logs)

    def wait_for(
        self, predicate: Callable[[], T | None], timeout: float = 30, interval: float = 0.2
    ) -> T:
        """Poll until predicate returns something truthy, and return it; TimeoutError if never."""
        deadline = time.monotonic() + timeout
        last: Any = None
        error: BaseException | None = None
        while True:
            try:
                last, error = predicate(), None
                if last:
                    return last
            except Exception as exc:  # a not-yet-existing object is a normal "not yet"
                error = exc
            if time.monotonic() >= deadline:
                detail = f"last error: {error!r}" if error is not None else f"last result: {last!r}"
                raise TimeoutError(f"condition not met within {timeout}s ({detail})") from error
            time.sleep(interval)

    def create_namespace(
        self, name: str | None = None, *, wait_for_service_account: bool = True
    ) -> str:
        """Create a namespace (``t-<random>`` by default), ready for pods when it returns."""
        name = name or f"t-{secrets.token_hex(4)}"
        self.request(
            "POST",
            "/api/v1/namespaces",
            json={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
        )
        if wait_for_service_account:
            path = f"/api/v1/namespaces/{name}/serviceaccounts/default"
            # The serviceaccount controller makes it; on a machine busy with two
            # test workers' clusters that has taken over 30 s.
            self.wait_for(lambda: self.request("GET", path), timeout=90, interval=0.05)
        return name

    def delete_namespace(self, name: str, *, wait: bool = False, timeout: float = 60) -> None:
        with contextlib.suppress(SandboxApiError):
            self.request("DELETE", f"/api/v1/namespaces/{name}")
        if wait:

            def gone() -> bool:
                try:
                    self.request("GET", f"/api/v1/namespaces/{name}")
                except SandboxApiError as exc:
                    return exc.status == 404
                return False

            self.wait_for(gone, timeout=timeout)

    def __repr__(self) -> str:
        return f"Sandbox(id={self.sandbox_id}, api={self.state.api_url}, workdir={self.workdir})"
