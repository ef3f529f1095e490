"""The Helm chart as `helm` sees it: lint, render, security, RBAC, schema, CRDs."""

from __future__ import annotations

import importlib.util
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from chart_render import NAMESPACE, HelmError, Rendered, RenderFn, helm_template, write_values
from packaging_tools import CHART, CRD_NAME, CRD_SOURCE, DASHBOARD, run_tool

import deploymentgate

EVERYTHING = {
    "replicas": 2,
    "watchNamespaces": ["team-a", "team-b"],
    "serviceMonitor": {"enabled": True, "labels": {"release": "prom"}},
    "prometheusRule": {"enabled": True, "labels": {"release": "prom"}},
    "dashboard": {"enabled": True, "annotations": {"grafana_folder": "Rollouts"}},
    "gatewayAPI": {"enabled": True},
}
STANDALONE = {"peering": {"enabled": False}}


def values_of(chart: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((chart / "values.yaml").read_text())
    return loaded


# ------------------------------------------------------------------ lint


@pytest.mark.parametrize(
    "values",
    [{}, EVERYTHING, STANDALONE],
    ids=["defaults", "everything-enabled", "standalone"],
)
def test_chart_lints_strictly(
    helm: Path, chart_dir: Path, tmp_path: Path, values: dict[str, Any]
) -> None:
    result = run_tool(
        helm, "lint", "--strict", chart_dir, "--values", write_values(tmp_path, values)
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_defaults_render_the_operator_without_monitoring_extras(render: RenderFn) -> None:
    rendered = render({})
    assert rendered.kinds == {
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Service",
        "Deployment",
        "ClusterKopfPeering",
        # sign-offs: the policy that checks them, and the approvals guard;
        # the serving label kept to the operator's own pods
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
    }
    assert rendered.one("Deployment")["spec"]["replicas"] == 1


def test_everything_enabled_renders_monitoring_and_a_disruption_budget(render: RenderFn) -> None:
    rendered = render(EVERYTHING)
    for kind in ("ServiceMonitor", "PrometheusRule", "ConfigMap", "PodDisruptionBudget"):
        assert kind in rendered.kinds
    assert rendered.one("ServiceMonitor")["metadata"]["labels"]["release"] == "prom"
    assert rendered.one("PrometheusRule")["metadata"]["labels"]["release"] == "prom"


# ------------------------------------------------------------- the pod


def test_operator_pod_runs_locked_down(render: RenderFn) -> None:
    pod = render({}).one("Deployment")["spec"]["template"]["spec"]
    pod_sc = pod["securityContext"]
    assert pod_sc["runAsNonRoot"] is True
    assert isinstance(pod_sc["runAsUser"], int) and pod_sc["runAsUser"] > 0
    assert pod_sc["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    sc = container["securityContext"]
    assert sc["runAsNonRoot"] is True
    assert isinstance(sc["runAsUser"], int) and sc["runAsUser"] > 0
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert not sc.get("privileged", False)
    assert (
        container["resources"]["requests"]["cpu"] and container["resources"]["requests"]["memory"]
    )
    assert container["resources"]["limits"]["memory"]


def test_liveness_probe_hits_the_health_endpoint_the_operator_is_told_to_serve(
    render: RenderFn,
) -> None:
    container = render({"health": {"port": 8181}, "metrics": {"port": 9191}}).operator_container
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"metrics": 9191, "health": 8181}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert "--liveness=http://0.0.0.0:8181/healthz" in container["args"]
    assert "--metrics-port=9191" in container["args"]


def test_operator_watches_all_namespaces_by_default(render: RenderFn) -> None:
    args = render({"logLevel": "debug"}).operator_container["args"]
    assert args[0] == "run"
    assert "--all-namespaces" in args
    assert not [a for a in args if a.startswith("--namespace")]
    assert "--log-level=debug" in args
    assert "--peering=rel-deploymentgate" in args


def test_operator_watches_exactly_the_listed_namespaces(render: RenderFn) -> None:
    args = render({"watchNamespaces": ["team-a", "team-b"]}).operator_container["args"]
    assert [a for a in args if a.startswith("--namespace")] == [
        "--namespace=team-a",
        "--namespace=team-b",
    ]
    assert "--all-namespaces" not in args


@pytest.mark.parametrize(
    "values",
    [{}, EVERYTHING, {**STANDALONE, "extraArgs": ["--tick=2"]}],
    ids=["defaults", "namespaced", "standalone"],
)
def test_operator_cli_accepts_the_arguments_the_chart_passes(
    render: RenderFn, values: dict[str, Any]
) -> None:
    from deploymentgate import cli

    if importlib.util.find_spec(cli.COMMANDS["run"]) is None:
        pytest.skip(f"`deploymentgate run` ({cli.COMMANDS['run']}) is not written yet")
    args = render(values).operator_container["args"]
    try:
        cli.build_parser().parse_args(args)
    except SystemExit as exc:  # argparse reports unknown or malformed flags this way
        pytest.fail(f"`deploymentgate {' '.join(args)}` is rejected (exit {exc.code})")


def test_peering_object_is_the_one_the_operator_joins(render: RenderFn) -> None:
    cluster_wide = render({"peering": {"name": "gates"}})
    assert cluster_wide.one("ClusterKopfPeering")["metadata"]["name"] == "gates"
    assert "--peering=gates" in cluster_wide.operator_container["args"]

    namespaced = render({"watchNamespaces": ["team-a", "team-b"]})
    peerings = namespaced.of_kind("KopfPeering")
    assert {(p["metadata"]["namespace"], p["metadata"]["name"]) for p in peerings} == {
        ("team-a", "rel-deploymentgate"),
        ("team-b", "rel-deploymentgate"),
    }
    assert "ClusterKopfPeering" not in namespaced.kinds


SHARDS = {
    "replicas": 2,
    "shards": [
        {"name": "a", "namespaces": ["team-a", "team-b"]},
        {"name": "b", "namespaces": ["team-c"]},
    ],
    "serviceMonitor": {"enabled": True},
}


def test_shards_split_the_namespaces_over_operators_that_never_freeze_each_other(
    render: RenderFn,
) -> None:
    rendered = render(SHARDS)
    deployments = {d["metadata"]["name"]: d for d in rendered.of_kind("Deployment")}
    assert set(deployments) == {"rel-deploymentgate-a", "rel-deploymentgate-b"}
    served: dict[str, list[str]] = {}
    for name, deployment in deployments.items():
        pods = deployment["spec"]["template"]
        (container,) = pods["spec"]["containers"]
        args = container["args"]
        served[name] = [a.split("=", 1)[1] for a in args if a.startswith("--namespace=")]
        assert "--all-namespaces" not in args
        shard = name.rsplit("-", 1)[1]
        assert f"--peering=rel-deploymentgate-{shard}" in args  # its own: no freezing
        # Each Deployment selects only its own shard's pods.
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selector["deploymentgate.dev/shard"] == shard
        assert selector.items() <= pods["metadata"]["labels"].items()
    assert served == {
        "rel-deploymentgate-a": ["team-a", "team-b"],
        "rel-deploymentgate-b": ["team-c"],
    }
    peerings = {
        (p["metadata"]["namespace"], p["metadata"]["name"]) for p in rendered.of_kind("KopfPeering")
    }
    assert peerings == {
        ("team-a", "rel-deploymentgate-a"),
        ("team-b", "rel-deploymentgate-a"),
        ("team-c", "rel-deploymentgate-b"),
    }
    # Namespaced permissions in the served namespaces only; a budget per shard.
    assert {r["metadata"]["namespace"] for r in rendered.of_kind("Role")} == {
        "team-a",
        "team-b",
        "team-c",
    }
    assert "ClusterKopfPeering" not in rendered.kinds
    budgets = rendered.of_kind("PodDisruptionBudget")
    assert sorted(
        b["spec"]["selector"]["matchLabels"]["deploymentgate.dev/shard"] for b in budgets
    ) == [
        "a",
        "b",
    ]
    # A Prometheus job per shard, so the alerts (by job) see a shard that is down.
    (endpoint,) = rendered.one("ServiceMonitor")["spec"]["endpoints"]
    assert {
        "action": "replace",
        "sourceLabels": ["__meta_kubernetes_pod_label_deploymentgate_dev_shard"],
        "regex": "(.+)",
        "targetLabel": "job",
        "replacement": "deploymentgate-$1",
    } in endpoint["relabelings"]


@pytest.mark.parametrize(
    ("shards", "extra", "complaint"),
    [
        (
            [{"name": "a", "namespaces": ["shop", "chat"]}, {"name": "b", "namespaces": ["chat"]}],
            {},
            'namespace "chat" is in shards "a" and "b"',
        ),
        (
            [{"name": "a", "namespaces": ["shop"]}, {"name": "a", "namespaces": ["chat"]}],
            {},
            'the name "a" is used twice',
        ),
        (
            [{"name": "a", "namespaces": ["shop"]}],
            {"watchNamespaces": ["chat"]},
            "exclude each other",
        ),
    ],
    ids=["namespace-in-two-shards", "same-name", "with-watchNamespaces"],
)
def test_chart_refuses_shards_that_would_overlap(
    render: RenderFn, shards: list[dict[str, Any]], extra: dict[str, Any], complaint: str
) -> None:
    with pytest.raises(HelmError, match=complaint):
        render({"shards": shards, **extra})


def test_without_peering_the_operator_runs_alone_and_no_peering_exists(render: RenderFn) -> None:
    rendered = render(STANDALONE)
    assert not [a for a in rendered.operator_container["args"] if a.startswith("--peering")]
    assert not {"ClusterKopfPeering", "KopfPeering"} & rendered.kinds


def test_two_replicas_get_a_disruption_budget_one_does_not(render: RenderFn) -> None:
    assert "PodDisruptionBudget" not in render({}).kinds
    pdb = render({"replicas": 2}).one("PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1


def test_chart_refuses_replicas_that_would_not_know_of_each_other(render: RenderFn) -> None:
    with pytest.raises(HelmError, match="replicas > 1 needs peering"):
        render({"replicas": 2, **STANDALONE})


# ----------------------------------------------------------- metrics


def test_metrics_service_and_servicemonitor_point_at_the_metrics_port(render: RenderFn) -> None:
    rendered = render({"serviceMonitor": {"enabled": True}, "metrics": {"port": 9191}})
    service = rendered.one("Service")
    (port,) = service["spec"]["ports"]
    assert port == {"name": "metrics", "port": 9191, "targetPort": "metrics", "protocol": "TCP"}
    pod_labels = rendered.one("Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()

    monitor = rendered.one("ServiceMonitor")["spec"]
    assert monitor["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    (endpoint,) = monitor["endpoints"]
    assert endpoint["port"] == "metrics" and endpoint["path"] == "/metrics"
    # Keeps the gate's `namespace` label (not exported_namespace) for alerts and dashboard.
    assert endpoint["honorLabels"] is True
    assert {"action": "replace", "targetLabel": "job", "replacement": "deploymentgate"} in endpoint[
        "relabelings"
    ]


def test_dashboard_configmap_carries_the_dashboard_for_the_grafana_sidecar(
    render: RenderFn,
) -> None:
    configmap = render({"dashboard": {"enabled": True, "namespace": "monitoring"}}).one("ConfigMap")
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert configmap["metadata"]["namespace"] == "monitoring"
    assert json.loads(configmap["data"]["deploymentgate.json"]) == json.loads(DASHBOARD.read_text())


# -------------------------------------------------------------- RBAC

Grants = dict[tuple[str, str, str], set[str]]
AGGREGATE_LABEL = "rbac.authorization.k8s.io/aggregate-to-"

# What the operator uses, as recorded by tests/shipping/test_rbac.py.
NAMESPACED: Grants = {
    ("rollout.deploymentgate.dev", "deploymentgates", ""): {"get", "list", "watch", "patch"},
    ("rollout.deploymentgate.dev", "deploymentgates/status", ""): {"patch"},
    ("apps", "deployments", ""): {"list", "watch", "create", "patch", "delete"},
    ("apps", "deployments/scale", ""): {"patch"},
    ("autoscaling", "horizontalpodautoscalers", ""): {"list", "watch", "create", "patch", "delete"},
    ("", "services", ""): {"list", "watch", "patch"},
    ("", "pods", ""): {"list", "watch", "patch"},
    ("", "pods/log", ""): {"get"},
    ("batch", "jobs", ""): {"list", "watch", "create", "delete"},
    ("", "events", ""): {"create"},
    ("rollout.deploymentgate.dev", "gateapprovals", ""): {"list", "watch"},
    ("rollout.deploymentgate.dev", "metricchecktemplates", ""): {"list", "watch"},
}
CLUSTER: Grants = {
    ("apiextensions.k8s.io", "customresourcedefinitions", ""): {"list", "watch"},
    ("admissionregistration.k8s.io", "validatingadmissionpolicies", ""): {"get"},
    ("admissionregistration.k8s.io", "validatingadmissionpolicybindings", ""): {"get"},
    ("rollout.deploymentgate.dev", "clustermetricchecktemplates", ""): {"list", "watch"},
}
# Only with --namespace: kopf follows the namespaces it serves.
NAMESPACES: Grants = {("", "namespaces", ""): {"list", "watch"}}
PEERING = {"list", "watch", "patch"}
# Only with gatewayAPI.enabled (router: gatewayAPI; used as tests/e2e/test_gateway_router.py
# records): the gate's own two Services, and the HTTPRoutes it names.
GATEWAY: Grants = {
    ("", "services", ""): {"list", "watch", "patch", "create", "delete"},
    ("gateway.networking.k8s.io", "httproutes", ""): {"list", "patch"},
    ("discovery.k8s.io", "endpointslices", ""): {"list"},
}


def scoped(grants: Grants, scope: str) -> Grants:
    return {(scope, group, resource): verbs for (group, resource, _), verbs in grants.items()}


def operator_grants(rendered: Rendered) -> Grants:
    """What the operator's ServiceAccount may do, keyed (scope, group, resource);
    scope "*" is cluster-wide, otherwise the namespace of a RoleBinding."""
    account = rendered.one("ServiceAccount")["metadata"]
    roles = {
        (o["kind"], o["metadata"].get("namespace", "*"), o["metadata"]["name"]): o
        for o in rendered.objects
        if o["kind"] in ("Role", "ClusterRole")
        # roles for people, not the operator: tests/packaging/test_aggregated_roles.py
        and not any(k.startswith(AGGREGATE_LABEL) for k in o["metadata"].get("labels") or {})
        # people who sign off, or run kubectl gate abort/retry/promote
        and not o["metadata"]["name"].endswith(("-approver", "-abort", "-retry", "-promote"))
    }
    bound: set[tuple[str, str, str]] = set()
    grants: Grants = {}
    for binding in rendered.of_kind("ClusterRoleBinding") + rendered.of_kind("RoleBinding"):
        subjects = [(s["kind"], s["name"], s["namespace"]) for s in binding["subjects"]]
        assert subjects == [("ServiceAccount", account["name"], account["namespace"])]
        scope = binding["metadata"].get("namespace", "*")
        ref = binding["roleRef"]
        key = (ref["kind"], "*" if ref["kind"] == "ClusterRole" else scope, ref["name"])
        assert key in roles, f"{binding['metadata']['name']} binds a role the chart lacks: {key}"
        bound.add(key)
        for rule in roles[key]["rules"]:
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    grants.setdefault((scope, group, resource), set()).update(rule["verbs"])
    assert bound == set(roles), f"roles bound to nobody: {set(roles) - bound}"
    return grants


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (
            {},
            scoped(NAMESPACED, "*")
            | scoped(CLUSTER, "*")
            | {("*", "kopf.dev", "clusterkopfpeerings"): PEERING},
        ),
        (
            {"watchNamespaces": ["team-a", "team-b"]},
            scoped(CLUSTER, "*")
            | scoped(NAMESPACES, "*")
            | scoped(NAMESPACED, "team-a")
            | scoped(NAMESPACED, "team-b")
            | {("team-a", "kopf.dev", "kopfpeerings"): PEERING}
            | {("team-b", "kopf.dev", "kopfpeerings"): PEERING},
        ),
        (STANDALONE, scoped(NAMESPACED, "*") | scoped(CLUSTER, "*")),
        (
            {**STANDALONE, "gatewayAPI": {"enabled": True}},
            scoped(NAMESPACED | GATEWAY, "*") | scoped(CLUSTER, "*"),
        ),
    ],
    ids=["all-namespaces-peering", "listed-namespaces-peering", "standalone", "gateway-api"],
)
def test_rbac_grants_exactly_what_the_operator_uses(
    render: RenderFn, values: dict[str, Any], expected: Grants
) -> None:
    assert operator_grants(render(values)) == expected


def test_rbac_has_no_wildcards_or_resource_names_tricks(render: RenderFn) -> None:
    for values in ({}, EVERYTHING, STANDALONE):
        for role in render(values).of_kind("ClusterRole") + render(values).of_kind("Role"):
            for rule in role["rules"]:
                assert set(rule) <= {"apiGroups", "resources", "verbs"}, rule
                for field in ("apiGroups", "resources", "verbs"):
                    assert not [v for v in rule[field] if "*" in v], (role["metadata"], rule)


def test_rbac_can_be_left_to_the_cluster_admin(render: RenderFn) -> None:
    rendered = render(
        {"rbac": {"create": False}, "serviceAccount": {"create": False, "name": "ops"}}
    )
    assert not {"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding", "ServiceAccount"} & (
        rendered.kinds
    )
    assert rendered.one("Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == "ops"


# ------------------------------------------------------------ schema


@pytest.mark.parametrize(
    ("values", "complaint"),
    [
        ({"replicas": "two"}, "/replicas"),
        ({"replica": 2}, "replica"),
        ({"logLevel": "verbose"}, "/logLevel"),
        ({"watchNamespaces": ["Team_A"]}, "/watchNamespaces/0"),
        ({"shards": [{"name": "a", "namespaces": []}]}, "/shards/0/namespaces"),
        ({"shards": [{"name": "A", "namespaces": ["x"]}]}, "/shards/0/name"),
        ({"metrics": {"port": 70000}}, "/metrics/port"),
        ({"serviceMonitor": {"jobName": "operator"}}, "/serviceMonitor/jobName"),
        ({"prometheusRule": {"thresholds": {"blockedFor": "a minute"}}}, "blockedFor"),
        ({"prometheusRule": {"thresholds": {"reconcileErrorRatio": 5}}}, "reconcileErrorRatio"),
    ],
    ids=lambda v: json.dumps(v) if isinstance(v, dict) else "",
)
def test_schema_rejects_bad_values_naming_the_field(
    render: RenderFn, values: dict[str, Any], complaint: str
) -> None:
    with pytest.raises(HelmError, match=r"schema|values don't meet") as refused:
        render(values)
    assert complaint in str(refused.value)


def test_schema_is_draft_07_and_covers_every_default_value(chart_dir: Path) -> None:
    schema = json.loads((chart_dir / "values.schema.json").read_text())
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"

    def walk(values: dict[str, Any], node: dict[str, Any], path: str) -> None:
        for key, value in values.items():
            assert key in node.get("properties", {}), f"values.yaml {path}{key} has no schema"
            child = node["properties"][key]
            if isinstance(value, dict) and child.get("properties"):
                walk(value, child, f"{path}{key}.")

    walk(values_of(chart_dir), schema, "")


# -------------------------------------------------------------- CRDs


def test_chart_ships_the_crd_of_deploy_crds() -> None:
    if not CRD_SOURCE.exists():
        pytest.skip(f"{CRD_SOURCE.relative_to(CHART.parents[2])} is not written yet")
    chart_copy = CHART / "crds" / CRD_NAME
    assert chart_copy.exists() and chart_copy.read_bytes() == CRD_SOURCE.read_bytes(), (
        "the chart's CRD differs from deploy/crds; run: "
        f"cp deploy/crds/{CRD_NAME} deploy/helm/deploymentgate/crds/"
    )


def test_packaged_chart_carries_the_crds_and_alert_rules(
    helm: Path, chart_dir: Path, tmp_path: Path
) -> None:
    result = run_tool(helm, "package", chart_dir, "--destination", tmp_path)
    assert result.returncode == 0, result.stderr
    (package,) = tmp_path.glob("deploymentgate-*.tgz")
    with tarfile.open(package) as archive:
        names = set(archive.getnames())
        crd = archive.extractfile(f"deploymentgate/crds/{CRD_NAME}")
        assert crd is not None
        assert crd.read() == (chart_dir / "crds" / CRD_NAME).read_bytes()
    assert {
        "deploymentgate/crds/kopf-peering.yaml",
        "deploymentgate/files/alerts.yaml",
        "deploymentgate/files/dashboard.json",
        "deploymentgate/values.schema.json",
    } <= names

    shown = run_tool(helm, "show", "crds", package)
    assert shown.returncode == 0, shown.stderr
    crd_names = {d["metadata"]["name"] for d in yaml.safe_load_all(shown.stdout) if d}
    assert crd_names == {
        "deploymentgates.rollout.deploymentgate.dev",
        "gateapprovals.rollout.deploymentgate.dev",
        "metricchecktemplates.rollout.deploymentgate.dev",
        "clustermetricchecktemplates.rollout.deploymentgate.dev",
        "clusterkopfpeerings.kopf.dev",
        "kopfpeerings.kopf.dev",
    }


def test_install_renders_crds_before_anything_that_needs_them(helm: Path, chart_dir: Path) -> None:
    rendered = helm_template(helm, chart_dir, extra=["--include-crds"])
    kinds = [o["kind"] for o in rendered.objects]
    assert kinds[:6] == ["CustomResourceDefinition"] * 6
    assert "CustomResourceDefinition" not in kinds[6:]


def test_chart_app_version_is_the_operator_version(chart_dir: Path, render: RenderFn) -> None:
    chart = yaml.safe_load((chart_dir / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2"
    assert chart["appVersion"] == deploymentgate.__version__
    image = render({}).operator_container["image"]
    assert image.endswith(f":{deploymentgate.__version__}")
    digest = "sha256:" + "a" * 64
    pinned = render({"image": {"digest": digest}}).operator_container["image"]
    assert pinned.endswith(f"@{digest}")


# ------------------------------------------- the serving key of gated Services

MUTATING_API = "admissionregistration.k8s.io/v1/MutatingAdmissionPolicy"
SELECTOR_POLICY = "serving-selector.rollout.deploymentgate.dev"


def selector_policy_kinds(rendered: Rendered) -> list[str]:
    return [o["kind"] for o in rendered.objects if o["metadata"]["name"] == SELECTOR_POLICY]


def test_the_selector_policy_follows_what_the_cluster_serves(
    helm: Path, chart_dir: Path, tmp_path: Path
) -> None:
    """`auto`: mending (MutatingAdmissionPolicy) where the API server serves it,
    refusing (ValidatingAdmissionPolicy) elsewhere; both for the release's own
    ServiceAccount."""
    mutating = helm_template(helm, chart_dir, extra=["--api-versions", MUTATING_API])
    plain = helm_template(helm, chart_dir)
    assert selector_policy_kinds(mutating) == [
        "MutatingAdmissionPolicy",
        "MutatingAdmissionPolicyBinding",
    ]
    assert selector_policy_kinds(plain) == [
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
    ]
    operator = f"system:serviceaccount:{NAMESPACE}:rel-deploymentgate"
    for rendered in (mutating, plain):
        (policy,) = [
            o
            for o in rendered.objects
            if o["metadata"]["name"] == SELECTOR_POLICY and o["kind"].endswith("Policy")
        ]
        (condition,) = policy["spec"]["matchConditions"]
        assert condition["expression"] == f"request.userInfo.username != '{operator}'"
    forced = helm_template(
        helm,
        chart_dir,
        write_values(tmp_path, {"servingSelectorPolicy": {"kind": "Validating"}}),
        extra=["--api-versions", MUTATING_API],
    )
    assert selector_policy_kinds(forced)[0] == "ValidatingAdmissionPolicy"
    off = helm_template(
        helm, chart_dir, write_values(tmp_path, {"servingSelectorPolicy": {"enabled": False}})
    )
    assert selector_policy_kinds(off) == []


def test_an_unknown_selector_policy_kind_is_refused_by_name(render: RenderFn) -> None:
    with pytest.raises(HelmError, match="kind"):
        render({"servingSelectorPolicy": {"kind": "Sometimes"}})
