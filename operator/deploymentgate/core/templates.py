"""Pure reads of pod templates: the images they run, and the user's own form.

The gate's serving Deployments carry the operator's labels (gate, role,
revision, serving); a template written back into the team's Deployment
(rollback.revertTarget) must come without them.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

# Keep equal to deploymentgate.k8s.revision.LABEL_PREFIX (a test holds them together).
OWN_PREFIX = "deploymentgate.dev/"


def images(template: Mapping[str, Any] | None) -> list[str]:
    """Images of the regular containers, in order (init containers do not serve)."""
    if not template:
        return []
    containers = (template.get("spec") or {}).get("containers") or []
    return [str(c["image"]) for c in containers if isinstance(c, Mapping) and c.get("image")]


def user_template(template: Mapping[str, Any]) -> dict[str, Any]:
    """`template` without the operator's own labels and annotations."""
    out = copy.deepcopy(dict(template))
    metadata = out.get("metadata")
    if isinstance(metadata, dict):
        for key in ("labels", "annotations"):
            values = metadata.get(key)
            if isinstance(values, dict):
                metadata[key] = {k: v for k, v in values.items() if not k.startswith(OWN_PREFIX)}
    return out
