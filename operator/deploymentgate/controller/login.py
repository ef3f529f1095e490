"""How the operator logs in to the API server."""

from __future__ import annotations

import os
from typing import Any

import kopf

from deploymentgate.controller.kopf_workarounds import bounded, connection_limit
from deploymentgate.controller.registry import registry


@kopf.on.login(registry=registry)
async def login(memo: Any, **kwargs: Any) -> kopf.ConnectionInfo | kopf.AiohttpSession | None:
    """The usual credentials, over a bounded connection pool (see kopf_workarounds.session)."""
    if memo.options.kubeconfig:
        os.environ["KUBECONFIG"] = memo.options.kubeconfig
        info = kopf.login_with_kubeconfig(**kwargs)
    else:
        info = kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)
    if info is None:
        return None
    return bounded(info, connection_limit(memo.options.namespaces))
