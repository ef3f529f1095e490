"""The chart's operator identity, installed into the sandbox as Helm would.

`helm template` renders the chart for real; the ServiceAccount, (Cluster)Roles,
bindings and kopf peering objects are applied server-side, and the rendered
Deployment's arguments tell how the operator must be started. The operator
itself runs as a local process (the sandbox runs no operator image), with a
kubeconfig holding that ServiceAccount's token.
"""

from __future__ import annotations

import contextlib
import secrets
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from deploymentgate_devkit.sandbox import Sandbox

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "helm" / "deploymentgate"
IDENTITY_KINDS = (
    "ServiceAccount",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
    "ClusterKopfPeering",
    "KopfPeering",
)
# Arguments of the rendered container that name in-pod ports; OperatorProcess
# picks free loopback ports instead.
POD_ONLY_ARGS = ("--metrics-port", "--liveness", "--metrics-host")


@dataclass(frozen=True)
class Rule:
    """One (scope, group, resource) the operator's roles grant, with its verbs."""

    scope: str  # "*" for cluster-wide, else the namespace of a RoleBinding
    group: str
    resource: str
    verbs: frozenset[str]


def helm_template(
    cluster: Sandbox, release: str, namespace: str, values: Mapping[str, Any], tmp: Path
) -> list[dict[str, Any]]:
    values_file = tmp / f"values-{release}.yaml"
    values_file.write_text(yaml.safe_dump(dict(values)))
    argv = [
        str(cluster.bin_dir / "helm"),
        "template",
        release,
        str(CHART),
        "--namespace",
        namespace,
        "--values",
        str(values_file),
        "--include-crds",
    ]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, f"helm template failed:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@dataclass
class ChartInstall:
    """What the chart installs for the operator's identity, and how to run it."""

    cluster: Sandbox
    release: str
    namespace: str
    objects: list[dict[str, Any]]
    operator_args: list[str]
    applied: list[dict[str, Any]] = field(default_factory=list)
    # Each operator Deployment's arguments by shard name ("" when unsharded).
    shard_args: dict[str, list[str]] = field(default_factory=dict)

    @property
    def service_account(self) -> str:
        (account,) = [o for o in self.objects if o["kind"] == "ServiceAccount"]
        return str(account["metadata"]["name"])

    @property
    def user(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.service_account}"

    def rules(self) -> list[Rule]:
        """Every grant of the rendered roles, through the bindings that use them."""
        roles = {
            (o["kind"], o["metadata"].get("namespace", "*"), o["metadata"]["name"]): o
            for o in self.objects
            if o["kind"] in ("Role", "ClusterRole")
        }
        out: list[Rule] = []
        for binding in self.objects:
            if binding["kind"] not in ("RoleBinding", "ClusterRoleBinding"):
                continue
            scope = binding["metadata"].get("namespace", "*")
            ref = binding["roleRef"]
            role = roles[(ref["kind"], "*" if ref["kind"] == "ClusterRole" else scope, ref["name"])]
            for rule in role["rules"]:
                for group in rule["apiGroups"]:
                    for resource in rule["resources"]:
                        out.append(Rule(scope, group, resource, frozenset(rule["verbs"])))
        return out

    def credentials(self) -> tuple[str, str]:
        """(user, bound token) of the chart's ServiceAccount, for a kubeconfig."""
        token = self.cluster.token_for_service_account(self.namespace, self.service_account)
        return self.user, token

    def uninstall(self) -> None:
        """Delete what was applied (cluster-scoped objects outlive namespaces)."""
        if self.applied:
            with contextlib.suppress(subprocess.SubprocessError):
                self.cluster.kubectl(
                    "delete",
                    "--ignore-not-found",
                    "--wait=false",
                    "-f",
                    "-",
                    input=yaml.safe_dump_all(self.applied),
                    check=False,
                )
        self.cluster.delete_namespace(self.namespace)


def install_chart_identity(
    cluster: Sandbox, values: Mapping[str, Any], tmp: Path, *, release: str | None = None
) -> ChartInstall:
    """Render with `values`, apply CRDs and the operator's identity into a new release namespace."""
    release = release or f"ship-{secrets.token_hex(3)}"
    namespace = cluster.create_namespace(f"{release}-system")
    objects = helm_template(cluster, release, namespace, values, tmp)
    crds = [o for o in objects if o["kind"] == "CustomResourceDefinition"]
    _apply(cluster, crds, force=True)
    cluster.kubectl(
        "wait",
        "--for=condition=Established",
        "--timeout=30s",
        *[f"crd/{crd['metadata']['name']}" for crd in crds],
    )
    identity = [o for o in objects if o["kind"] in IDENTITY_KINDS]
    shard_args: dict[str, list[str]] = {}
    for deployment in [o for o in objects if o["kind"] == "Deployment"]:
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        shard = deployment["metadata"].get("labels", {}).get("deploymentgate.dev/shard", "")
        shard_args[shard] = [a for a in container["args"][1:] if not a.startswith(POD_ONLY_ARGS)]
    install = ChartInstall(
        cluster=cluster,
        release=release,
        namespace=namespace,
        objects=identity,
        operator_args=next(iter(shard_args.values())),
        shard_args=shard_args,
    )
    try:
        _apply(cluster, identity)
    except BaseException:
        install.applied = identity
        install.uninstall()
        raise
    install.applied = identity
    return install


def _apply(cluster: Sandbox, objects: list[dict[str, Any]], *, force: bool = False) -> None:
    args = ["apply", "--server-side", "--field-manager=shipping-tests", "-f", "-"]
    if force:
        args.insert(2, "--force-conflicts")  # other suites apply the same CRDs
    cluster.kubectl(*args, input=yaml.safe_dump_all(objects))


# What the `chart_identity` fixture returns: chart values -> the installed identity.
InstallFn = Callable[[Mapping[str, Any]], ChartInstall]
