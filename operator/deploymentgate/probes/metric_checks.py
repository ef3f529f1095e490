"""Metric checks' I/O: each check's PromQL query, filled with the revision's own
selectors, asked of Prometheus and judged against its condition.

One observation per check and evaluation, its target the check's name. Any
answer without a number (empty vector, NaN, an error, Prometheus unreachable)
is ok=None, "no data": what that means (hold or fail) is the core's rule
(probe_kinds.metrics), and it is never a pass.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence

from deploymentgate.models import GateSpec, MetricCheck, MetricChecks, Model, dump
from deploymentgate.observations import ProbeKind, ProbeObservation
from deploymentgate.probe_kinds.metrics import fold_checks
from deploymentgate.probes.kind_runner import (
    NO_STABLE,
    PodTarget,
    ProbeRunner,
    PrometheusContext,
    Round,
    Rounds,
    Stable,
)
from deploymentgate.probes.observe import observation
from deploymentgate.probes.prometheus import instant_query
from deploymentgate.probes.promql import QueryTemplateError, pod_regex, render_query


def placeholders(
    spec: GateSpec,
    *,
    namespace: str,
    revision: str | None,
    pods: str,
    stable: Stable = NO_STABLE,
) -> dict[str, str | None]:
    """The values a check's query may name: the revision under test's own
    selectors, and the stable revision's (None while it has no pods: no data)."""
    names = [p.name for p in stable.pods if p.name]
    return {
        "namespace": namespace,
        "service": spec.service,
        "revision": revision or "",
        "pod_regex": pods,
        "stable_revision": stable.revision,
        "stable_pod_regex": pod_regex(names) if names else None,
    }


async def evaluate(
    section: MetricChecks,
    check: MetricCheck,
    values: Mapping[str, str | None],
    revision: str | None,
) -> ProbeObservation:
    """One evaluation of one check."""

    def seen(ok: bool | None, message: str, **details: object) -> ProbeObservation:
        return observation(
            ProbeKind.METRICS,
            ok,
            message,
            target=check.name,
            revision=revision,
            details={"check": check.name, "dryRun": check.dry_run, **details},
        )

    try:
        query = render_query(check.query, values)
    except QueryTemplateError as exc:
        return seen(None, f"no data: {exc}")
    numbers, why = await instant_query(section.prometheus_url, query)
    if numbers is None:
        return seen(None, f"no data: {why}", query=query)
    condition = check.condition
    # Every series must pass: the worst decides, and is the value shown.
    value = max(numbers, key=condition.excess)
    ok = condition.passes(value)
    series = f" (worst of {len(numbers)} series)" if len(numbers) > 1 else ""
    verdict = condition if ok else f"not {condition}"
    return seen(ok, f"{value:g}{series}, {verdict}", query=query, value=value)


class MetricChecksRunner(ProbeRunner):
    kind = ProbeKind.METRICS

    async def check(
        self,
        spec: GateSpec,
        section: Model,
        base_url: str,
        *,
        honor_port: bool,
        target: str | None,
        revision: str | None,
        prometheus: PrometheusContext | None,
    ) -> ProbeObservation:
        """Every check once (`deploymentgate check`), judged as the operator folds them."""
        assert isinstance(section, MetricChecks)
        context = prometheus or PrometheusContext(revision=revision)
        values = placeholders(
            spec, namespace=context.namespace, revision=context.revision, pods=context.pod_regex
        )
        results = await asyncio.gather(
            *(evaluate(section, c, values, context.revision) for c in section.checks)
        )
        status = fold_checks(section, None, list(results))
        return observation(
            ProbeKind.METRICS,
            status.ok,
            status.message,
            target=target if target is not None else section.prometheus_url,
            revision=revision,
            values=status.values,
            details={"checks": [dump(c) for c in status.checks]},
        )

    def rounds(self, spec: GateSpec, section: Model) -> Rounds:
        assert isinstance(section, MetricChecks)
        return MetricRounds(self, spec, section)


class MetricRounds(Rounds):
    """The operator's rounds: each check when its own interval is up, over the
    serving pods of the revision under test. With no pod yet nothing is asked
    (a pod regex of no pods would match other series)."""

    wants_stable = True  # {stable_revision}, {stable_pod_regex}

    def __init__(self, runner: ProbeRunner, spec: GateSpec, section: MetricChecks) -> None:
        super().__init__(runner, spec, section)
        self.cfg = section
        self._next: dict[str, float] = {}  # monotonic time each check is due again

    async def round(
        self,
        pods: Sequence[PodTarget],
        *,
        revision: str,
        namespace: str,
        gate: str,
        stable: Stable = NO_STABLE,
    ) -> Round:
        names = [p.name for p in pods if p.name]
        if not names:
            return Round((), None)
        now = time.monotonic()
        due = [c for c in self.cfg.checks if self._next.get(c.name, now) <= now]
        for check in due:
            self._next[check.name] = now + check.interval.total_seconds()
        values = placeholders(
            self.spec, namespace=namespace, revision=revision, pods=pod_regex(names), stable=stable
        )

        async def timed(check: MetricCheck) -> tuple[ProbeObservation, float]:
            began = time.monotonic()
            obs = await evaluate(self.cfg, check, values, revision)
            return obs, time.monotonic() - began

        results = await asyncio.gather(*(timed(c) for c in due))
        return Round(tuple(results), True)  # each check paces itself: no quick retry
