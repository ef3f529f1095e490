"""Process setup: logging, the metrics server, then kopf's operator loop (which
also handles SIGTERM/SIGINT)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import kopf
from prometheus_client import start_http_server

from deploymentgate.controller.transition_log import configure_logging
from deploymentgate.metrics import GateMetrics
from deploymentgate.notify import WebhookConfigError, operator_webhooks

log = logging.getLogger("deploymentgate")


@dataclass(frozen=True)
class OperatorOptions:
    namespaces: tuple[str, ...] = ()
    kubeconfig: str | None = None
    metrics_host: str = "0.0.0.0"
    metrics_port: int = 9090
    liveness: str | None = "http://0.0.0.0:8080/healthz"
    peering: str | None = None
    priority: int = 0
    tick: float = 1.0
    log_level: str = "INFO"
    log_format: str = "text"  # or "json"
    webhooks: tuple[str, ...] = ()  # TYPE=URL, notified of every gate's transitions
    webhooks_from_env: tuple[str, ...] = ()  # TYPE=VAR, the URL in environment variable VAR


def run_operator(options: OperatorOptions) -> int:
    configure_logging(options.log_level, options.log_format)
    try:  # a webhook the operator cannot use is a start-up error, not a silent loss later
        operator_webhooks(options.webhooks, options.webhooks_from_env)
    except WebhookConfigError as exc:
        log.error("%s", exc)
        return 2
    metrics = GateMetrics()
    if options.metrics_port:
        start_http_server(options.metrics_port, options.metrics_host, registry=metrics.registry)
        log.info("metrics on %s:%d", options.metrics_host, options.metrics_port)
    return asyncio.run(_serve(options, metrics))


async def _serve(options: OperatorOptions, metrics: GateMetrics) -> int:
    from deploymentgate.controller import handlers, kopf_patches
    from deploymentgate.controller.apihealth import KopfRetryFilter
    from deploymentgate.controller.context import OperatorContext
    from deploymentgate.controller.kopf_chatter import KopfSuccessFilter
    from deploymentgate.controller.memory import trim_forever

    kopf_patches.apply()
    context = await OperatorContext.create(options, metrics)
    # While the API server is gone, kopf's retries are one line of ours, not dozens a minute.
    quiet = (KopfRetryFilter(context.api_health), KopfSuccessFilter())
    root_handlers = logging.getLogger().handlers
    for handler in root_handlers:
        for chatter in quiet:
            handler.addFilter(chatter)
    trimmer = asyncio.create_task(trim_forever(), name="malloc-trim")
    try:
        await kopf.operator(
            registry=handlers.registry,
            clusterwide=not options.namespaces,
            namespaces=list(options.namespaces),
            standalone=options.peering is None,
            peering_name=options.peering,
            priority=options.priority,
            liveness_endpoint=options.liveness,
            memo=context,
        )
    finally:
        trimmer.cancel()
        await context.close()
        for handler in root_handlers:
            for chatter in quiet:
                handler.removeFilter(chatter)
    return 0
