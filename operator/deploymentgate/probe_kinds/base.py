"""What one probe kind is to the gate: a pure descriptor (no I/O).

A descriptor says where its spec section lives, which `status.probes` field
holds its result, what it means for verification and which rollback triggers
it fires, and how `deploymentgate check`, `kubectl gate`, notifications and the
demo show it. Its runner (the I/O) lives in deploymentgate.probes, registered
under the same kind (deploymentgate.probes.registry). The model is Argo
Rollouts' metric `Provider` plus its factory.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum
from typing import Any

from pydantic.alias_generators import to_camel

from deploymentgate.durations import format_duration
from deploymentgate.models import GateSpec, Model, ProbeStatus, Rollback, Trigger
from deploymentgate.observations import ProbeKind, ProbeObservation


class Stage(IntEnum):
    """The order in which rollback triggers are checked (the first that fires wins)."""

    FAILED = 0  # a failed verdict fires at once (startup)
    AT_ZERO = 1  # failureThreshold consecutive failed runs with no user traffic
    FAILING_FOR = 2  # failing continuously for a duration (also a backstop at 0%)
    OVER = 3  # over a threshold (error rate)


@dataclass(frozen=True)
class Rule:
    """One rollback trigger of a kind: `fire` returns the reason, or None.

    Called only when the kind is configured and has a result; `due` says when
    a failure already under way will fire if nothing changes.
    """

    stage: Stage
    fire: Callable[[GateSpec, Any, ProbeStatus, datetime], str | None]
    due: Callable[[GateSpec, ProbeStatus], datetime | None] | None = None


def at_zero_rule(kind: ProbeKind) -> Rule:
    """`failureThreshold` consecutive failed runs at 0% traffic reject the revision."""

    def fire(spec: GateSpec, section: Any, result: ProbeStatus, now: datetime) -> str | None:
        threshold: int = section.failure_threshold
        if result.ok is not False or result.consecutive_failures < threshold:
            return None
        return (
            f"{kind.value} probe failed {result.consecutive_failures} consecutive runs"
            f" at 0% traffic (failureThreshold {threshold}): {result.message}"
        )

    return Rule(Stage.AT_ZERO, fire)


def failing_for_rule(limit: Callable[[Rollback], timedelta], what: str) -> Rule:
    """Failing continuously for `limit` (a rollback setting) or longer: `what` says it."""

    def fire(spec: GateSpec, section: Any, result: ProbeStatus, now: datetime) -> str | None:
        since, duration = result.failing_since, limit(spec.rollback)
        if since is None or now - since < duration:
            return None
        return f"{what} for {format_duration(duration)} or longer: {result.message}"

    def due(spec: GateSpec, result: ProbeStatus) -> datetime | None:
        since = result.failing_since
        return since + limit(spec.rollback) if since else None

    return Rule(Stage.FAILING_FOR, fire, due)


def _always(spec: GateSpec) -> bool:
    return True


# A kind's own folding of fresh results into its last status, given its section
# (None: the gate no longer configures it). See core.probe_state.
Fold = Callable[[Any, ProbeStatus | None, list[ProbeObservation]], ProbeStatus]


@dataclass(frozen=True)
class ProbeDescriptor:
    """One probe kind.

    kind          its name in status.probes, Events, metrics and `check --only`
    spec_path     where its section is in the spec (attribute names), e.g. ("probes", "health")
    field         its attribute in `status.probes` (ProbesStatus)
    title         its line in the checklist
    label         how the "verifying revision ..." message names it; default its kind
    trigger       status.rollbackTrigger when one of its rules or final failures fires
    aliases       further `check --only` names (lowercase)
    runs          the probe runner runs it (check, the operator's prober); False: the smoke Job
    per_pod       started on each new pod from its first address (startup), not in rounds
    first         other kinds' passes count only after it passed (startup)
    gated         verification waits for a pass, and it must keep passing while traffic moves
    steady        kept up at a low rate on what serves once a rollout is over (controller.steady)
    judging       given its status, whether it has anything to judge now; a step waits
                  for a pass only of a gated kind that has (metric checks: not when
                  every check that acts is skipped, e.g. relative ones at 100%)
    default_on    an absent section in the raw spec means on (errorRate: the CRD defaults it)
    at_zero       whether it runs at 0% traffic, given its section
    final_fires   whether a final failure rolls back, given the spec
    rules         its rollback triggers
    fold          its own folding of results into its status (metric checks: per check);
                  default: per target, the latest result counts (core.probe_state)
    """

    kind: ProbeKind
    spec_path: tuple[str, str]
    field: str
    title: str = ""
    label: str = ""
    trigger: Trigger | None = None
    aliases: tuple[str, ...] = ()
    runs: bool = True
    per_pod: bool = False
    first: bool = False
    gated: bool = False
    steady: bool = False
    judging: Callable[[ProbeStatus], bool] = lambda result: True
    default_on: bool = False
    at_zero: Callable[[Any], bool] = lambda section: True
    final_fires: Callable[[GateSpec], bool] = _always
    rules: tuple[Rule, ...] = ()
    fold: Fold | None = None

    @property
    def named(self) -> str:
        """Its name in the "verifying revision ..." message."""
        return self.label or self.kind.value

    def section(self, spec: GateSpec) -> Model | None:
        """Its configuration in the gate, or None when the gate does not configure it."""
        part, name = self.spec_path
        value = getattr(getattr(spec, part), name, None)
        return value if isinstance(value, Model) else None

    def interval(self, spec: GateSpec) -> float:
        """Seconds between the operator's rounds of it."""
        section = self.section(spec)
        every = getattr(section, "interval", None)
        return every.total_seconds() if isinstance(every, timedelta) else 5.0

    def configured_raw(self, spec: Mapping[str, Any]) -> bool:
        """Whether a raw (wire form) spec configures it, as the demo reads a gate."""
        part, name = self.spec_path
        container = spec.get(to_camel(part)) or {}
        return container.get(to_camel(name), {} if self.default_on else None) is not None
