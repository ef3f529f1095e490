"""The DeploymentGate resource as typed models: spec (what the team declared)
and status (everything the rollout remembers; nothing lives elsewhere).

Field names are the CRD's (camelCase aliases); Python code uses snake_case.
`deploy/crds/` must agree with these models; tests/core/test_crd_models.py
holds them together.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from deploymentgate.durations import format_duration, format_percent, parse_duration, parse_percent

API_GROUP = "rollout.deploymentgate.dev"
API_VERSION = "v1alpha1"
KIND = "DeploymentGate"
PLURAL = "deploymentgates"

Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
]
Percent = Annotated[
    float,
    BeforeValidator(parse_percent),
    PlainSerializer(format_percent, return_type=str),
]


class Model(BaseModel):
    """camelCase on the wire, unknown fields refused (the CRD prunes them anyway)."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


# --------------------------------------------------------------------- spec


class TargetRef(Model):
    kind: Literal["Deployment"] = "Deployment"
    name: str = Field(min_length=1)


class Router(StrEnum):
    REPLICAS = "replicas"
    GATEWAY_API = "gatewayAPI"


class Traffic(Model):
    router: Router = Router.REPLICAS
    steps: list[int] = Field(default_factory=lambda: [10, 50, 100], min_length=1)
    step_duration: Duration = timedelta(minutes=2)
    progress_deadline: Duration = timedelta(minutes=10)
    http_route: str | None = None  # gatewayAPI: the HTTPRoute whose weights move

    @field_validator("steps")
    @classmethod
    def _ascending_percentages(cls, steps: list[int]) -> list[int]:
        for step in steps:
            if not 1 <= step <= 100:
                raise ValueError(f"each step is a percentage from 1 to 100, got {step}")
        if any(b <= a for a, b in itertools.pairwise(steps)):
            raise ValueError(f"steps must be strictly ascending, got {steps}")
        return steps


DEFAULT_PHASES = ["INIT", "DEPENDENCIES", "DATABASE", "CACHE", "SERVICES", "WEBSOCKET", "FINALIZE"]
DEFAULT_EVENTS = [
    "agent_started",
    "agent_thinking",
    "tool_executing",
    "tool_completed",
    "agent_completed",
]


class StartupProbe(Model):
    path: str = "/health"
    port: int | None = Field(default=None, ge=1, le=65535)  # default: first container port
    phases: list[str] = Field(default_factory=lambda: list(DEFAULT_PHASES), min_length=1)
    phase_timeout: Duration = timedelta(seconds=10)
    timeout: Duration = timedelta(seconds=30)
    poll_interval: Duration = timedelta(milliseconds=200)


class HealthProbe(Model):
    path: str = "/health"
    port: int | None = Field(default=None, ge=1, le=65535)
    expect_status: int = Field(default=200, ge=100, le=599)
    expect_body: dict[str, Any] = Field(default_factory=lambda: {"status": "healthy"})
    max_latency: Duration = timedelta(milliseconds=50)
    interval: Duration = timedelta(seconds=5)
    timeout: Duration = timedelta(seconds=2)


class WebSocketProbe(Model):
    path: str = "/ws"
    port: int | None = Field(default=None, ge=1, le=65535)
    send: str = '{"type": "user_message", "text": "gate probe"}'
    expect_events: list[str] = Field(default_factory=lambda: list(DEFAULT_EVENTS), min_length=1)
    error_events: list[str] = Field(default_factory=lambda: ["error"])
    ordered: bool = True
    max_event_latency: Duration = timedelta(milliseconds=100)
    timeout: Duration = timedelta(seconds=30)
    interval: Duration = timedelta(seconds=10)


class Probes(Model):
    startup: StartupProbe | None = None
    health: HealthProbe | None = None
    websocket: WebSocketProbe | None = None


class ErrorRateSource(StrEnum):
    PROBE = "probe"
    PROMETHEUS = "prometheus"


class ErrorRate(Model):
    threshold: Percent = 5.0
    window: Duration = timedelta(minutes=1)
    source: ErrorRateSource = ErrorRateSource.PROBE
    # source=probe: the gate's own requests to each canary pod.
    path: str = "/"
    port: int | None = Field(default=None, ge=1, le=65535)
    requests_per_interval: int = Field(default=10, ge=1, le=1000)
    interval: Duration = timedelta(seconds=5)
    min_requests: int = Field(default=20, ge=1)
    # source=prometheus: an instant query returning the error ratio (0..1).
    prometheus_url: str | None = None
    query: str | None = None

    @model_validator(mode="after")
    def _prometheus_needs_query(self) -> ErrorRate:
        if self.source is ErrorRateSource.PROMETHEUS and not (self.prometheus_url and self.query):
            raise ValueError("errorRate.source=prometheus needs prometheusUrl and query")
        return self


class RollbackAction(StrEnum):
    ROLLBACK = "rollback"
    FREEZE = "freeze"


class Rollback(Model):
    error_rate: ErrorRate | None = Field(default_factory=ErrorRate)
    health_failing_for: Duration = timedelta(minutes=5)
    websocket_silent_for: Duration = timedelta(minutes=2)
    on_startup_failure: bool = True
    action: RollbackAction = RollbackAction.ROLLBACK
    revert_target: bool = False


class Approvals(Model):
    required: list[str] = Field(default_factory=list)


class Requirement(Model):
    gate: str = Field(pattern=r"^([a-z0-9-]+/)?[a-z0-9-]+$")
    same_image: bool = True


class GateSpec(Model):
    target_ref: TargetRef
    service: str = Field(min_length=1)
    traffic: Traffic = Field(default_factory=Traffic)
    probes: Probes = Field(default_factory=Probes)
    rollback: Rollback = Field(default_factory=Rollback)
    approvals: Approvals | None = None
    requires: list[Requirement] = Field(default_factory=list)


# ------------------------------------------------------------------- status


class Phase(StrEnum):
    """Explicit rollout phases; `kubectl get` shows them."""

    IDLE = "Idle"  # stable revision serving, nothing to verify
    VERIFYING = "Verifying"  # new revision at 0% traffic, probes running
    PROGRESSING = "Progressing"  # stepping traffic to the new revision
    AWAITING_APPROVAL = "AwaitingApproval"
    PROMOTING = "Promoting"  # primary taking the verified template
    PROMOTED = "Promoted"  # new revision verified and serving 100%
    ROLLED_BACK = "RolledBack"  # a trigger fired; traffic back on stable
    BLOCKED = "Blocked"  # deadline passed or frozen; needs a human
    INVALID = "Invalid"  # spec cannot be acted on; traffic untouched


class ProbeStatus(Model):
    """Last result of one probe, with the numbers behind it."""

    ok: bool | None = None
    message: str = ""
    last_run: datetime | None = None
    last_success: datetime | None = None
    failing_since: datetime | None = None
    values: dict[str, float] = Field(default_factory=dict)


class ProbesStatus(Model):
    startup: ProbeStatus | None = None
    health: ProbeStatus | None = None
    websocket: ProbeStatus | None = None
    error_rate: ProbeStatus | None = None


class Condition(Model):
    type: str
    status: Literal["True", "False", "Unknown"]
    reason: str
    message: str = ""
    last_transition_time: datetime


class HistoryEntry(Model):
    time: datetime
    revision: str | None = None
    phase: Phase
    reason: str
    message: str = ""


HISTORY_LIMIT = 20


class GateStatus(Model):
    phase: Phase | None = None
    message: str = ""
    observed_generation: int | None = None
    target: str | None = None
    revision: str | None = None  # revision under test (pod-template hash)
    stable_revision: str | None = None
    step: int | None = None  # index into spec.traffic.steps, 0-based
    canary_weight: int = 0
    replicas: int | None = None  # total replicas the team asked for
    phase_since: datetime | None = None
    step_since: datetime | None = None
    rollback_reason: str | None = None
    probes: ProbesStatus = Field(default_factory=ProbesStatus)
    conditions: list[Condition] = Field(default_factory=list)
    history: list[HistoryEntry] = Field(default_factory=list)


def parse_spec(raw: dict[str, Any]) -> GateSpec:
    return GateSpec.model_validate(raw)


def parse_status(raw: dict[str, Any] | None) -> GateStatus:
    return GateStatus.model_validate(raw or {})


def dump(model: BaseModel) -> dict[str, Any]:
    """The wire form: camelCase, durations as strings, no nulls."""
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)
