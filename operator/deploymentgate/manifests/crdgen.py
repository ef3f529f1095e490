"""Generate the DeploymentGate CRD from the pydantic models.

The models are the single source of truth: field names, types, enums, bounds,
patterns, descriptions and CEL rules all come from `deploymentgate.models`, so
the CRD the API server enforces cannot drift from what the operator parses.
A test fails when a committed file is stale. This module only builds the
texts; `make generate` writes them into the checkout.
"""

from __future__ import annotations

import json
from pathlib import PurePosixPath
from typing import Any

import yaml
from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, NoDefault
from pydantic_core import core_schema

from deploymentgate.manifests import (
    approval_policy,
    command_policy,
    selector_policy,
    serving_policy,
)
from deploymentgate.models import (
    API_GROUP,
    API_VERSION,
    APPROVAL_KIND,
    APPROVAL_PLURAL,
    CLUSTER_TEMPLATE_KIND,
    CLUSTER_TEMPLATE_PLURAL,
    KIND,
    PLURAL,
    TEMPLATE_KIND,
    TEMPLATE_PLURAL,
    GateApprovalSpec,
    GateSpec,
    GateStatus,
    MetricCheckTemplateSpec,
)

CRD_NAME = f"{PLURAL}.{API_GROUP}"
REGENERATE = "make generate"
SHORT_NAMES = ["dg", "dgate"]
CATEGORIES = ["gates"]
HEADER = (
    "# Generated from deploymentgate/models.py by `make generate`.\n"
    "# Do not edit by hand: change the models and regenerate.\n"
)
# Where each generated file goes, relative to the repository's root.
CRD_FILE = PurePosixPath("deploy") / "crds" / f"{CRD_NAME}.yaml"
CHART = PurePosixPath("deploy") / "helm" / "deploymentgate"
POLICIES = PurePosixPath("deploy") / "policy"
APPROVAL_CRD_NAME = f"{APPROVAL_PLURAL}.{API_GROUP}"
TEMPLATE_CRD_NAME = f"{TEMPLATE_PLURAL}.{API_GROUP}"
CLUSTER_TEMPLATE_CRD_NAME = f"{CLUSTER_TEMPLATE_PLURAL}.{API_GROUP}"
POLICY_FILE = "gateapprovals-policy.yaml"

# The gate's name is a label value on every object it creates (63 at most).
# A CRD may restrict metadata.name (and nothing else of metadata) at its root.
NAME_MAX = 63
METADATA = {
    "type": "object",
    "properties": {"name": {"type": "string", "maxLength": NAME_MAX}},
}

PRINTER_COLUMNS: list[dict[str, Any]] = [
    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
    {"name": "Target", "type": "string", "jsonPath": ".spec.targetRef.name"},
    {
        "name": "Revision",
        "type": "string",
        "jsonPath": ".status.revision",
        "description": "Revision under test",
    },
    {
        "name": "Weight",
        "type": "integer",
        "jsonPath": ".status.canaryWeight",
        "description": "Percent of traffic meant for the revision under test",
    },
    {
        "name": "Stable",
        "type": "string",
        "jsonPath": ".status.stableRevision",
        "priority": 1,
    },
    {"name": "Message", "type": "string", "jsonPath": ".status.message", "priority": 1},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]

APPROVAL_PRINTER_COLUMNS: list[dict[str, Any]] = [
    {"name": "Gate", "type": "string", "jsonPath": ".spec.gate"},
    {"name": "Role", "type": "string", "jsonPath": ".spec.role"},
    {"name": "Approver", "type": "string", "jsonPath": ".spec.approver"},
    {"name": "Revision", "type": "string", "jsonPath": ".spec.revision"},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]

TEMPLATE_PRINTER_COLUMNS: list[dict[str, Any]] = [
    {"name": "Relative", "type": "string", "jsonPath": ".spec.relativeTo"},
    {"name": "Description", "type": "string", "jsonPath": ".spec.description"},
    {"name": "Query", "type": "string", "jsonPath": ".spec.query", "priority": 1},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]

# JSON-schema keys a structural CRD schema either forbids or has no use for.
_DROPPED = {"title", "default", "additionalProperties", "$ref", "anyOf", "const"}
# Readable key order in the generated YAML; anything else follows, sorted.
_KEY_ORDER = ["description", "type", "format", "enum", "nullable"]
_KEY_LAST = ["properties", "additionalProperties", "items", "required"]


class _FactoryDefaults(GenerateJsonSchema):
    """Also show defaults built by `default_factory` (steps, phases, events)."""

    def get_default_value(self, schema: core_schema.WithDefaultSchema) -> Any:
        factory = schema.get("default_factory")
        if factory is not None and not schema.get("default_factory_takes_data"):
            return factory()  # type: ignore[call-arg]
        return super().get_default_value(schema)


def openapi_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's wire form as a structural OpenAPI v3 schema (refs inlined)."""
    schema = model.model_json_schema(
        by_alias=True, mode="serialization", schema_generator=_FactoryDefaults
    )
    defs = schema.pop("$defs", {})
    return _convert(schema, defs)


def _convert(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    node = _flatten(node, defs)
    out: dict[str, Any] = {}
    description = _description(node)
    if description:
        out["description"] = description
    if "const" in node:
        out["type"] = "string"
        out["enum"] = [node["const"]]
    for key, value in node.items():
        if key in _DROPPED or key == "description" or key in out:
            continue
        if key == "properties":
            out["properties"] = {name: _convert(sub, defs) for name, sub in value.items()}
        elif key == "items":
            out["items"] = _convert(value, defs)
        else:
            out[key] = value
    extra = node.get("additionalProperties")
    if extra is True:
        out["x-kubernetes-preserve-unknown-fields"] = True
    elif isinstance(extra, dict):
        out["additionalProperties"] = _convert(extra, defs)
    return _ordered(out)


def _ordered(node: dict[str, Any]) -> dict[str, Any]:
    first = [k for k in _KEY_ORDER if k in node]
    last = [k for k in _KEY_LAST if k in node]
    middle = sorted(k for k in node if k not in first and k not in last)
    return {k: node[k] for k in [*first, *middle, *last]}


def _flatten(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """Inline `$ref` and collapse `Optional[X]` (anyOf X|null) into X.

    A field whose default is not null but which accepts null (errorRate: null
    disables it) is marked nullable, so the API server keeps the null instead
    of pruning it and silently re-enabling the default.
    """
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        merged = {k: v for k, v in node.items() if k != "$ref"}
        return _flatten({**target, **merged}, defs)
    if "anyOf" in node:
        branches = [b for b in node["anyOf"] if b.get("type") != "null"]
        if len(branches) != 1:
            raise ValueError(f"cannot express this union in a structural schema: {node}")
        siblings = {k: v for k, v in node.items() if k != "anyOf"}
        merged = {**_flatten(branches[0], defs), **siblings}
        if siblings.get("default", NoDefault) not in (None, NoDefault):
            merged["nullable"] = True
        return merged
    return node


def _describable_default(node: dict[str, Any]) -> bool:
    default = node.get("default")
    if default in (None, "", []) or isinstance(default, dict):
        return False
    if isinstance(default, list):
        return all(not isinstance(item, dict | list) for item in default)
    return True


def _description(node: dict[str, Any]) -> str:
    text = " ".join(str(node.get("description", "")).split())  # docstrings wrap; YAML need not
    if _describable_default(node):
        default = node["default"]
        shown = default if isinstance(default, str) else json.dumps(default)
        text = f"{text} Default: {shown}.".strip()
    return text


def build_crd() -> dict[str, Any]:
    """The CustomResourceDefinition object, ready to serialize."""
    root: dict[str, Any] = {
        "type": "object",
        "description": "Verifies every new revision of a Deployment before traffic moves to it.",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": METADATA,
            "spec": openapi_schema(GateSpec),
            "status": openapi_schema(GateStatus),
        },
        "required": ["spec"],
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": CRD_NAME,
            "labels": {"app.kubernetes.io/part-of": "deploymentgate"},
        },
        "spec": {
            "group": API_GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": KIND.lower(),
                "shortNames": SHORT_NAMES,
                "categories": CATEGORIES,
            },
            "versions": [
                {
                    "name": API_VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": PRINTER_COLUMNS,
                    "schema": {"openAPIV3Schema": root},
                }
            ],
        },
    }


def _spec_only_root(description: str, spec: type[BaseModel]) -> dict[str, Any]:
    """The schema of a kind that has a spec and no status."""
    return {
        "type": "object",
        "description": description,
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": openapi_schema(spec),
        },
        "required": ["spec"],
    }


def build_approval_crd() -> dict[str, Any]:
    """The GateApproval CRD: one sign-off, immutable (see manifests.approval_policy)."""
    root = _spec_only_root(
        "A sign-off: one person, in one role, for one revision of one gate."
        " Checked at admission by the ValidatingAdmissionPolicy"
        f" {approval_policy.POLICY_NAME}; never edited.",
        GateApprovalSpec,
    )
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": APPROVAL_CRD_NAME,
            "labels": {"app.kubernetes.io/part-of": "deploymentgate"},
        },
        "spec": {
            "group": API_GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": APPROVAL_KIND,
                "listKind": f"{APPROVAL_KIND}List",
                "plural": APPROVAL_PLURAL,
                "singular": APPROVAL_KIND.lower(),
                "shortNames": ["signoff", "signoffs"],
                "categories": CATEGORIES,
            },
            "versions": [
                {
                    "name": API_VERSION,
                    "served": True,
                    "storage": True,
                    "additionalPrinterColumns": APPROVAL_PRINTER_COLUMNS,
                    "schema": {"openAPIV3Schema": root},
                }
            ],
        },
    }


def build_template_crd(*, cluster: bool) -> dict[str, Any]:
    """The MetricCheckTemplate CRD (namespaced) or the ClusterMetricCheckTemplate CRD:
    a reusable check's query, named by gates' checks (templateRef)."""
    kind = CLUSTER_TEMPLATE_KIND if cluster else TEMPLATE_KIND
    plural = CLUSTER_TEMPLATE_PLURAL if cluster else TEMPLATE_PLURAL
    where = "any namespace's gates" if cluster else "the gates of its namespace (and no other's)"
    root = _spec_only_root(
        f"A reusable metric check's query, written once, that {where} name in"
        " spec.probes.metrics.checks[].templateRef, each check with its own bounds.",
        MetricCheckTemplateSpec,
    )
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{plural}.{API_GROUP}",
            "labels": {"app.kubernetes.io/part-of": "deploymentgate"},
        },
        "spec": {
            "group": API_GROUP,
            "scope": "Cluster" if cluster else "Namespaced",
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": ["cmct"] if cluster else ["mct"],
                "categories": CATEGORIES,
            },
            "versions": [
                {
                    "name": API_VERSION,
                    "served": True,
                    "storage": True,
                    "additionalPrinterColumns": TEMPLATE_PRINTER_COLUMNS,
                    "schema": {"openAPIV3Schema": root},
                }
            ],
        },
    }


class _NoAliasDumper(yaml.SafeDumper):
    """Repeated enums (phase) stay spelled out instead of YAML anchors."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _yaml(*objects: dict[str, Any]) -> str:
    return "---\n".join(
        yaml.dump(o, Dumper=_NoAliasDumper, sort_keys=False, width=100, allow_unicode=True)
        for o in objects
    )


def render() -> str:
    # The leading "---": `helm show crds` concatenates the chart's CRD files, and the one
    # before this (clustermetricchecktemplates) would otherwise run into it.
    return "---\n" + HEADER + _yaml(build_crd())


POLICY_HEADER = (
    "# Generated from deploymentgate/manifests/approval_policy.py by"
    " `make generate`.\n"
    "# Do not edit by hand. Without this policy and its binding the operator counts no sign-off.\n"
)


SERVING_FILE = "serving-label-policy.yaml"
SERVING_HEADER = (
    "# Generated from deploymentgate/manifests/serving_policy.py by"
    " `make generate`.\n"
    "# Only the operator's own serving pods may carry deploymentgate.dev/serving. The operator's\n"
    "# ServiceAccount below is the chart's default (release deploymentgate in namespace\n"
    "# deploymentgate): edit it if yours differs.\n"
)
SERVING_CHART_HEADER = (
    "# Generated from deploymentgate/manifests/serving_policy.py by"
    " `make generate`.\n"
    "# templates/serving-label-policy.yaml puts the release's ServiceAccount in place of the\n"
    "# operator's placeholder user below.\n"
)


GUARD_FILE = "deploymentgates-approvals-guard.yaml"
GUARD_ADMIN_GROUPS = ["system:masters"]
GUARD_HEADER = (
    "# Generated from deploymentgate/manifests/approval_policy.py by"
    " `make generate`.\n"
    "# Optional: only these groups may change a gate's spec.approvals (edit the list to yours).\n"
)


SELECTOR_FILE = "serving-selector-policy.yaml"
SELECTOR_GUARD_FILE = "serving-selector-guard.yaml"
SELECTOR_HEADER = (
    "# Generated from deploymentgate/manifests/selector_policy.py by `make generate`.\n"
    "# Kubernetes 1.36+: puts deploymentgate.dev/serving back into a gated Service's selector\n"
    "# when anyone but the operator writes it without the key. The operator's ServiceAccount\n"
    "# below is the chart's default: edit it if yours differs.\n"
)
SELECTOR_CHART_HEADER = (
    "# Generated from deploymentgate/manifests/selector_policy.py by `make generate`.\n"
    "# templates/serving-selector-policy.yaml puts the release's ServiceAccount in place of the\n"
    "# operator's placeholder user below.\n"
)
SELECTOR_GUARD_HEADER = (
    "# Generated from deploymentgate/manifests/selector_policy.py by `make generate`.\n"
    "# For clusters without MutatingAdmissionPolicy: refuses a write by anyone but the operator\n"
    "# that drops deploymentgate.dev/serving from a gated Service's selector.\n"
)


COMMANDS_FILE = "commands-policy.yaml"
COMMANDS_HEADER = (
    "# Generated from deploymentgate/manifests/command_policy.py by"
    " `make generate`.\n"
    "# Who may run kubectl gate abort/retry/promote: update on deploymentgates/<verb>.\n"
)


def generated_files() -> dict[PurePosixPath, str]:
    """Every generated file (path relative to the repository root) and its text."""
    # The leading "---" keeps `helm show crds`, which concatenates the chart's CRD files, valid.
    approval_crd = "---\n" + HEADER + _yaml(build_approval_crd())
    template_crds = {
        name: "---\n" + HEADER + _yaml(build_template_crd(cluster=cluster))
        for name, cluster in ((TEMPLATE_CRD_NAME, False), (CLUSTER_TEMPLATE_CRD_NAME, True))
    }
    policy = POLICY_HEADER + _yaml(approval_policy.policy(), approval_policy.binding())
    commands = COMMANDS_HEADER + _yaml(command_policy.policy(), command_policy.binding())
    return {
        CRD_FILE: render(),
        POLICIES / COMMANDS_FILE: commands,
        CHART / "files" / COMMANDS_FILE: commands,
        CHART / "crds" / f"{CRD_NAME}.yaml": render(),
        PurePosixPath("deploy") / "crds" / f"{APPROVAL_CRD_NAME}.yaml": approval_crd,
        CHART / "crds" / f"{APPROVAL_CRD_NAME}.yaml": approval_crd,
        **{
            folder / f"{name}.yaml": text
            for name, text in template_crds.items()
            for folder in (PurePosixPath("deploy") / "crds", CHART / "crds")
        },
        POLICIES / POLICY_FILE: policy,
        POLICIES / GUARD_FILE: GUARD_HEADER
        + _yaml(approval_policy.guard_policy(GUARD_ADMIN_GROUPS), approval_policy.guard_binding()),
        CHART / "files" / POLICY_FILE: policy,
        POLICIES / SERVING_FILE: SERVING_HEADER
        + _yaml(serving_policy.policy(), serving_policy.binding()),
        POLICIES / SELECTOR_FILE: SELECTOR_HEADER
        + _yaml(selector_policy.mutating_policy(), selector_policy.mutating_binding()),
        POLICIES / SELECTOR_GUARD_FILE: SELECTOR_GUARD_HEADER
        + _yaml(selector_policy.validating_policy(), selector_policy.validating_binding()),
        CHART / "files" / SELECTOR_FILE: SELECTOR_CHART_HEADER
        + _yaml(
            selector_policy.mutating_policy(serving_policy.CHART_OPERATOR_PLACEHOLDER),
            selector_policy.mutating_binding(),
        ),
        CHART / "files" / SELECTOR_GUARD_FILE: SELECTOR_CHART_HEADER
        + _yaml(
            selector_policy.validating_policy(serving_policy.CHART_OPERATOR_PLACEHOLDER),
            selector_policy.validating_binding(),
        ),
        CHART / "files" / SERVING_FILE: SERVING_CHART_HEADER
        + _yaml(
            serving_policy.policy(serving_policy.CHART_OPERATOR_PLACEHOLDER),
            serving_policy.binding(),
        ),
    }
