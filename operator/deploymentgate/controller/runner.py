"""Process setup: logging, the metrics server, then kopf's operator loop (which
also handles SIGTERM/SIGINT)."""

from __future__ import annotations

import asyncio
import logging

import kopf
from prometheus_client import start_http_server

from deploymentgate.controller.options import OperatorOptions
from deploymentgate.controller.transition_log import configure_logging
from deploymentgate.metrics import GateMetrics
from deploymentgate.notify import WebhookConfigError, operator_webhooks

log = logging.getLogger("deploymentgate")


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
    from deploymentgate.controller import handlers, kopf_workarounds
    from deploymentgate.controller.context import OperatorContext
    from deploymentgate.controller.kopf_workarounds import KopfRetryFilter, KopfSuccessFilter
    from deploymentgate.controller.memory import trim_forever

    kopf_workarounds.apply()
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
