"""The cluster as one gate's pass reads it: lookups by key into kopf's indexes.

Nothing is copied per pass: each lookup reads the one key it needs, so the
cost of a pass does not grow with the number of gates or objects in the
cluster. The indexes are live (kopf updates them between our awaits); a pass
reads what it needs in one go before its first await.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from deploymentgate.controller.autoscalers import AutoscalerInfo
from deploymentgate.controller.check_templates import ClusterIndex, NamespacedIndex
from deploymentgate.controller.jobs import JobInfo
from deploymentgate.controller.pods import PodInfo
from deploymentgate.controller.workloads import DeploymentInfo, GateRef, ServiceInfo

V = TypeVar("V")
# kopf.Index[K, V] is a Mapping[K, Store[V]], a Store an iterable of values;
# tests pass plain dicts of lists.
IndexOf = Mapping[Any, Iterable[V]]


def _first(index: IndexOf[V], key: Any) -> V | None:
    store = index.get(key)
    return next(iter(store), None) if store is not None else None


@dataclass(frozen=True)
class World:
    """deployments   (ns, name) -> DeploymentInfo
    owned         gate uid -> names of the Deployments that gate controls
    services      (ns, name) -> ServiceInfo
    pods          (ns, gate label value) -> PodInfo of pods carrying our gate label
    gates         (ns, name) -> a gate's status (for spec.requires)
    claims        ("deployment"|"service", ns, name) -> GateRef of each gate naming it
    jobs          (ns, gate label value) -> JobInfo of smoke-test Jobs carrying our labels
    autoscalers   (ns, name) -> AutoscalerInfo of HPAs that scale a Deployment
    scaling       (ns, Deployment name) -> AutoscalerInfo of the HPAs scaling it
    templates     (ns, name) -> a MetricCheckTemplate's spec, or why it is invalid
    cluster_templates  name -> a ClusterMetricCheckTemplate's spec, or why it is invalid
    """

    deployments: IndexOf[DeploymentInfo] = field(default_factory=dict)
    owned: IndexOf[str] = field(default_factory=dict)
    services: IndexOf[ServiceInfo] = field(default_factory=dict)
    pods: IndexOf[PodInfo] = field(default_factory=dict)
    gates: IndexOf[Mapping[str, Any]] = field(default_factory=dict)
    claims: IndexOf[GateRef] = field(default_factory=dict)
    jobs: IndexOf[JobInfo] = field(default_factory=dict)
    autoscalers: IndexOf[AutoscalerInfo] = field(default_factory=dict)
    scaling: IndexOf[AutoscalerInfo] = field(default_factory=dict)
    templates: NamespacedIndex = field(default_factory=dict)
    cluster_templates: ClusterIndex = field(default_factory=dict)
    # Objects read live this pass because the index had not seen them yet.
    live: Mapping[tuple[str, str, str], DeploymentInfo | ServiceInfo] = field(default_factory=dict)

    def deployment(self, namespace: str, name: str) -> DeploymentInfo | None:
        """The Deployment at that name; a live one before one being deleted."""
        read = self.live.get(("deployment", namespace, name))
        if isinstance(read, DeploymentInfo):
            return read
        store = self.deployments.get((namespace, name))
        found = list(store) if store is not None else []
        live = [d for d in found if d.state.exists]
        return next(iter(live or found), None)

    def owned_by(self, namespace: str, gate_uid: str) -> list[DeploymentInfo]:
        """The Deployments the gate `gate_uid` controls (found by name, then
        confirmed: the ownerReference of the object at that name is the gate's)."""
        names = set(self.owned.get(gate_uid) or ())
        names |= {n for (kind, ns, n) in self.live if kind == "deployment" and ns == namespace}
        out = []
        for name in sorted(names):
            info = self.deployment(namespace, name)
            if info is not None and info.owned_by(gate_uid):
                out.append(info)
        return out

    def service(self, namespace: str, name: str) -> ServiceInfo | None:
        read = self.live.get(("service", namespace, name))
        if isinstance(read, ServiceInfo):
            return read
        return _first(self.services, (namespace, name))

    def pods_of(self, namespace: str, gate_label: str) -> list[PodInfo]:
        return list(self.pods.get((namespace, gate_label)) or ())

    def jobs_of(self, namespace: str, gate_label: str) -> list[JobInfo]:
        return list(self.jobs.get((namespace, gate_label)) or ())

    def autoscaler(self, namespace: str, name: str) -> AutoscalerInfo | None:
        return _first(self.autoscalers, (namespace, name))

    def autoscalers_of(self, namespace: str, deployment: str) -> list[AutoscalerInfo]:
        """The HPAs that scale this Deployment, by name."""
        return sorted(self.scaling.get((namespace, deployment)) or (), key=lambda a: a.name)

    def gate_status(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        return _first(self.gates, (namespace, name))

    def claimants(self, kind: str, namespace: str, name: str) -> list[GateRef]:
        return list(self.claims.get((kind, namespace, name)) or ())

    def with_live(self, info: DeploymentInfo | ServiceInfo) -> World:
        """This world plus one object read live (the index had not seen it yet)."""
        kind = "deployment" if isinstance(info, DeploymentInfo) else "service"
        live = {**self.live, (kind, info.namespace, info.name): info}
        return replace(self, live=live)
