"""Metric checks' I/O: each check's PromQL query, filled with the revision's own
selectors, asked of Prometheus and judged against its condition.

One observation per check and evaluation, its target the check's name. Any
answer without a number (empty vector, NaN, an error, Prometheus unreachable)
is ok=None, "no data": what that means (hold or fail) is the core's rule
(probe_kinds.metrics), and it is never a pass.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Mapping, Sequence

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

    if check.relative_to is not None:
        return await _relative(section, check, values, seen)
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


def stable_side(values: Mapping[str, str | None]) -> dict[str, str | None] | None:
    """A relative check's placeholders for its baseline: the canary's swapped for
    the stable's. None when no other revision serves beside it: the stable has no
    serving pod (a 100% step) or is the revision under test (the watch after
    promotion)."""
    if values.get("stable_revision") is None or values.get("stable_pod_regex") is None:
        return None
    return {
        **values,
        "pod_regex": values.get("stable_pod_regex"),
        "revision": values.get("stable_revision"),
    }


async def one_number(
    section: MetricChecks, template: str, values: Mapping[str, str | None], side: str
) -> tuple[float | None, str, str]:
    """(the value, "", query) or (None, why there is none, query) for one side of a
    relative check: a ratio needs exactly one number a side."""
    try:
        query = render_query(template, values)
    except QueryTemplateError as exc:
        return None, f"{side}: {exc}", ""
    numbers, why = await instant_query(section.prometheus_url, query)
    if numbers is None:
        return None, f"{side}: {why}", query
    if len(numbers) > 1:
        return (
            None,
            f"{side}: {len(numbers)} series; a relative check compares one number a side"
            " (aggregate the query, e.g. histogram_quantile over sum by (le))",
            query,
        )
    return numbers[0], "", query


async def _relative(
    section: MetricChecks,
    check: MetricCheck,
    values: Mapping[str, str | None],
    seen: Callable[..., ProbeObservation],
) -> ProbeObservation:
    """canary / stable over the same window, judged by the condition. Either side
    without data, or a stable value too small to divide by, is no data."""
    baseline = stable_side(values)
    if baseline is None:
        return seen(
            None,
            "skipped: no other revision takes traffic beside this one (a 100% step, or"
            " the watch after promotion), nothing to compare with",
            skipped=True,
        )
    (canary, why, query), (stable, stable_why, stable_query) = await asyncio.gather(
        one_number(section, check.query, values, "canary"),
        one_number(section, check.query, baseline, "stable"),
    )
    queries = {"query": query, "stableQuery": stable_query}
    if canary is None or stable is None:
        return seen(None, f"no data: {why or stable_why}", **queries)
    both = {"canary": canary, "stable": stable, **queries}
    floor = check.min_baseline or 0.0
    ratio = canary / stable if stable > floor else math.nan
    if not math.isfinite(ratio):
        return seen(
            None,
            f"no data: stable {stable:g} is too small to divide canary {canary:g} by"
            f" (minBaseline {floor:g})",
            **both,
        )
    ok = check.condition.passes(ratio)
    verdict = check.condition if ok else f"not {check.condition}"
    return seen(
        ok, f"canary {canary:g} = {ratio:.3g} × stable {stable:g}, {verdict}×", value=ratio, **both
    )


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
