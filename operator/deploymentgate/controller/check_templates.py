"""Reusable metric checks: MetricCheckTemplates and ClusterMetricCheckTemplates,
summarized for kopf's indexes, and the lookup a gate's prober makes into them.

The prober asks at each evaluation (a lookup by key, nothing fetched), so a
template's change applies from the next evaluation of every check naming it.
A namespaced template is found in the gate's own namespace only; a cluster
one by its name. What the lookup cannot find, or finds invalid, it says why:
the check is then no data (never a pass), and its status says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from deploymentgate.core.spec_errors import describe
from deploymentgate.models import (
    CLUSTER_TEMPLATE_KIND,
    TEMPLATE_KIND,
    MetricCheckTemplateSpec,
    TemplateRef,
)
from deploymentgate.probes.kind_runner import TemplateLookup

# An index entry: the template, or why it cannot be used.
Entry = MetricCheckTemplateSpec | str
# (namespace, name) -> entries of MetricCheckTemplates; name -> of ClusterMetricCheckTemplates.
NamespacedIndex = Mapping[tuple[str, str], Iterable[Entry]]
ClusterIndex = Mapping[str, Iterable[Entry]]


def summarize_template(kind: str, where: str, spec: Mapping[str, Any]) -> Entry:
    """The template's spec, parsed; or why it is invalid (`where`: "x in namespace y")."""
    try:
        return MetricCheckTemplateSpec.model_validate(dict(spec))
    except ValidationError as exc:
        return f"{kind} {where} is invalid: {describe(exc)}"


def find_template(
    ref: TemplateRef, namespace: str, namespaced: NamespacedIndex, cluster: ClusterIndex
) -> Entry:
    """What the gate in `namespace` gets for its check's templateRef."""
    if ref.kind == TEMPLATE_KIND:
        found = _first(namespaced.get((namespace, ref.name)))
        missing = f"{TEMPLATE_KIND} {ref.name} not found in namespace {namespace}"
    else:
        found = _first(cluster.get(ref.name))
        missing = f"{CLUSTER_TEMPLATE_KIND} {ref.name} not found"
    return missing if found is None else found


def template_lookup(
    namespace: str, namespaced: NamespacedIndex, cluster: ClusterIndex
) -> TemplateLookup:
    """The prober's lookup for one gate, into the live indexes."""

    def lookup(ref: TemplateRef) -> Entry:
        return find_template(ref, namespace, namespaced, cluster)

    return lookup


def _first(store: Iterable[Entry] | None) -> Entry | None:
    return next(iter(store), None) if store is not None else None
