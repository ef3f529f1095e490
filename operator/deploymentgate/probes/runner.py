"""Run a gate's probes once against one target: shared by the operator and
``deploymentgate check``.

Order matters: the startup probe must watch a service from its start, so it
runs first; the others run once startup is over (they would only see 503s
before).
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass

from deploymentgate.models import ErrorRateSource, GateSpec
from deploymentgate.observations import ProbeKind, ProbeObservation
from deploymentgate.probes.error_rate import run_error_rate_probe, run_prometheus_error_rate
from deploymentgate.probes.health import run_health_probe
from deploymentgate.probes.startup import run_startup_probe
from deploymentgate.probes.websocket import run_websocket_probe

ORDER = (ProbeKind.STARTUP, ProbeKind.HEALTH, ProbeKind.WEBSOCKET, ProbeKind.ERROR_RATE)


@dataclass(frozen=True)
class PrometheusContext:
    """Values for the PromQL placeholders (see probes.promql)."""

    namespace: str = ""
    revision: str | None = None
    pod_regex: str = ".*"


def configured_probes(spec: GateSpec) -> list[ProbeKind]:
    """The probes this gate declares, in run order."""
    present = {
        ProbeKind.STARTUP: spec.probes.startup is not None,
        ProbeKind.HEALTH: spec.probes.health is not None,
        ProbeKind.WEBSOCKET: spec.probes.websocket is not None,
        ProbeKind.ERROR_RATE: spec.rollback.error_rate is not None,
    }
    return [kind for kind in ORDER if present[kind]]


async def run_gate_probes(
    spec: GateSpec,
    base_url: str,
    *,
    include: Collection[ProbeKind] | None = None,
    honor_ports: bool = True,
    target: str | None = None,
    revision: str | None = None,
    prometheus: PrometheusContext | None = None,
) -> list[ProbeObservation]:
    """One observation per configured (and included) probe, in run order.

    Never raises for a misbehaving target: each probe reports its failure.
    The error-rate probe sends enough requests at once to reach minRequests,
    since a one-shot run has no earlier intervals to add up.
    """
    kinds = [k for k in configured_probes(spec) if include is None or k in include]
    out: list[ProbeObservation] = []
    for kind in kinds:
        out.append(await _run_one(kind, spec, base_url, honor_ports, target, revision, prometheus))
    return out


async def _run_one(
    kind: ProbeKind,
    spec: GateSpec,
    base_url: str,
    honor_ports: bool,
    target: str | None,
    revision: str | None,
    prometheus: PrometheusContext | None,
) -> ProbeObservation:
    probes = spec.probes
    if kind is ProbeKind.STARTUP and probes.startup is not None:
        return await run_startup_probe(
            base_url, probes.startup, honor_port=honor_ports, target=target, revision=revision
        )
    if kind is ProbeKind.HEALTH and probes.health is not None:
        return await run_health_probe(
            base_url, probes.health, honor_port=honor_ports, target=target, revision=revision
        )
    if kind is ProbeKind.WEBSOCKET and probes.websocket is not None:
        return await run_websocket_probe(
            base_url, probes.websocket, honor_port=honor_ports, target=target, revision=revision
        )
    cfg = spec.rollback.error_rate
    if kind is ProbeKind.ERROR_RATE and cfg is not None:
        if cfg.source is ErrorRateSource.PROMETHEUS:
            context = prometheus or PrometheusContext(revision=revision)
            return await run_prometheus_error_rate(
                cfg,
                namespace=context.namespace,
                service=spec.service,
                revision=context.revision,
                pod_regex=context.pod_regex,
                target=target,
            )
        batches = max(1, math.ceil(cfg.min_requests / cfg.requests_per_interval))
        return await run_error_rate_probe(
            base_url,
            cfg,
            requests=batches * cfg.requests_per_interval,
            honor_port=honor_ports,
            target=target,
            revision=revision,
        )
    raise ValueError(f"probe {kind.value} is not configured")  # pragma: no cover
