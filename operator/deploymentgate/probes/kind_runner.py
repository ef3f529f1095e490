"""What a probe kind's runner offers: a one-shot run (`deploymentgate check`) and
the operator's rounds against a gate's pods. Each kind's runner sits in its own
module and is reached through deploymentgate.probes.registry."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from deploymentgate.models import GateSpec, MetricCheckTemplateSpec, Model, TemplateRef
from deploymentgate.observations import ProbeKind, ProbeObservation

# What a check's templateRef names, read afresh at each evaluation: the template, or
# why there is none (not found, invalid). The operator's is a lookup into its index.
TemplateLookup = Callable[[TemplateRef], MetricCheckTemplateSpec | str]


@dataclass(frozen=True)
class PrometheusContext:
    """Values for the PromQL placeholders (see probes.promql), and where a one-shot
    run finds the templates checks name (`deploymentgate check`: its files)."""

    namespace: str = ""
    revision: str | None = None
    pod_regex: str = ".*"
    templates: TemplateLookup | None = None


@dataclass(frozen=True)
class PodTarget:
    """One pod (or service) to probe: its name (the observation's target; None:
    the URL), URL and start."""

    name: str | None
    base_url: str
    started_at: datetime | None = None


@dataclass(frozen=True)
class Stable:
    """The stable revision and its serving pods beside the revision under test,
    for a kind that names them (the metric checks' {stable_*} placeholders)."""

    revision: str | None = None
    pods: tuple[PodTarget, ...] = ()


NO_STABLE = Stable()


@dataclass(frozen=True)
class Round:
    """One round's results with the seconds each took, and what it says for the
    loop's pace: None no target yet (look again soon), False a failure (confirm
    it soon), True all is well (wait the interval)."""

    results: tuple[tuple[ProbeObservation, float], ...]
    outcome: bool | None


class Rounds:
    """The operator's rounds of one kind for one gate; the default probes every
    serving pod at once. A kind that keeps state across rounds (the error-rate
    window) subclasses it; one that names the stable revision's pods says so
    (`wants_stable`), so that the others' rounds never look them up."""

    wants_stable = False

    def __init__(self, runner: ProbeRunner, spec: GateSpec, section: Model) -> None:
        self.runner, self.spec, self.section = runner, spec, section

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
        """One round over `pods` (the revision under test's); `stable` for kinds that
        compare, `templates` for kinds whose checks may name one (metric checks)."""
        if not pods:
            return Round((), None)
        results = await asyncio.gather(*(self._timed(pod, revision) for pod in pods))
        return Round(tuple(results), all(obs.ok is not False for obs, _ in results))

    async def _timed(self, pod: PodTarget, revision: str) -> tuple[ProbeObservation, float]:
        began = time.monotonic()
        obs = await self.runner.probe(self.spec, self.section, pod, revision=revision)
        return obs, time.monotonic() - began


class ProbeRunner:
    """A probe kind's I/O. `kind` ties it to its descriptor (deploymentgate.probe_kinds)."""

    kind: ProbeKind

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
        """One run against a service (`deploymentgate check`); by default as `probe`."""
        return await self.probe(
            spec, section, PodTarget(target, base_url), revision=revision, honor_port=honor_port
        )

    async def probe(
        self,
        spec: GateSpec,
        section: Model,
        pod: PodTarget,
        *,
        revision: str | None,
        honor_port: bool = True,
    ) -> ProbeObservation:
        """One run against one pod."""
        raise NotImplementedError

    def rounds(self, spec: GateSpec, section: Model) -> Rounds:
        """The operator's rounds of this kind for one gate (not for per-pod kinds)."""
        return Rounds(self, spec, section)


S = TypeVar("S", bound=Model)
# A kind's one run against one URL, from its spec section alone:
# run(base_url, section, *, honor_port, target, revision).
SectionRun = Callable[..., Awaitable[ProbeObservation]]


class SectionRunner(ProbeRunner, Generic[S]):
    """The runner of a kind whose one run needs only the pod's URL and its section
    (health, WebSocket): `kind`, the section's type, and that run."""

    def __init__(self, kind: ProbeKind, section_type: type[S], run: SectionRun) -> None:
        self.kind, self.section_type, self.run = kind, section_type, run

    async def probe(
        self,
        spec: GateSpec,
        section: Model,
        pod: PodTarget,
        *,
        revision: str | None,
        honor_port: bool = True,
    ) -> ProbeObservation:
        if not isinstance(section, self.section_type):
            raise TypeError(f"{self.kind.value} runs on {self.section_type.__name__}")
        return await self.run(
            pod.base_url, section, honor_port=honor_port, target=pod.name, revision=revision
        )
