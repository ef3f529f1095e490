"""Metric checks' I/O: each check's PromQL query, filled with the revision's own
selectors, asked of Prometheus and judged against its condition.

One observation per check and evaluation, its target the check's name. Any
answer without a number (empty vector, NaN, an error, Prometheus unreachable)
is ok=None, "no data": what that means (hold or fail) is the core's rule
(probe_kinds.metrics), and it is never a pass.

A check that names a template (templateRef) is resolved at each evaluation
through the lookup the operator passes (its index of templates): a template
that is missing or invalid is no data too, saying why.
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
    TemplateLookup,
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


def resolve(
    section: MetricChecks, check: MetricCheck, templates: TemplateLookup | None
) -> tuple[MetricCheck, str] | str:
    """(the check as it runs, the Prometheus URL to ask), or why it cannot run."""
    ref = check.template_ref
    if ref is None:
        return check, section.prometheus_url
    if templates is None:
        return f"{ref} is read by the operator only (from the cluster), not here"
    found = templates(ref)
    if isinstance(found, str):
        return found
    return check.from_template(found), found.prometheus_url or section.prometheus_url


async def evaluate(
    section: MetricChecks,
    check: MetricCheck,
    values: Mapping[str, str | None],
    revision: str | None,
    templates: TemplateLookup | None = None,
) -> ProbeObservation:
    """One evaluation of one check; a templated one with its template as it is now."""

    details: dict[str, object] = {"check": check.name, "dryRun": check.dry_run}

    def seen(ok: bool | None, message: str, **more: object) -> ProbeObservation:
        return observation(
            ProbeKind.METRICS,
            ok,
            message,
            target=check.name,
            revision=revision,
            details={**details, **more},
        )

    if check.template_ref is not None:
        details["template"] = str(check.template_ref)
    resolved = resolve(section, check, templates)
    if isinstance(resolved, str):
        return seen(None, f"no data: {resolved}")
    check, url = resolved
    assert check.query is not None  # resolved
    if check.relative_to is not None:
        return await _relative(url, check, check.query, values, seen)
    try:
        query = render_query(check.query, values)
    except QueryTemplateError as exc:
        return seen(None, f"no data: {exc}")
    numbers, why = await instant_query(url, query)
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
    url: str, template: str, values: Mapping[str, str | None], side: str
) -> tuple[float | None, str, str]:
    """(the value, "", query) or (None, why there is none, query) for one side of a
    relative check: a ratio needs exactly one number a side."""
    try:
        query = render_query(template, values)
    except QueryTemplateError as exc:
        return None, f"{side}: {exc}", ""
    numbers, why = await instant_query(url, query)
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
    url: str,
    check: MetricCheck,
    template: str,
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
        one_number(url, template, values, "canary"),
        one_number(url, template, baseline, "stable"),
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
            *(
                evaluate(section, c, values, context.revision, context.templates)
                for c in section.checks
            )
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
        templates: TemplateLookup | None = None,
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
            obs = await evaluate(self.cfg, check, values, revision, templates)
            return obs, time.monotonic() - began

        results = await asyncio.gather(*(timed(c) for c in due))
        return Round(tuple(results), True)  # each check paces itself: no quick retry
