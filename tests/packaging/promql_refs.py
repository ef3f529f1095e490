"""What alert rules and dashboards ask of the operator's metrics, read from
their PromQL, and what the operator really exposes (from GateMetrics itself)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from deploymentgate.metrics import GateMetrics
from deploymentgate.models import GateStatus, Phase
from deploymentgate.observations import ProbeKind, ProbeObservation

# Labels Prometheus adds to every scraped series.
TARGET_LABELS = {"job", "instance", "namespace", "pod", "service", "container", "endpoint"}

_SELECTOR = re.compile(r"\b(deploymentgate_[a-z0-9_]+)\s*(\{[^}]*\})?")
_MATCHER = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)"')


@dataclass(frozen=True)
class Selector:
    metric: str
    matchers: tuple[tuple[str, str, str], ...]  # (label, op, value)


def selectors(promql: str) -> list[Selector]:
    found = []
    for match in _SELECTOR.finditer(promql):
        body = match.group(2) or ""
        found.append(Selector(match.group(1), tuple(_MATCHER.findall(body))))
    return found


def exposed_series() -> dict[str, set[str]]:
    """Every series name the operator exposes, with its label names, after
    exercising each metric once (labelled children appear on first use)."""
    metrics = GateMetrics()
    now = datetime.now(UTC)
    status = GateStatus(phase=Phase.PROGRESSING, phase_since=now, canary_weight=10)
    metrics.observe_status("prod", "chat", status)
    for kind in ProbeKind:
        obs = ProbeObservation(kind, ok=False, message="", at=now, values={"error_rate_percent": 7})
        metrics.observe_probe("prod", "chat", obs, 0.01)
        metrics.stable_check("prod", "chat", kind, ok=False)
    metrics.transition("prod", "chat", Phase.ROLLED_BACK)
    metrics.rollback("prod", "chat", "errorRate")
    metrics.revert_after_promotion("prod", "chat", "healthFailing")
    metrics.reconciled()
    metrics.reconcile_failed("ApiError")
    series: dict[str, set[str]] = {}
    for family in metrics.registry.collect():
        for sample in family.samples:
            series.setdefault(sample.name, set()).update(sample.labels)
    return series


PHASES = {phase.value for phase in Phase}
PROBES = {kind.value for kind in ProbeKind}


def allowed_values(label: str) -> set[str] | None:
    """Closed sets of label values the operator can emit (None: open)."""
    return {"phase": PHASES, "probe": PROBES}.get(label)


def check_selector(selector: Selector, exposed: dict[str, set[str]]) -> list[str]:
    """Problems with one selector: unknown metric, label or label value."""
    if selector.metric not in exposed:
        return [f"{selector.metric} is not exposed by the operator"]
    problems = []
    labels = exposed[selector.metric] | TARGET_LABELS
    for label, op, value in selector.matchers:
        if label not in labels:
            problems.append(f"{selector.metric} has no label {label}")
        closed = allowed_values(label)
        if closed is None or value.startswith("$"):
            continue
        wanted = value.split("|") if op in ("=~", "!~") else [value]
        problems += [
            f"{selector.metric}{{{label}}} is never {v!r}" for v in wanted if v not in closed
        ]
    return problems
