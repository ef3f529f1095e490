"""Generate the DeploymentGate CRD from the pydantic models.

The models are the single source of truth: field names, types, enums, bounds,
patterns, descriptions and CEL rules all come from `deploymentgate.models`, so
the CRD the API server enforces cannot drift from what the operator parses.
tests/core/test_crd_models.py fails when the committed file is stale.

Regenerate after changing the models:

    .venv/bin/python -m deploymentgate.core.crdgen
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, NoDefault
from pydantic_core import core_schema

from deploymentgate.models import API_GROUP, API_VERSION, KIND, PLURAL, GateSpec, GateStatus

CRD_NAME = f"{PLURAL}.{API_GROUP}"
REGENERATE = "python -m deploymentgate.core.crdgen"
SHORT_NAMES = ["dg", "dgate"]
CATEGORIES = ["gates"]
HEADER = (
    "# Generated from deploymentgate/models.py by `python -m deploymentgate.core.crdgen`.\n"
    "# Do not edit by hand: change the models and regenerate.\n"
)
# operator/deploymentgate/core/crdgen.py -> repository root
DEFAULT_OUTPUT = Path(__file__).resolve().parents[3] / "deploy" / "crds" / f"{CRD_NAME}.yaml"

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
            "metadata": {"type": "object"},
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


class _NoAliasDumper(yaml.SafeDumper):
    """Repeated enums (phase) stay spelled out instead of YAML anchors."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def render() -> str:
    body = yaml.dump(
        build_crd(), Dumper=_NoAliasDumper, sort_keys=False, width=100, allow_unicode=True
    )
    return HEADER + body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--output", "-o", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if the file differs from the models"
    )
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.output.read_text() if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is stale; run {REGENERATE}", file=sys.stderr)
            return 1
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
