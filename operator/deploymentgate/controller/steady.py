"""The low-rate watch on what serves once a rollout is over (seed §8:
"monitor health endpoints, WebSocket event flow" after the deploy).

A gate that is Idle or Promoted keeps probing its stable revision's serving
pods with its own probes of the kinds that say `steady` (health and WebSocket),
every `STEADY_INTERVAL_SECONDS`. It never reverts (there is no verified
revision to go back to) and never writes the gate's status or wakes its loop:
its verdicts go to the metric
`deploymentgate_stable_check_success`, which the chart's alert
DeploymentGateStableFailingChecklist pages on, so a team learns when the
stable revision stops meeting the checklist.
"""

from __future__ import annotations

import asyncio
import logging

from deploymentgate.controller.pods import PodInfo
from deploymentgate.controller.probing import GateProber
from deploymentgate.core import ProbeRun, ProbeWorkload
from deploymentgate.metrics import GateMetrics
from deploymentgate.models import GateSpec
from deploymentgate.observations import ProbeKind, ProbeObservation
from deploymentgate.probe_kinds import kinds as probe_kinds

log = logging.getLogger(__name__)

STEADY_INTERVAL_SECONDS = 30.0  # the default of `deploymentgate run --steady-interval`
NO_POD_RECHECK_SECONDS = 5.0  # no ready serving pod yet: look again this soon


def steady_plan(spec: GateSpec, stable: str | None) -> ProbeRun | None:
    """The kinds the gate configures, on the stable revision's serving pods."""
    kinds = frozenset(d.kind for d in probe_kinds() if d.steady and d.section(spec) is not None)
    if stable is None or not kinds:
        return None
    return ProbeRun(revision=stable, workload=ProbeWorkload.CANARY, kinds=kinds)


class SteadyWatch(GateProber):
    """A GateProber at a low rate, whose verdicts are metrics only."""

    def __init__(
        self,
        namespace: str,
        name: str,
        metrics: GateMetrics,
        interval: float = STEADY_INTERVAL_SECONDS,
    ) -> None:
        super().__init__(namespace, name, metrics)
        self.interval = interval
        self._verdicts: dict[ProbeKind, list[bool | None]] = {}  # this round's, per pod

    def start(self, spec: GateSpec, plan: ProbeRun) -> None:
        if self.interval > 0:
            super().start(spec, plan)

    def stop(self) -> None:
        if self.plan is not None:
            self.metrics.forget_stable_checks(self.namespace, self.name, self.plan.kinds)
        super().stop()

    def _interval(self, kind: ProbeKind) -> float:
        return self.interval

    async def _rounds(self, kind: ProbeKind, interval: float) -> None:
        """Every `interval`, failing or not: a failing stable is not retried at
        once, as a revision under test is (nothing here acts on it). A round's
        verdict is 0 if any pod failed, 1 if all answered and passed; a round
        without an answer (no data) changes nothing."""
        while True:
            outcome: bool | None = True
            self._verdicts[kind] = []
            try:
                outcome = await self._round(kind)
                verdicts = [ok for ok in self._verdicts.pop(kind, []) if ok is not None]
                if verdicts:
                    self.metrics.stable_check(self.namespace, self.name, kind, all(verdicts))
            except asyncio.CancelledError:
                raise
            except Exception:  # a probe bug must not stop the watch
                log.exception(
                    "stable check %s of %s/%s failed", kind.value, self.namespace, self.name
                )
            pause = interval if outcome is not None else min(interval, NO_POD_RECHECK_SECONDS)
            await asyncio.sleep(pause)

    def _serving(self, pod: PodInfo) -> bool:
        return pod.base_url is not None and pod.ready

    def _record(self, obs: ProbeObservation, seconds: float) -> None:
        self._verdicts.setdefault(obs.kind, []).append(obs.ok)
