"""The indexes: the world as the gates need it, kept by kopf's watches, and
`world_of`, the lookups a pass makes into them.

Each change an index sees also wakes the gates it may concern (memo.wake*)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import kopf

from deploymentgate.controller.autoscalers import AutoscalerInfo, summarize_autoscaler
from deploymentgate.controller.check_templates import Entry, summarize_template
from deploymentgate.controller.jobs import JobInfo, is_smoke_job, summarize_job
from deploymentgate.controller.pods import PodInfo, gate_of, summarize_pod
from deploymentgate.controller.registry import GATES, registry
from deploymentgate.controller.signoffs import summarize_approval
from deploymentgate.controller.workloads import (
    DeploymentInfo,
    GateRef,
    ServiceInfo,
    gate_claims,
    summarize_deployment,
    summarize_service,
)
from deploymentgate.controller.world import World
from deploymentgate.core.inputs import ObservedSignOff
from deploymentgate.core.requires import index_entry
from deploymentgate.k8s.builders import GATE_LABEL, controller_uid
from deploymentgate.models import (
    API_GROUP,
    API_VERSION,
    APPROVAL_PLURAL,
    CLUSTER_TEMPLATE_KIND,
    CLUSTER_TEMPLATE_PLURAL,
    KIND,
    TEMPLATE_KIND,
    TEMPLATE_PLURAL,
)

# Each index is keyed for the lookups a pass makes (World): nothing is copied
# or scanned per pass. async: kopf runs sync handlers in worker threads, and
# the wake-ups below are asyncio.Events, which only the loop's thread may set.


@kopf.index("apps", "v1", "deployments", registry=registry)
async def deployments_idx(
    namespace: str | None, name: str, body: kopf.Body, memo: Any, **_: Any
) -> dict[tuple[str, str], DeploymentInfo]:
    ns = namespace or ""
    info = summarize_deployment(body)
    memo.wake_interested("deployment", ns, name)
    owner = _controller_name(body)
    if owner is not None:
        memo.wake(ns, owner, "owned-deployment")
    return {(ns, name): info}


@kopf.index("apps", "v1", "deployments", registry=registry)
async def owned_idx(body: kopf.Body, name: str, **_: Any) -> dict[str, str]:
    """gate uid -> names of the Deployments that gate controls."""
    uid = controller_uid(body.metadata)
    return {uid: name} if uid else {}


@kopf.index("", "v1", "services", registry=registry)
async def services_idx(
    namespace: str | None, name: str, body: kopf.Body, memo: Any, **_: Any
) -> dict[tuple[str, str], ServiceInfo]:
    ns = namespace or ""
    memo.wake_interested("service", ns, name)
    return {(ns, name): summarize_service(body)}


@kopf.index("", "v1", "pods", registry=registry)
async def pods_idx(
    namespace: str | None, body: kopf.Body, memo: Any, **_: Any
) -> dict[tuple[str, str], PodInfo]:
    """Only pods carrying a gate's label: the team's other pods cost nothing."""
    gate = gate_of(dict(body.metadata.labels))
    if gate is None:
        return {}
    ns = namespace or ""
    info = summarize_pod(dict(body))
    # A gate's pod with an address: its prober may start the startup probe now,
    # before the app listens, rather than on the gate's next pass.
    reconciler = memo.reconcilers.get((ns, gate)) if info.ip else None
    if reconciler is not None:
        reconciler.prober.on_pod(info)
    memo.wake_interested("pods", ns, gate)
    return {(ns, gate): info}


@kopf.index("autoscaling", "v2", "horizontalpodautoscalers", registry=registry)
async def autoscalers_idx(
    namespace: str | None, body: kopf.Body, memo: Any, **_: Any
) -> dict[tuple[str, str], AutoscalerInfo]:
    """HPAs that scale a Deployment, by name; a change wakes the gates that
    look at the Deployment it scales, and a gate's own HPA wakes that gate."""
    info = summarize_autoscaler(body)
    if info is None:
        return {}
    ns = namespace or ""
    memo.wake_interested("autoscaler", ns, info.state.target)
    owner = _controller_name(body)
    if owner is not None:
        memo.wake(ns, owner, "own-autoscaler")
    return {(ns, info.name): info}


@kopf.index("autoscaling", "v2", "horizontalpodautoscalers", registry=registry)
async def scaling_idx(
    namespace: str | None, body: kopf.Body, **_: Any
) -> dict[tuple[str, str], AutoscalerInfo]:
    """The same HPAs by the Deployment they scale."""
    info = summarize_autoscaler(body)
    return {(namespace or "", info.state.target): info} if info is not None else {}


@kopf.index("batch", "v1", "jobs", registry=registry)
async def jobs_idx(
    namespace: str | None, body: kopf.Body, memo: Any, **_: Any
) -> dict[tuple[str, str], JobInfo]:
    """Smoke-test Jobs (a gate's label and role smoke) by (namespace, gate label)."""
    labels = dict(body.metadata.labels)
    if not is_smoke_job(labels):
        return {}
    ns = namespace or ""
    owner = _controller_name(body)
    if owner is not None:
        memo.wake(ns, owner, "job")
    return {(ns, labels[GATE_LABEL]): summarize_job(body)}


@kopf.index(*GATES, registry=registry)
async def gates_idx(
    namespace: str | None,
    name: str,
    spec: kopf.Spec,
    status: kopf.Status,
    meta: kopf.Meta,
    memo: Any,
    **_: Any,
) -> dict[tuple[str, str], dict[str, Any]]:
    """What other gates' spec.requires may read, with whom this gate lets read it.

    Also the gate's own wake-up: any change but the echo of our own status
    write (a new spec, a status someone else wrote) runs its loop now; and the
    gates that require this one look again."""
    ns = namespace or ""
    memo.wake_interested("gate", ns, name, besides=(ns, name), cause="required-gate")
    reconciler = memo.reconcilers.get((ns, name))
    if reconciler is None or not reconciler.wrote(meta.get("resourceVersion")):
        memo.wake(ns, name, "gate")
    return {(ns, name): index_entry(spec, status)}


@kopf.index(API_GROUP, API_VERSION, APPROVAL_PLURAL, registry=registry)
async def approvals_idx(
    namespace: str | None, body: kopf.Body, memo: Any, **_: Any
) -> dict[tuple[str, str], ObservedSignOff]:
    """Sign-offs by (namespace, gate); core.signoff decides which count."""
    found = summarize_approval(body)
    if found is None:
        return {}
    ns = namespace or ""
    memo.wake(ns, found[0], "approval")
    return {(ns, found[0]): found[1]}


@kopf.index(API_GROUP, API_VERSION, TEMPLATE_PLURAL, registry=registry)
async def templates_idx(
    namespace: str | None, name: str, spec: kopf.Spec, **_: Any
) -> dict[tuple[str, str], Entry]:
    """MetricCheckTemplates by (namespace, name). No gate is woken: each prober
    reads its checks' templates here at every evaluation."""
    ns = namespace or ""
    where = f"{name} in namespace {ns}"
    return {(ns, name): summarize_template(TEMPLATE_KIND, where, spec)}


@kopf.index(API_GROUP, API_VERSION, CLUSTER_TEMPLATE_PLURAL, registry=registry)
async def cluster_templates_idx(name: str, spec: kopf.Spec, **_: Any) -> dict[str, Entry]:
    """ClusterMetricCheckTemplates by name (see templates_idx)."""
    return {name: summarize_template(CLUSTER_TEMPLATE_KIND, name, spec)}


@kopf.index(*GATES, registry=registry)
async def claims_idx(
    namespace: str | None, name: str, body: kopf.Body, memo: Any, **_: Any
) -> dict[tuple[str, str, str], GateRef]:
    """The Deployment and Service each gate names, for "one gate per Deployment"."""
    claims = gate_claims(namespace or "", body)
    for kind, ns, claimed in claims:  # a gate came or went: the others look again
        memo.wake_interested(kind, ns, claimed, besides=(ns, name), cause="claim")
    return claims


def _controller_name(body: kopf.Body) -> str | None:
    for ref in body.metadata.get("ownerReferences") or []:
        if ref.get("controller") and ref.get("kind") == KIND:
            return str(ref.get("name"))
    return None


def world_of(kwargs: Mapping[str, Any]) -> World:
    """Lookups into the live indexes (nothing copied)."""
    return World(
        deployments=kwargs["deployments_idx"],
        owned=kwargs["owned_idx"],
        services=kwargs["services_idx"],
        pods=kwargs["pods_idx"],
        gates=kwargs["gates_idx"],
        claims=kwargs["claims_idx"],
        jobs=kwargs["jobs_idx"],
        autoscalers=kwargs["autoscalers_idx"],
        scaling=kwargs["scaling_idx"],
        templates=kwargs["templates_idx"],
        cluster_templates=kwargs["cluster_templates_idx"],
    )
