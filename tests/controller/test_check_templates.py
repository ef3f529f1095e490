"""The thin layer's side of reusable metric checks: templates summarized for
kopf's indexes, and the lookup each gate's prober makes into them (plain dicts
stand in for the indexes, as World's do)."""

from __future__ import annotations

from typing import Any, cast

import pytest

from deploymentgate.controller import handlers
from deploymentgate.controller.check_templates import (
    find_template,
    summarize_template,
    template_lookup,
)
from deploymentgate.controller.identity import GateIdentity
from deploymentgate.controller.indexes import world_of
from deploymentgate.controller.pods import PodInfo
from deploymentgate.controller.reconcile import GateReconciler
from deploymentgate.core import ProbeRun, ProbeWorkload
from deploymentgate.k8s.api import KubeApi
from deploymentgate.k8s.builders import (
    GATE_LABEL,
    REVISION_LABEL,
    ROLE_LABEL,
    ROLE_SERVING,
    SERVING_LABEL,
)
from deploymentgate.metrics import GateMetrics
from deploymentgate.models import MetricCheckTemplateSpec, TemplateRef
from deploymentgate.observations import ProbeKind

QUERY = 'lat{namespace="{namespace}",pod=~"{pod_regex}"}'


def ref(kind: str, name: str) -> TemplateRef:
    return TemplateRef.model_validate({"kind": kind, "name": name})


def parsed(query: str = QUERY, **fields: Any) -> MetricCheckTemplateSpec:
    return MetricCheckTemplateSpec.model_validate({"query": query, **fields})


NAMESPACED = {
    ("shop", "p95"): [parsed()],
    ("platform", "shared"): [parsed("shared")],
    ("shop", "errors"): [parsed("shop-errors")],
}
CLUSTER = {"errors": [parsed("cluster-errors")], "p95": [parsed("cluster-p95")]}


def test_a_namespaced_template_is_found_in_the_gates_namespace() -> None:
    assert find_template(ref("MetricCheckTemplate", "p95"), "shop", NAMESPACED, CLUSTER) == (
        parsed()
    )


def test_a_namespaced_template_of_another_namespace_is_not_found() -> None:
    found = find_template(ref("MetricCheckTemplate", "shared"), "shop", NAMESPACED, CLUSTER)
    assert found == "MetricCheckTemplate shared not found in namespace shop"
    found = find_template(ref("MetricCheckTemplate", "p95"), "payments", NAMESPACED, CLUSTER)
    assert found == "MetricCheckTemplate p95 not found in namespace payments"


def test_a_cluster_template_serves_every_namespace() -> None:
    for namespace in ("shop", "payments"):
        found = find_template(
            ref("ClusterMetricCheckTemplate", "errors"), namespace, NAMESPACED, CLUSTER
        )
        assert found == parsed("cluster-errors")
    missing = find_template(ref("ClusterMetricCheckTemplate", "nope"), "shop", NAMESPACED, CLUSTER)
    assert missing == "ClusterMetricCheckTemplate nope not found"


def test_the_kind_decides_no_template_shadows_another() -> None:
    """The same name in both scopes: each ref gets the kind it names."""
    namespaced = find_template(ref("MetricCheckTemplate", "errors"), "shop", NAMESPACED, CLUSTER)
    cluster = find_template(ref("ClusterMetricCheckTemplate", "errors"), "shop", NAMESPACED, {})
    assert namespaced == parsed("shop-errors")
    assert cluster == "ClusterMetricCheckTemplate errors not found"
    only_cluster = find_template(ref("MetricCheckTemplate", "p95"), "payments", {}, CLUSTER)
    assert only_cluster == "MetricCheckTemplate p95 not found in namespace payments"


def test_an_invalid_template_is_indexed_with_why() -> None:
    entry = summarize_template(
        "MetricCheckTemplate", "p95 in namespace shop", {"query": "vector(1)", "minBaseline": 1}
    )
    assert entry == (
        "MetricCheckTemplate p95 in namespace shop is invalid: spec: minBaseline needs relativeTo"
    )
    found = find_template(ref("MetricCheckTemplate", "p95"), "shop", {("shop", "p95"): [entry]}, {})
    assert found == entry
    assert summarize_template("ClusterMetricCheckTemplate", "e", {"query": "q"}) == parsed("q")


def test_the_lookup_reads_the_live_index_at_each_call() -> None:
    index: dict[tuple[str, str], list[MetricCheckTemplateSpec | str]] = {}
    lookup = template_lookup("shop", index, {})
    p95 = ref("MetricCheckTemplate", "p95")
    assert lookup(p95) == "MetricCheckTemplate p95 not found in namespace shop"
    index["shop", "p95"] = [parsed("v1")]
    assert lookup(p95) == parsed("v1")
    index["shop", "p95"] = [parsed("v2")]  # the template changed
    assert lookup(p95) == parsed("v2")
    del index["shop", "p95"]  # and was deleted
    assert lookup(p95) == "MetricCheckTemplate p95 not found in namespace shop"


def indexes() -> dict[str, Any]:
    """Every kopf index the handlers declare, empty, keyed by its name."""
    return {h.id: {} for h in handlers.registry._indexing.get_all_handlers()}


def pointed(monkeypatch: pytest.MonkeyPatch, kwargs: dict[str, Any]) -> dict[str, Any]:
    """What a metrics-probing reconciler (v2 under test, v1 stable) hands its prober."""
    reconciler = GateReconciler("shop", "chat", cast(KubeApi, object()), GateMetrics())
    handed: dict[str, Any] = {}
    monkeypatch.setattr(
        reconciler.prober,
        "sync_targets",
        lambda pods, stable, templates: handed.update(stable=stable, templates=templates),
    )
    reconciler.prober.plan = ProbeRun("v2", ProbeWorkload.CANARY, frozenset({ProbeKind.METRICS}))
    gate = GateIdentity("shop", "chat", "uid", "chat", "chat")
    reconciler._point_prober(gate, world_of(kwargs), "v1")
    return handed


def test_the_reconciler_points_its_prober_at_the_indexes_of_templates(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each pass hands the prober a lookup into the world's (live) template indexes,
    keyed by the handlers' index names, for the gate's own namespace."""
    kwargs = indexes()
    kwargs["templates_idx"][("shop", "p95")] = [parsed("q")]
    kwargs["cluster_templates_idx"]["errors"] = [parsed("c")]

    lookup = pointed(monkeypatch, kwargs)["templates"]
    assert lookup(ref("MetricCheckTemplate", "p95")) == parsed("q")
    assert lookup(ref("ClusterMetricCheckTemplate", "errors")) == parsed("c")
    kwargs["templates_idx"][("shop", "p95")] = [parsed("edited")]  # live, not a copy
    assert lookup(ref("MetricCheckTemplate", "p95")) == parsed("edited")
    assert lookup(ref("MetricCheckTemplate", "x")) == (
        "MetricCheckTemplate x not found in namespace shop"
    )


def test_a_relative_baseline_is_the_stables_pods_taking_traffic_not_parked_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """At a 100% step with the watch after promotion on, the stable's pods run on
    parked (no serving label): they take no traffic, so they are no baseline."""
    kwargs = indexes()

    def pod(name: str, *, serving: bool) -> PodInfo:
        labels = {GATE_LABEL: "chat", ROLE_LABEL: ROLE_SERVING, REVISION_LABEL: "v1"}
        if serving:
            labels[SERVING_LABEL] = "chat"
        return PodInfo(name, "shop", labels, "10.0.0.1", 8000, True, None, "chat-v1-abc", False)

    kwargs["pods_idx"][("shop", "chat")] = [pod("a", serving=True), pod("b", serving=False)]
    handed = pointed(monkeypatch, kwargs)

    revision, pods = handed["stable"]()
    assert revision == "v1" and [p.name for p in pods] == ["a"]
    kwargs["pods_idx"][("shop", "chat")] = [pod("b", serving=False)]  # all parked
    assert handed["stable"]() == ("v1", [])
