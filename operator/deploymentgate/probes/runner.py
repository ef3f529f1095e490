"""Run a gate's probes once against one target: shared by the operator and
``deploymentgate check``.

Order matters: the startup probe must watch a service from its start, so it
runs first; the others run once startup is over (they would only see 503s
before). The order is the registry's (deploymentgate.probe_kinds).
"""

from __future__ import annotations

from collections.abc import Collection

from deploymentgate.models import GateSpec
from deploymentgate.observations import ProbeKind, ProbeObservation
from deploymentgate.probe_kinds import descriptor, runnable
from deploymentgate.probes.kind_runner import PrometheusContext
from deploymentgate.probes.registry import runner

__all__ = ["PrometheusContext", "configured_probes", "run_gate_probes"]


def configured_probes(spec: GateSpec) -> list[ProbeKind]:
    """The probes this gate declares, in run order."""
    return [d.kind for d in runnable(spec)]


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
        section = descriptor(kind).section(spec)
        if section is None:  # pragma: no cover - configured_probes lists configured ones
            raise ValueError(f"probe {kind.value} is not configured")
        out.append(
            await runner(kind).check(
                spec,
                section,
                base_url,
                honor_port=honor_ports,
                target=target,
                revision=revision,
                prometheus=prometheus,
            )
        )
    return out
