"""Seed §8 across namespaces: a gate sees another only with that gate's consent.

`spec.requires: [{gate: staging/chat}]` lets a gate in `prod` wait until
`staging/chat` has promoted the same images. Reading another namespace's gate
reveals its phase and images, so it needs the owner's consent, in the spirit
of Gateway API's ReferenceGrant: `staging/chat` lists `{namespace: prod}` (or
`{namespace: prod, gate: chat}`) in its `spec.dependents`. Without it the
requirement reads exactly as a gate that does not exist: "not found", nothing
leaked. Gates of the same namespace need no consent (their readers can read
them anyway).

The thin layer indexes each gate as `index_entry(spec, status)` and calls
`required_gates` for `Observations.required_gates`.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from pydantic import TypeAdapter, ValidationError

from deploymentgate.models import Dependent, GateSpec, GateStatus, parse_status

_DEPENDENTS = TypeAdapter(list[Dependent])

GateKey = tuple[str, str]  # (namespace, name)


def index_entry(spec: Mapping[str, Any] | None, status: Mapping[str, Any] | None) -> dict[str, Any]:
    """What the operator keeps of every gate for others' `requires`: raw, parsed on use."""
    return {
        "status": dict(status or {}),
        "dependents": copy.deepcopy((spec or {}).get("dependents")),
    }


def required_gates(
    spec: GateSpec | None,
    namespace: str,
    name: str,
    gates: Mapping[GateKey, Mapping[str, Any]],
) -> dict[str, GateStatus | None]:
    """Status of each gate in `spec.requires` that this gate may see; None otherwise.

    `gates` maps (namespace, name) to `index_entry` values.
    """
    out: dict[str, GateStatus | None] = {}
    for req in spec.requires if spec else []:
        other_ns, _, other_name = req.gate.rpartition("/")
        other_ns = other_ns or namespace
        entry = gates.get((other_ns, other_name))
        if entry is None or not consents(entry, other_ns, namespace, name):
            out[req.gate] = None
        else:
            out[req.gate] = _status(entry.get("status"))
    return out


def consents(entry: Mapping[str, Any], owner_namespace: str, namespace: str, name: str) -> bool:
    """Whether the gate behind `entry` (in `owner_namespace`) lets gate namespace/name see it."""
    if owner_namespace == namespace:
        return True
    try:
        dependents = _DEPENDENTS.validate_python(entry.get("dependents") or [])
    except ValidationError:
        return False  # unreadable consent is no consent
    return any(d.namespace == namespace and d.gate in (None, name) for d in dependents)


def _status(raw: Any) -> GateStatus:
    """A status that does not parse reads as a new gate: never promoted."""
    try:
        return parse_status(raw if isinstance(raw, dict) else None)
    except ValidationError:
        return GateStatus()
