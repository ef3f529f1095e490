"""A tiny in-memory cluster that obeys the core's actions, for scenario tests.

It plays the thin layer's part: builds `Observations`, calls `decide`, keeps
the returned status (round-tripped through its wire form, as the API server
would store it) and applies the actions instantly. Pods of a workload become
ready at once unless the test holds that workload back.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from deploymentgate.core import (
    AutoscalerState,
    Decision,
    EnsureAutoscaler,
    EnsureServing,
    EnsureSmokeJob,
    EnsureVerification,
    GateService,
    Observations,
    ParkServing,
    ProbeRun,
    RecordEvent,
    RemoveAutoscaler,
    RemoveServing,
    RemoveSmokeJob,
    RemoveVerification,
    RevertTarget,
    ScaleServing,
    ScaleTarget,
    ServiceState,
    StartProbes,
    StopProbes,
    decide,
)
from deploymentgate.core.inputs import ABSENT, Conflict, Holder, ObservedSignOff
from deploymentgate.core.policy_state import PolicyState
from deploymentgate.core.routers.gateway import (
    EnsureBackends,
    GatewayState,
    RemoveBackends,
    RestoreRoutes,
    RouteState,
    SetRouteWeights,
)
from deploymentgate.k8s.revision import template_revision
from deploymentgate.models import GateSpec, GateStatus, Phase, dump, parse_spec, parse_status
from deploymentgate.observations import (
    ProbeKind,
    ProbeObservation,
    SmokeJobState,
    WorkloadState,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ALL_PROBES = (ProbeKind.STARTUP, ProbeKind.HEALTH, ProbeKind.WEBSOCKET, ProbeKind.ERROR_RATE)


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def seconds(n: float) -> timedelta:
    return timedelta(seconds=n)


def template(image: str, *, extra_labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": "chat", **(extra_labels or {})}},
        "spec": {
            "containers": [{"name": "chat", "image": image, "ports": [{"containerPort": 8000}]}]
        },
    }


def rev(image: str) -> str:
    return template_revision(template(image))


def approvals(*roles: str) -> dict[str, Any]:
    """spec.approvals requiring `roles`, each held by the group of the same name."""
    return {"required": list(roles), "roles": {r: {"groups": [r]} for r in roles}}


POLICY_IN_FORCE = PolicyState(True, since=T0 - timedelta(days=1))


def sign_off(
    role: str,
    revision: str,
    at: datetime,
    *,
    approver: str | None = None,
    groups: Iterable[str] | None = None,
) -> ObservedSignOff:
    """A GateApproval by a member of the group named like the role (see `approvals`)."""
    return ObservedSignOff(
        name=f"{role}-{revision}-{approver or 'someone'}",
        revision=revision,
        role=role,
        approver=approver or f"{role}-person",
        groups=frozenset([role] if groups is None else groups),
        created=at,
    )


def gate_spec(**overrides: Any) -> GateSpec:
    """The seed's chat gate: all three probes, steps 10/50/100 every 2m; no watch
    after promotion (tests of that watch ask for one)."""
    raw: dict[str, Any] = {
        "targetRef": {"name": "chat"},
        "service": "chat",
        "traffic": {"steps": [10, 50, 100], "stepDuration": "2m", "progressDeadline": "10m"},
        "probes": {"startup": {}, "health": {}, "websocket": {}},
        "rollback": {
            "healthFailingFor": "5m",
            "websocketSilentFor": "2m",
            "watchAfterPromotion": "0s",
        },
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(raw.get(key), dict):
            raw[key] = {**raw[key], **value}
        else:
            raw[key] = value
    return parse_spec(raw)


def deployment(image: str, replicas: int, *, ready: int | None = None) -> WorkloadState:
    n = replicas if ready is None else ready
    return WorkloadState(
        exists=True,
        revision=rev(image),
        replicas=replicas,
        ready=n,
        updated=n,
        template=template(image),
    )


def obs_for(
    kind: ProbeKind,
    ok: bool | None,
    at: datetime,
    *,
    revision: str | None,
    target: str = "pod-a",
    message: str = "",
    final: bool = False,
    values: dict[str, float] | None = None,
) -> ProbeObservation:
    return ProbeObservation(
        kind=kind,
        ok=ok,
        message=message
        or f"{kind.value} {'ok' if ok else 'failing' if ok is False else 'no data'}",
        at=at,
        target=target,
        revision=revision,
        final=final,
        values=values or {},
    )


@dataclasses.dataclass(frozen=True)
class Call:
    """One recorded `decide` call: its inputs and its answer."""

    spec: GateSpec | None
    status: GateStatus
    obs: Observations
    now: datetime
    decision: Decision


@dataclasses.dataclass(frozen=True)
class Sample:
    """Ready pods behind the team's Service right after one action was carried out."""

    gated: bool
    serving: dict[str, int]  # revision -> ready pods of the gate's serving Deployments
    target: int  # ready pods of the team's own Deployment the Service selects
    verification: int  # ready verification pods the Service selects

    @property
    def total(self) -> int:
        return sum(self.serving.values()) + self.target + self.verification


GATED_SERVICE = ServiceState(exists=True, gated=True)
UNGATED_SERVICE = ServiceState(exists=True, gated=False)


@dataclasses.dataclass
class Sim:
    """A gate, the team's Deployment and Service, and the objects the gate owns.

    `hold` names workloads whose pods stay unready: "target", "verification",
    "serving" (every serving Deployment) or a revision (its serving Deployment).
    """

    spec: GateSpec
    target: WorkloadState
    serving: dict[str, WorkloadState] = dataclasses.field(default_factory=dict)
    verification: WorkloadState = ABSENT
    service: ServiceState = UNGATED_SERVICE
    conflicts: tuple[Conflict, ...] = ()
    held_by: Holder | None = None
    probing: ProbeRun | None = None
    status: GateStatus = dataclasses.field(default_factory=GateStatus)
    hold: set[str] = dataclasses.field(default_factory=set)
    events: list[RecordEvent] = dataclasses.field(default_factory=list)
    deleting: bool = False
    deleting_since: datetime | None = None
    spec_error: str | None = None
    sign_offs: list[ObservedSignOff] = dataclasses.field(default_factory=list)
    sign_off_policy: PolicyState = POLICY_IN_FORCE
    created: datetime | None = None  # the gate's creationTimestamp
    required_gates: dict[str, GateStatus | None] = dataclasses.field(default_factory=dict)
    statuses: list[GateStatus] = dataclasses.field(default_factory=list)
    calls: list[Call] = dataclasses.field(default_factory=list)
    samples: list[Sample] = dataclasses.field(default_factory=list)
    # router gatewayAPI: the gate's two Services and the managed HTTPRoutes.
    gateway: GatewayState = dataclasses.field(default_factory=GatewayState)
    # Weight writes carried out, in order (the gateway applies each at once).
    weight_writes: list[tuple[int, int]] = dataclasses.field(default_factory=list)
    # The gate's request annotations (kubectl gate abort/retry/promote).
    commands: dict[str, str] = dataclasses.field(default_factory=dict)
    # Smoke-test Jobs by revision, and every Job the core asked for, in order.
    smoke_jobs: dict[str, SmokeJobState] = dataclasses.field(default_factory=dict)
    smoke_created: list[EnsureSmokeJob] = dataclasses.field(default_factory=list)
    pod_url: str = "http://10.0.0.9:8000"  # the ready verification pod's URL ("": unknown)
    # The team's HPA on their Deployment, and the gate's own copy of it.
    team_hpa: AutoscalerState | None = None
    own_hpa: AutoscalerState | None = None
    # Serving revisions whose pods run without the serving key (ParkServing).
    parked: set[str] = dataclasses.field(default_factory=set)
    park_writes: list[ParkServing] = dataclasses.field(default_factory=list)

    def observe(self, probes: Iterable[ProbeObservation] = ()) -> Observations:
        return Observations(
            target=self.target,
            serving={r: self._pods_counted(r, w) for r, w in self.serving.items()},
            verification=self.verification,
            service=self.service,
            conflicts=self.conflicts,
            held_by=self.held_by,
            probes=tuple(probes),
            probing=self.probing,
            generation=1,
            deleting=self.deleting,
            deleting_since=self.deleting_since,
            spec_error=self.spec_error,
            sign_offs=tuple(self.sign_offs),
            sign_off_policy=self.sign_off_policy,
            created=self.created,
            required_gates=self.required_gates,
            router_state=self._gateway_seen(),
            commands=dict(self.commands),
            smoke_jobs=dict(self.smoke_jobs),
            verification_url=(self.pod_url or None) if self.verification.ready > 0 else None,
            autoscaler=self.team_hpa,
            own_autoscaler=self.own_hpa,
        )

    def _pods_counted(self, revision: str, workload: WorkloadState) -> WorkloadState:
        """The serving Deployment with its running pods counted, parked or not."""
        pods = max(workload.ready, 0)
        if revision in self.parked:
            return dataclasses.replace(workload, pods_serving=0, pods_parked=pods)
        return dataclasses.replace(workload, pods_serving=pods, pods_parked=0)

    def _gateway_seen(self) -> GatewayState:
        """A Service's endpoints hold its revision's pods only while some are ready."""
        serving = tuple(
            b if b is not None and self.serving.get(b, ABSENT).ready > 0 else None
            for b in self.gateway.backends
        )
        return dataclasses.replace(self.gateway, serving=(serving[0], serving[1]))

    def tick(self, now: datetime, probes: Iterable[ProbeObservation] = ()) -> Decision:
        """One reconcile: decide, store the status, carry out the actions."""
        spec = None if self.spec_error else self.spec
        observations = self.observe(probes)
        decision = decide(spec, self.status, observations, now)
        self.calls.append(Call(spec, self.status, observations, now, decision))
        self.status = parse_status(dump(decision.status))  # what the API server keeps
        self.statuses.append(self.status)
        self.apply(decision.operations)
        self.events.extend(decision.events)
        return decision

    def settle(self, now: datetime, rounds: int = 8) -> None:
        """Reconcile until nothing is left to do (bounded)."""
        for _ in range(rounds):
            decision = self.tick(now)
            if not decision.operations and not decision.events:
                return
        raise AssertionError(f"gate did not settle: {self.status.phase} {self.status.message}")

    def deploy(
        self, image: str, replicas: int | None = None, *, tpl: dict[str, Any] | None = None
    ) -> str:
        """The team changes the Deployment's image (kubectl set image), or its
        whole template to `tpl`."""
        tpl = tpl or template(image)
        self.target = dataclasses.replace(
            self.target,
            revision=template_revision(tpl),
            template=tpl,
            replicas=self.target.replicas if replicas is None else replicas,
            ready=0,
            updated=0,
        )
        self._ready("target")
        return template_revision(tpl)

    def autoscale(self, metrics_want: int | None = None) -> None:
        """One sync of the HPA controller on the gate's copy: the Deployment it
        scales goes to the bounds (or to what the metrics want, within them)."""
        hpa = self.own_hpa
        if hpa is None:
            return
        revision = hpa.revision or ""
        current = self.serving.get(revision)
        if current is None or not current.exists:
            return
        want = current.replicas if metrics_want is None else metrics_want
        desired = max(hpa.min_replicas, min(hpa.max_replicas, want))
        self.serving[revision] = dataclasses.replace(current, replicas=desired)
        self._ready(revision)
        self.own_hpa = dataclasses.replace(hpa, desired=desired, current=True)
        self._sample()

    def scale_target(self, replicas: int) -> None:
        """Someone scales the team's Deployment (kubectl scale, HPA, GitOps replicas:)."""
        self.target = dataclasses.replace(self.target, replicas=replicas)
        self._ready("target")
        self._sample()

    def release(self, name: str) -> None:
        """Pods of `name` become ready after being held back."""
        self.hold.discard(name)
        if name == "serving":
            for revision in list(self.serving):
                self._ready(revision)
        else:
            self._ready(name)
        self._sample()

    def set_ready(self, revision: str, ready: int) -> None:
        """`ready` pods of `revision`'s serving Deployment are ready."""
        self.serving[revision] = dataclasses.replace(
            self.serving[revision], ready=ready, updated=ready
        )
        self._sample()

    def replicas_of(self, revision: str | None) -> int:
        """Replicas of the gate's serving Deployment of `revision` (0 when absent)."""
        return self.serving[revision].replicas if revision in self.serving else 0

    def apply(self, actions: Iterable[object]) -> None:
        for action in actions:
            self._apply(action)
            self._sample()

    def _apply(self, action: object) -> None:
        if isinstance(action, EnsureServing):
            # The core may only copy a template into the serving Deployment of its own revision.
            assert template_revision(dict(action.template)) == action.revision, action
            current = self.serving.get(action.revision, ABSENT)
            if current.exists:
                self.serving[action.revision] = dataclasses.replace(
                    current, replicas=action.replicas
                )
            else:
                self.serving[action.revision] = WorkloadState(
                    exists=True,
                    revision=action.revision,
                    replicas=action.replicas,
                    template=serving_template(dict(action.template), action.revision),
                )
            self._ready(action.revision)
        elif isinstance(action, ScaleServing):
            assert action.revision in self.serving, action
            self.serving[action.revision] = dataclasses.replace(
                self.serving[action.revision], replicas=action.replicas
            )
            self._ready(action.revision)
        elif isinstance(action, ParkServing):
            assert action.revision in self.serving, action
            self.park_writes.append(action)
            (self.parked.add if action.parked else self.parked.discard)(action.revision)
        elif isinstance(action, RemoveServing):
            self.serving.pop(action.revision, None)
            self.parked.discard(action.revision)
        elif isinstance(action, ScaleTarget):
            assert self.target.exists, action
            self.target = dataclasses.replace(self.target, replicas=action.replicas)
            self._ready("target")
        elif isinstance(action, GateService):
            assert self.service.exists, action
            self.service = dataclasses.replace(self.service, gated=action.gated)
        elif isinstance(action, EnsureVerification):
            self.verification = WorkloadState(
                exists=True,
                revision=action.revision,
                replicas=action.replicas,
                template=dict(action.template),
            )
            self._ready("verification")
        elif isinstance(action, RemoveVerification):
            self.verification = ABSENT
        elif isinstance(action, RevertTarget):
            self.target = dataclasses.replace(
                self.target,
                revision=template_revision(dict(action.template)),
                template=dict(action.template),
                ready=0,
                updated=0,
            )
            self._ready("target")
        elif isinstance(action, EnsureBackends):
            # The Services' endpoints follow at once (the pods are ready in the sim).
            backends = (action.stable, action.canary)
            self.gateway = dataclasses.replace(self.gateway, backends=backends, serving=backends)
        elif isinstance(action, RemoveBackends):
            assert not any(r.managed for r in self.gateway.routes.values()), action
            self.gateway = dataclasses.replace(
                self.gateway, backends=(None, None), serving=(None, None)
            )
        elif isinstance(action, SetRouteWeights):
            assert all(b is not None for b in self.gateway.backends), action
            weights = (action.stable, action.canary)
            self.weight_writes.append(weights)
            routes = {
                name: RouteState(weights=weights, managed=True) if route.exists else route
                for name, route in self.gateway.routes.items()
            }
            self.gateway = dataclasses.replace(self.gateway, routes=routes)
        elif isinstance(action, RestoreRoutes):
            routes = {
                name: RouteState() if route.exists else route
                for name, route in self.gateway.routes.items()
            }
            self.gateway = dataclasses.replace(self.gateway, routes=routes)
        elif isinstance(action, EnsureSmokeJob):
            assert action.revision not in self.smoke_jobs, action  # created once
            self.smoke_created.append(action)
            self.smoke_jobs[action.revision] = SmokeJobState(name=f"chat-smoke-{action.revision}")
        elif isinstance(action, RemoveSmokeJob):
            assert action.revision in self.smoke_jobs, action
            self.smoke_jobs.pop(action.revision)
        elif isinstance(action, EnsureAutoscaler):
            assert self.team_hpa is not None and action.revision in self.serving, action
            assert dict(action.spec) == dict(self.team_hpa.spec), action  # the team's, as written
            self.own_hpa = dataclasses.replace(
                self.team_hpa,
                name="chat-serving",
                target=f"chat-{action.revision}",
                revision=action.revision,
                desired=self.own_hpa.desired if self.own_hpa else 0,
                current=False,
            )
        elif isinstance(action, RemoveAutoscaler):
            self.own_hpa = None
        elif isinstance(action, StartProbes):
            self.probing = action.run
        elif isinstance(action, StopProbes):
            self.probing = None
        else:  # pragma: no cover - a new action type the sim must learn
            raise AssertionError(f"unknown action {action!r}")

    def _ready(self, name: str) -> None:
        """Pods come up at once; held back, only pods that were ready stay ready."""
        if name in ("target", "verification"):
            workload: WorkloadState = getattr(self, name)
            if workload.exists:
                ready = min(workload.ready, workload.replicas) if name in self.hold else None
                setattr(self, name, _with_ready(workload, ready))
            return
        serving = self.serving.get(name)
        if serving is not None:
            held = name in self.hold or "serving" in self.hold
            ready = min(serving.ready, serving.replicas) if held else None
            self.serving[name] = _with_ready(serving, ready)

    def _sample(self) -> None:
        """What the Service would select now (ungated, the team's selector matches
        every pod of the team's template: its own, serving and verification pods)."""
        if not self.service.exists:
            return
        gated = self.service.gated
        serving = {r: w.ready for r, w in self.serving.items() if w.ready and r not in self.parked}
        target = 0 if gated or not self.target.exists else self.target.ready
        verification = 0 if gated or not self.verification.exists else self.verification.ready
        self.samples.append(Sample(gated, serving, target, verification))

    def finish_smoke(self, revision: str, *, ok: bool, log: str = "", reason: str = "") -> None:
        """The smoke Job of `revision` ends (its pod's log tail as the thin layer reads it)."""
        job = self.smoke_jobs[revision]
        self.smoke_jobs[revision] = dataclasses.replace(
            job,
            finished=True,
            succeeded=ok,
            reason="" if ok else reason or "BackoffLimitExceeded",
            detail="" if ok else "exit code 1",
            log_tail=log,
        )

    def reasons(self) -> list[str]:
        return [e.reason.value for e in self.events]

    def phase(self) -> Phase | None:
        """The phase now: a call, so a type checker does not keep an earlier
        `assert sim.status.phase is ...` narrowing across the passes since."""
        return self.status.phase


def _with_ready(workload: WorkloadState, ready: int | None) -> WorkloadState:
    n = workload.replicas if ready is None else ready
    return dataclasses.replace(workload, ready=n, updated=n)


def serving_template(tpl: dict[str, Any], revision: str) -> dict[str, Any]:
    """What the executor stores in a serving Deployment: the operator's labels added."""
    out = {**tpl, "metadata": {**tpl.get("metadata", {})}}
    out["metadata"]["labels"] = {
        **out["metadata"].get("labels", {}),
        "deploymentgate.dev/gate": "chat",
        "deploymentgate.dev/role": "serving",
        "deploymentgate.dev/revision": revision,
        "deploymentgate.dev/serving": "chat",
    }
    return out


def passing(
    at: datetime,
    revision: str | None,
    kinds: Iterable[ProbeKind] = (ProbeKind.STARTUP, ProbeKind.HEALTH, ProbeKind.WEBSOCKET),
) -> list[ProbeObservation]:
    """One passing result per kind, startup first, a second apart."""
    return [obs_for(kind, True, at + seconds(i), revision=revision) for i, kind in enumerate(kinds)]


def adopted(spec: GateSpec | None = None, replicas: int = 10, image: str = "chat:1") -> Sim:
    """A gate that has adopted `chat` and sits Idle: the Service gated, the
    team's Deployment at 0, `chat-<rev>` serving."""
    sim = Sim(spec=spec or gate_spec(), target=deployment(image, replicas))
    sim.settle(T0)
    assert sim.status.phase is not None and sim.status.phase.value == "Idle", sim.status.message
    assert sim.service.gated and sim.target.replicas == 0
    assert sim.replicas_of(rev(image)) == replicas
    sim.events.clear()
    sim.samples.clear()
    return sim
