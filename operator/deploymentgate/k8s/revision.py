"""A revision is the identity of a pod template: the same template, the same
revision, on every operator replica and across restarts.

It is always computed here, from the template itself; never read from a label
or an annotation, which anyone who can edit the template could write (a
template copied from one of the gate's serving Deployments would otherwise
carry a revision that no longer describes its image).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

# Labels and annotations the operator itself puts on templates (this prefix) must not
# change a template's identity: the team's template and the gate's copies of it
# (verification, serving) hash alike.
LABEL_PREFIX = "deploymentgate.dev/"
REVISION_HEX = 16  # 64 bits: no two templates a cluster will ever see collide


def template_revision(template: Mapping[str, Any]) -> str:
    """A stable 64-bit hash (16 hex chars) of a pod template, blind to our own labels."""
    metadata = template.get("metadata") or {}
    canonical = {
        "labels": _foreign(metadata.get("labels")),
        "annotations": _foreign(metadata.get("annotations")),
        "spec": template.get("spec") or {},
    }
    blob = json.dumps(canonical, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:REVISION_HEX]


def _foreign(values: Any) -> dict[str, Any]:
    if not isinstance(values, Mapping):
        return {}
    return {k: v for k, v in values.items() if not str(k).startswith(LABEL_PREFIX)}
