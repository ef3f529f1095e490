"""A revision is the identity of a pod template: the same template, the same
revision, on every operator replica and across restarts."""

from __future__ import annotations

import hashlib
import json
from typing import Any

# Labels and annotations the operator itself puts on templates (this prefix) must not
# change a template's identity.
LABEL_PREFIX = "deploymentgate.dev/"


def template_revision(template: dict[str, Any]) -> str:
    """A short, stable hash of a pod template, blind to our own labels."""
    metadata = dict(template.get("metadata") or {})
    labels = {
        k: v for k, v in (metadata.get("labels") or {}).items() if not k.startswith(LABEL_PREFIX)
    }
    annotations = {
        k: v
        for k, v in (metadata.get("annotations") or {}).items()
        if not k.startswith(LABEL_PREFIX)
    }
    canonical = {
        "labels": labels,
        "annotations": annotations,
        "spec": template.get("spec") or {},
    }
    blob = json.dumps(canonical, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:10]
