"""kopf's settings for this operator, set once at start-up."""

from __future__ import annotations

import logging
import os
import zlib
from typing import Any

import kopf

from deploymentgate.controller.kopf_workarounds import NoDiffBase
from deploymentgate.controller.registry import registry
from deploymentgate.k8s.builders import GATE_LABEL, ROLE_LABEL, ROLE_SMOKE


@kopf.on.startup(registry=registry)
def configure(settings: kopf.OperatorSettings, memo: Any, **_: Any) -> None:
    settings.persistence.finalizer = "rollout.deploymentgate.dev/finalizer"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(
        prefix="rollout.deploymentgate.dev"
    )
    settings.persistence.diffbase_storage = NoDiffBase()  # see kopf_workarounds.diffbase
    # Our own Events say what happened; kopf's per-handler chatter would bury them.
    settings.posting.level = logging.WARNING
    # The pods index keeps only pods that carry a gate's label: the API server
    # filters, so the cluster's other pods are never sent to the operator.
    settings.watching.label_selectors["v1", "pods"] = GATE_LABEL
    # Likewise only the gates' smoke-test Jobs, not every Job of the cluster.
    settings.watching.label_selectors["batch", "jobs"] = f"{GATE_LABEL},{ROLE_LABEL}={ROLE_SMOKE}"
    # The first listing comes in pages (10,000 gates: 20,000 Deployments at once).
    settings.watching.chunk_size = 500
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.networking.request_timeout = 30
    settings.peering.priority = memo.options.priority or _default_priority()
    # A standby takes over within ~15 s of a leader's crash (kopf's default: 60 s).
    settings.peering.lifetime = 15


def _default_priority() -> int:
    """Distinct per replica, so two peers never freeze each other at equal priority."""
    return 1 + zlib.crc32(os.environ.get("POD_NAME", str(os.getpid())).encode()) % 10_000
