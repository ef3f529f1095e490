"""Traefik as the sandbox's Gateway API implementation, listening on loopback.

Why Traefik: it is a Go binary built like the other cluster tools
(cluster/traefik, ``cluster/build.sh``) and its Gateway API provider runs
outside a cluster, from a kubeconfig. What the sandbox does for it:

* installs the Gateway API CRDs Traefik was built against (cluster/traefik/crds,
  standard channel; its informers wait forever for a kind that is not served);
* gives it an identity of its own (a client certificate) with only the RBAC a
  Gateway controller needs, and a GatewayClass ``traefik`` for its controller;
* keeps backends on loopback: Traefik dials the addresses of EndpointSlices, so
  an admission policy rejects any slice address outside 127.0.0.0/8;
* runs it with a clean environment: no ``KUBERNETES_SERVICE_*`` (Traefik would
  take the in-cluster path), no proxy variables (Go would send backend traffic
  through them), and the sandbox's marker so the teardown check finds it.

A Gateway's listener port must be the entrypoint's port (``GatewayInfo.port``):
Traefik maps listeners to entrypoints by port. nativeLB and the dashboard stay
off, so the gateway balances over the pod addresses itself.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from deploymentgate_devkit.sandbox import processes
from deploymentgate_devkit.sandbox.binaries import repo_root
from deploymentgate_devkit.sandbox.ports import LOOPBACK
from deploymentgate_devkit.sandbox.state import MARKER_ENV

GATEWAY_CLASS = "traefik"
CONTROLLER_NAME = "traefik.io/gateway-controller"
GATEWAY_USER = "deploymentgate-sandbox:gateway"
RBAC_NAME = "deploymentgate-sandbox-gateway"
LOOPBACK_POLICY = "deploymentgate-sandbox-loopback-endpoints"
ENTRYPOINT = "web"
GATEWAY_DIR = "gateway"
START_TIMEOUT = 60.0
STOP_GRACE = 5.0
# How long Traefik gathers provider events before it applies a new configuration.
# Its default (2s) would delay a rollback's weight change by as much.
PROVIDERS_THROTTLE = "100ms"
GATEWAY_GROUP = "gateway.networking.k8s.io"


def crd_dir() -> Path:
    """The Gateway API CRDs, copied by cluster/build.sh from the version Traefik pins."""
    return repo_root() / "cluster" / "traefik" / "crds"


def gateway_api_version() -> str:
    return (crd_dir() / "VERSION").read_text().strip()


def crd_names() -> list[str]:
    names = []
    for path in sorted(crd_dir().glob("*.yaml")):
        doc = yaml.safe_load(path.read_text())
        if doc and doc.get("kind") == "CustomResourceDefinition":
            names.append(str(doc["metadata"]["name"]))
    return names


@dataclass(frozen=True)
class GatewayInfo:
    """Where the running gateway listens, and what a Gateway must use to be served by it."""

    host: str
    port: int
    gateway_class: str
    pid: int
    log: str
    config: str

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def rbac_objects(user: str = GATEWAY_USER) -> list[dict[str, Any]]:
    """What Traefik's Gateway provider reads and writes (checked against its client.go)."""
    read = ["get", "list", "watch"]
    rules = [
        {"apiGroups": [""], "resources": ["namespaces", "services", "secrets", "configmaps"],
         "verbs": read},
        {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": read},
        {"apiGroups": [GATEWAY_GROUP],
         "resources": ["gatewayclasses", "gateways", "httproutes", "grpcroutes", "tlsroutes",
                       "tcproutes", "referencegrants", "backendtlspolicies"],
         "verbs": read},
        {"apiGroups": [GATEWAY_GROUP],
         "resources": ["gatewayclasses/status", "gateways/status", "httproutes/status",
                       "grpcroutes/status", "tlsroutes/status", "tcproutes/status",
                       "backendtlspolicies/status"],
         "verbs": ["get", "update", "patch"]},
    ]  # fmt: skip
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": RBAC_NAME},
            "rules": rules,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": RBAC_NAME},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                        "name": RBAC_NAME},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
        },
    ]  # fmt: skip


def loopback_policy_objects() -> list[dict[str, Any]]:
    """Reject EndpointSlices with an address outside loopback: the gateway dials them."""
    return [
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": LOOPBACK_POLICY},
            "spec": {
                "failurePolicy": "Fail",
                "matchConstraints": {
                    "resourceRules": [
                        {
                            "apiGroups": ["discovery.k8s.io"],
                            "apiVersions": ["*"],
                            "operations": ["CREATE", "UPDATE"],
                            "resources": ["endpointslices"],
                        }
                    ]
                },
                "validations": [
                    {
                        "expression": "!has(object.endpoints) || object.endpoints.all(e, "
                        "e.addresses.all(a, a.matches('^127\\\\.[0-9]+\\\\.[0-9]+\\\\.[0-9]+$')))",
                        "message": "the sandbox only routes to loopback (127.0.0.0/8) addresses",
                    }
                ],
            },
        },
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": LOOPBACK_POLICY},
            "spec": {"policyName": LOOPBACK_POLICY, "validationActions": ["Deny"]},
        },
    ]


def gateway_class_object() -> dict[str, Any]:
    return {
        "apiVersion": f"{GATEWAY_GROUP}/v1",
        "kind": "GatewayClass",
        "metadata": {"name": GATEWAY_CLASS},
        "spec": {"controllerName": CONTROLLER_NAME},
    }


def traefik_config(port: int, host: str = LOOPBACK) -> dict[str, Any]:
    """Traefik's static configuration: one entrypoint, the Gateway provider, nothing else."""
    return {
        "global": {"checkNewVersion": False, "sendAnonymousUsage": False},
        "entryPoints": {
            ENTRYPOINT: {
                "address": f"{host}:{port}",
                # Stop quickly: the sandbox's teardown waits for the port to be free.
                "transport": {"lifeCycle": {"graceTimeOut": "1s"}},
            }
        },
        "providers": {
            "providersThrottleDuration": PROVIDERS_THROTTLE,
            "kubernetesGateway": {"statusAddress": {"ip": host}},
        },
        "log": {"level": "INFO", "noColor": True},
    }  # fmt: skip


def traefik_env(kubeconfig: Path, sandbox_id: str, base: Mapping[str, str]) -> dict[str, str]:
    """A clean environment: KUBECONFIG, HOME/locale and the DEPLOYMENTGATE_* markers only."""
    env = {k: base[k] for k in ("HOME", "LANG", "LC_ALL", "TZ", "TMPDIR") if k in base}
    env.update({k: v for k, v in base.items() if k.startswith("DEPLOYMENTGATE_")})
    env.update({"PATH": os.defpath, "KUBECONFIG": str(kubeconfig), MARKER_ENV: sandbox_id})
    return env


def wait_listening(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


class GatewayFailed(RuntimeError):
    """Traefik exited, or did not become ready in time; the message has its log tail."""


class TraefikProcess:
    """One Traefik process: config written under workdir/gateway, output in traefik.log."""

    def __init__(self, workdir: Path, binary: Path, kubeconfig: Path, port: int) -> None:
        self.dir = workdir / GATEWAY_DIR
        self.binary = binary
        self.kubeconfig = kubeconfig
        self.port = port
        self.config_path = self.dir / "traefik.yml"
        self.log_path = self.dir / "traefik.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
        """Spawn Traefik (from the main thread: it dies with the thread that forked it)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(yaml.safe_dump(traefik_config(self.port), sort_keys=False))
        argv = [str(self.binary), f"--configFile={self.config_path}"]
        self.proc = processes.spawn(argv, env=env, log_path=self.log_path, cwd=self.dir)
        return self.proc

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def wait_ready(self, accepted: Callable[[], bool], timeout: float = START_TIMEOUT) -> None:
        """Until the entrypoint listens and the provider has accepted the GatewayClass."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while True:
            code = self.proc.poll()
            if code is not None:
                raise GatewayFailed(f"traefik exited with {code}:\n{self.log_tail()}")
            if wait_listening(LOOPBACK, self.port) and accepted():
                return
            if time.monotonic() >= deadline:
                raise GatewayFailed(f"traefik not ready after {timeout:.0f}s:\n{self.log_tail()}")
            time.sleep(0.1)

    def info(self) -> GatewayInfo:
        assert self.proc is not None
        return GatewayInfo(
            host=LOOPBACK,
            port=self.port,
            gateway_class=GATEWAY_CLASS,
            pid=self.proc.pid,
            log=str(self.log_path),
            config=str(self.config_path),
        )

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        return processes.stop(self.proc, STOP_GRACE)


def gateway_class_accepted(gateway_class: Mapping[str, Any]) -> bool:
    generation = (gateway_class.get("metadata") or {}).get("generation")
    return any(
        c.get("type") == "Accepted"
        and c.get("status") == "True"
        and c.get("observedGeneration") == generation
        for c in (gateway_class.get("status") or {}).get("conditions") or ()
    )
