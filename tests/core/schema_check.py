"""A small checker for the structural-schema subset the CRD uses.

Enough to show what the API server would keep or refuse: unknown fields
(pruned), types, enums, patterns, bounds, required fields. CEL rules are not
evaluated here (the pydantic validators mirror them).
"""

from __future__ import annotations

import re
from typing import Any

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}


def errors(schema: dict[str, Any], value: Any, path: str = "") -> list[str]:
    if value is None:
        return [] if schema.get("nullable") else [f"{path}: null"]
    kind = schema.get("type")
    if kind:
        if isinstance(value, bool) and kind in ("integer", "number"):
            return [f"{path}: expected {kind}, got boolean"]
        if not isinstance(value, _TYPES[kind]):
            return [f"{path}: expected {kind}, got {type(value).__name__}"]
    out: list[str] = []
    if "enum" in schema and value not in schema["enum"]:
        out.append(f"{path}: {value!r} not in {schema['enum']}")
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            out.append(f"{path}: {value!r} does not match {schema['pattern']}")
        if len(value) < schema.get("minLength", 0):
            out.append(f"{path}: shorter than {schema['minLength']}")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            out.append(f"{path}: longer than {schema['maxLength']}")
        if schema.get("format") == "date-time" and not re.match(
            r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$", value
        ):
            out.append(f"{path}: {value!r} is not an RFC 3339 date-time")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            out.append(f"{path}: {value} below {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            out.append(f"{path}: {value} above {schema['maximum']}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            out.append(f"{path}: fewer than {schema['minItems']} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            out.append(f"{path}: more than {schema['maxItems']} items")
        for i, item in enumerate(value):
            out += errors(schema.get("items", {}), item, f"{path}[{i}]")
    if isinstance(value, dict) and len(value) > schema.get("maxProperties", len(value)):
        out.append(f"{path}: more than {schema['maxProperties']} properties")
    if isinstance(value, dict) and not schema.get("x-kubernetes-preserve-unknown-fields"):
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        for key in schema.get("required", []):
            if key not in value:
                out.append(f"{path}.{key}: required")
        for key, item in value.items():
            if props is not None and key in props:
                out += errors(props[key], item, f"{path}.{key}")
            elif isinstance(extra, dict):
                out += errors(extra, item, f"{path}.{key}")
            elif props is not None:
                out.append(f"{path}.{key}: unknown field (would be pruned)")
    return out
