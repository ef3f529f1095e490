"""The operator's Prometheus metrics: one place that names them all.

The chart's alert rules and dashboard refer to these names; changing one here
means changing `deploy/helm/deploymentgate/` in the same commit.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.core import GaugeMetricFamily, Metric

from deploymentgate import __version__
from deploymentgate.models import GateStatus, Phase
from deploymentgate.observations import ProbeKind, ProbeObservation

PREFIX = "deploymentgate"


class GateMetrics:
    """Metrics of one operator process, on a registry of its own (testable)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        gate = ["namespace", "gate"]
        self.info = Info(f"{PREFIX}_build", "Operator build information.", registry=r)
        self.info.info({"version": __version__})
        # Phase, phase-since and weight of every gate: one small record per gate,
        # turned into samples at scrape time (12 labelled Gauge children per gate
        # cost ~8 KiB each gate, 80 MiB at 10,000 gates).
        self.gates = GateStates()
        r.register(self.gates)
        self.probe_success = Gauge(
            f"{PREFIX}_probe_success",
            "Last verdict of each probe: 1 passed, 0 failed (absent: no data yet).",
            [*gate, "probe"],
            registry=r,
        )
        self.probe_runs = Counter(
            f"{PREFIX}_probe_runs",
            "Probe runs by result (pass, fail, nodata).",
            [*gate, "probe", "result"],
            registry=r,
        )
        self.probe_duration = Histogram(
            f"{PREFIX}_probe_duration_seconds",
            "How long probe runs take.",
            ["probe"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=r,
        )
        self.stable_check_success = Gauge(
            f"{PREFIX}_stable_check_success",
            "Idle or Promoted gates: last verdict of the low-rate watch on the stable"
            " revision's serving pods, per probe: 1 passed, 0 failed.",
            [*gate, "probe"],
            registry=r,
        )
        self.error_rate = Gauge(
            f"{PREFIX}_canary_error_rate_ratio",
            "Error ratio (0..1) last measured on the revision under test.",
            gate,
            registry=r,
        )
        # Per metric check (spec.probes.metrics): dry-run checks too, labelled so.
        check = [*gate, "check", "dry_run"]
        self.metric_check_value = Gauge(
            f"{PREFIX}_metric_check_value",
            "Value each metric check's query last returned on the revision under test.",
            check,
            registry=r,
        )
        self.metric_check_success = Gauge(
            f"{PREFIX}_metric_check_success",
            "Last verdict of each metric check: 1 passed, 0 failed (absent: no data yet).",
            check,
            registry=r,
        )
        self.transitions = Counter(
            f"{PREFIX}_phase_transitions",
            "Phase transitions, by the phase entered.",
            [*gate, "phase"],
            registry=r,
        )
        self.rollbacks = Counter(
            f"{PREFIX}_rollbacks",
            "Rollbacks by the trigger that fired.",
            [*gate, "reason"],
            registry=r,
        )
        self.reverts_after_promotion = Counter(
            f"{PREFIX}_reverts_after_promotion",
            "Promoted revisions reverted during the watch after their promotion, by the"
            " trigger that fired.",
            [*gate, "reason"],
            registry=r,
        )
        self.reconciles = Counter(
            f"{PREFIX}_reconciles",
            "Reconcile passes that ran to the end.",
            registry=r,
        )
        self.reconcile_causes = Counter(
            f"{PREFIX}_reconcile_causes",
            "Reconcile passes by what started them: a change an index saw (deployment,"
            " owned-deployment, service, pods, job, gate, required-gate, approval, claim),"
            " the API server back (apiserver), or a timer (start, tick, after-write,"
            " requeue, retry, unwatched-tick, resync).",
            ["cause"],
            registry=r,
        )
        self.reconcile_errors = Counter(
            f"{PREFIX}_reconcile_errors",
            "Reconcile passes that failed, by kind of error.",
            ["kind"],
            registry=r,
        )
        self.notifications = Counter(
            f"{PREFIX}_notifications",
            "Webhook notifications by webhook type and result (sent, failed, dropped).",
            ["type", "result"],
            registry=r,
        )
        self.last_reconcile = Gauge(
            f"{PREFIX}_last_reconcile_timestamp_seconds",
            "When the operator last finished a reconcile pass (Unix time).",
            registry=r,
        )

    def observe_status(self, namespace: str, name: str, status: GateStatus) -> None:
        since = status.phase_since.timestamp() if status.phase_since is not None else None
        self.gates.states[(namespace, name)] = GateState(
            status.phase, since, float(status.canary_weight)
        )

    def observe_probe(
        self, namespace: str, name: str, obs: ProbeObservation, seconds: float
    ) -> None:
        probe = obs.kind.value
        result = "nodata" if obs.ok is None else ("pass" if obs.ok else "fail")
        self.probe_runs.labels(namespace, name, probe, result).inc()
        self.probe_duration.labels(probe).observe(seconds)
        check = obs.details.get("check")
        if isinstance(check, str):
            # One check of several: the kind's verdict is folded from all (status.probes).
            self._metric_check(namespace, name, check, obs)
        elif obs.ok is not None:
            self.probe_success.labels(namespace, name, probe).set(1.0 if obs.ok else 0.0)
        if "error_rate_percent" in obs.values:
            self.error_rate.labels(namespace, name).set(obs.values["error_rate_percent"] / 100)

    def _metric_check(self, namespace: str, name: str, check: str, obs: ProbeObservation) -> None:
        labels = (namespace, name, check, "true" if obs.details.get("dryRun") else "false")
        value = obs.details.get("value")
        if isinstance(value, int | float):
            self.metric_check_value.labels(*labels).set(value)
        if obs.ok is not None:
            self.metric_check_success.labels(*labels).set(1.0 if obs.ok else 0.0)

    def stable_check(self, namespace: str, name: str, kind: ProbeKind, ok: bool) -> None:
        self.stable_check_success.labels(namespace, name, kind.value).set(1.0 if ok else 0.0)

    def forget_stable_checks(self, namespace: str, name: str, kinds: Iterable[ProbeKind]) -> None:
        """A rollout began (or the gate went): the last verdict no longer says anything."""
        for kind in kinds:
            with contextlib.suppress(KeyError):
                self.stable_check_success.remove(namespace, name, kind.value)

    def transition(self, namespace: str, name: str, phase: Phase) -> None:
        self.transitions.labels(namespace, name, phase.value).inc()

    def rollback(self, namespace: str, name: str, reason: str) -> None:
        self.rollbacks.labels(namespace, name, reason).inc()

    def revert_after_promotion(self, namespace: str, name: str, reason: str) -> None:
        self.reverts_after_promotion.labels(namespace, name, reason).inc()

    def notification(self, webhook_type: str, result: str) -> None:
        self.notifications.labels(webhook_type, result).inc()

    def reconciled(self, cause: str = "other") -> None:
        self.reconciles.inc()
        self.reconcile_causes.labels(cause).inc()
        self.last_reconcile.set(time.time())

    def reconcile_failed(self, kind: str) -> None:
        self.reconcile_errors.labels(kind).inc()

    def forget(self, namespace: str, name: str) -> None:
        """Drop a deleted gate's series so alerts do not fire for ghosts."""
        self.gates.states.pop((namespace, name), None)
        for metric in (
            self.probe_success,
            self.probe_runs,
            self.stable_check_success,
            self.metric_check_value,
            self.metric_check_success,
        ):
            for labels in list(_label_sets(metric)):
                if labels[:2] == (namespace, name):
                    metric.remove(*labels)
        with contextlib.suppress(KeyError):
            self.error_rate.remove(namespace, name)


@dataclass(frozen=True, slots=True)
class GateState:
    phase: Phase | None
    since: float | None  # Unix time
    weight: float


class GateStates:
    """A collector: `deploymentgate_gate_phase` (1 for the phase each gate is in,
    0 for the others), `..._gate_phase_since_timestamp_seconds` and
    `..._canary_weight_percent`, from one record per gate."""

    def __init__(self) -> None:
        self.states: dict[tuple[str, str], GateState] = {}

    def collect(self) -> Iterator[Metric]:
        labels = ["namespace", "gate"]
        phase = GaugeMetricFamily(
            f"{PREFIX}_gate_phase",
            "1 for the phase each gate is in, 0 for the others.",
            labels=[*labels, "phase"],
        )
        since = GaugeMetricFamily(
            f"{PREFIX}_gate_phase_since_timestamp_seconds",
            "When each gate entered its current phase (Unix time).",
            labels=labels,
        )
        weight = GaugeMetricFamily(
            f"{PREFIX}_canary_weight_percent",
            "Share of traffic the gate currently sends to the revision under test.",
            labels=labels,
        )
        for (ns, name), state in list(self.states.items()):  # a copy: the loop thread writes
            for p in Phase:
                phase.add_metric([ns, name, p.value], 1.0 if p is state.phase else 0.0)
            if state.since is not None:
                since.add_metric([ns, name], state.since)
            weight.add_metric([ns, name], state.weight)
        yield from (phase, since, weight)


def _label_sets(metric: Gauge | Counter) -> list[tuple[str, ...]]:
    return [tuple(k) for k in metric._metrics]
