"""What the thin layers tell the pure core: plain, immutable facts.

Probes produce `ProbeObservation`s; the Kubernetes adapter produces
`WorkloadState`s. The core never does I/O: it reads these and the clock value
it is handed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar


class _KindType(type):
    """Iterating `ProbeKind` lists every kind made so far, in the order they were made."""

    def __iter__(cls) -> Iterator[ProbeKind]:
        return iter(list(ProbeKind._made.values()))


class ProbeKind(str, metaclass=_KindType):
    """A probe kind's name, as in `status.probes`, Events and metric labels.

    Not an Enum: a registered extra probe kind (deploymentgate.probe_kinds)
    makes its own. Interned, so `kind is ProbeKind.HEALTH` holds as it did for
    the enum, and `.value` is the name, as it was.
    """

    _made: ClassVar[dict[str, ProbeKind]] = {}
    STARTUP: ClassVar[ProbeKind]
    HEALTH: ClassVar[ProbeKind]
    WEBSOCKET: ClassVar[ProbeKind]
    ERROR_RATE: ClassVar[ProbeKind]
    SMOKE: ClassVar[ProbeKind]  # a Job the operator runs, not a probe of the runner
    METRICS: ClassVar[ProbeKind]  # PromQL checks under user traffic (one result per check)

    def __new__(cls, value: str) -> ProbeKind:
        made = cls._made.get(value)
        if made is None:
            made = super().__new__(cls, value)
            cls._made[value] = made
        return made

    @property
    def value(self) -> str:
        return str.__str__(self)

    def __repr__(self) -> str:
        return f"ProbeKind({self.value!r})"

    def __copy__(self) -> ProbeKind:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> ProbeKind:
        return self

    def __reduce__(self) -> tuple[type[ProbeKind], tuple[str]]:
        return (ProbeKind, (self.value,))


ProbeKind.STARTUP = ProbeKind("startup")
ProbeKind.HEALTH = ProbeKind("health")
ProbeKind.WEBSOCKET = ProbeKind("websocket")
ProbeKind.ERROR_RATE = ProbeKind("errorRate")
ProbeKind.SMOKE = ProbeKind("smoke")
ProbeKind.METRICS = ProbeKind("metrics")


@dataclass(frozen=True)
class ProbeObservation:
    """One finished probe run against one target (a pod or a URL).

    `ok` is None when the run produced no verdict ("no data", e.g. an empty
    Prometheus result or too few requests): no data never counts as a pass.
    `final` marks a failure that cannot recover by waiting (startup reported
    failed, phases out of order), so the core need not wait for a duration.
    `not_observed` (startup only, with ok None) says the pod had finished
    starting before the probe first reached it: its phases can never be seen,
    so only a fresh pod can pass the startup probe.
    """

    kind: ProbeKind
    ok: bool | None
    message: str
    at: datetime
    target: str = ""
    revision: str | None = None
    final: bool = False
    not_observed: bool = False
    values: dict[str, float] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class WorkloadState:
    """A Deployment as the core needs to see it."""

    exists: bool
    revision: str | None = None  # hash of the pod template (see k8s adapter)
    replicas: int = 0  # spec.replicas
    ready: int = 0  # status.readyReplicas
    updated: int = 0  # status.updatedReplicas
    template: dict[str, Any] | None = None
    observed: bool = True  # status.observedGeneration >= metadata.generation
    # A gate's serving Deployment only, from the pods the operator watches: its live
    # pods that carry the serving key, and those parked without it (no traffic).
    pods_serving: int = 0
    pods_parked: int = 0


@dataclass(frozen=True)
class SmokeJobState:
    """The gate's smoke-test Job of one revision (seed §4), as the core needs to see it.

    finished   the Job has a Complete or Failed condition
    succeeded  it is Complete
    reason     why it failed, as the Job says (e.g. DeadlineExceeded, BackoffLimitExceeded)
    detail     what its pod says (exit code, or why a container never started)
    log_tail   the last lines of its pod's log (bounded), read once it finished
    deleting   it has a deletionTimestamp: it counts for nothing any more
    """

    name: str
    finished: bool = False
    succeeded: bool = False
    reason: str = ""
    detail: str = ""
    log_tail: str = ""
    deleting: bool = False
