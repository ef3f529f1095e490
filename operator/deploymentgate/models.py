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
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from deploymentgate.durations import (
    DURATION_PATTERN,
    PERCENT_PATTERN,
    format_duration,
    format_percent,
    parse_duration,
    parse_percent,
)

API_GROUP = "rollout.deploymentgate.dev"
API_VERSION = "v1alpha1"
KIND = "DeploymentGate"
PLURAL = "deploymentgates"

# WithJsonSchema: the wire form (what the CRD declares), not Python's.
Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema({"type": "string", "pattern": DURATION_PATTERN, "maxLength": 32}),
]
# Floors the CRD's duration pattern cannot state: a zero interval would
# hammer the pods, a zero timeout would fail every check. The startup poll
# may be finer than the other probes' (short phases must each be seen); the
# startup probe never polls faster than this anyway.
MIN_PROBE_INTERVAL = timedelta(milliseconds=100)
MIN_POLL_INTERVAL = timedelta(milliseconds=50)


def _at_least(minimum: timedelta) -> AfterValidator:
    def check(value: timedelta) -> timedelta:
        if value < minimum:
            raise ValueError(
                f"must be at least {format_duration(minimum)}, got {format_duration(value)}"
            )
        return value

    return AfterValidator(check)


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError(f"must be longer than 0s, got {format_duration(value)}")
    return value


ProbeInterval = Annotated[Duration, _at_least(MIN_PROBE_INTERVAL)]
PollInterval = Annotated[Duration, _at_least(MIN_POLL_INTERVAL)]
Timeout = Annotated[Duration, AfterValidator(_positive)]
Percent = Annotated[
    float,
    BeforeValidator(parse_percent),
    PlainSerializer(format_percent, return_type=str),
    WithJsonSchema({"type": "string", "pattern": PERCENT_PATTERN, "maxLength": 16}),
]


class Model(BaseModel):
    """camelCase on the wire, unknown fields refused (the CRD prunes them anyway).

    Attribute docstrings become the CRD's descriptions (`kubectl explain`).
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        use_attribute_docstrings=True,
    )


# --------------------------------------------------------------------- spec


class TargetRef(Model):
    kind: Literal["Deployment"] = "Deployment"
    """Kind of the workload the gate guards; only Deployment."""
    name: str = Field(min_length=1)
    """Name of the Deployment (same namespace) whose new revisions the gate verifies."""


class Router(StrEnum):
    REPLICAS = "replicas"
    GATEWAY_API = "gatewayAPI"


MAX_ROUTES = 16


class RouteRef(Model):
    name: str = Field(min_length=1, max_length=253)
    """Name of an HTTPRoute in the gate's namespace."""


STEPS_ASCENDING_RULE = "self.isSorted() && self.all(x, self.exists_one(y, y == x))"


class Traffic(Model):
    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.router) || self.router != 'gatewayAPI'"
                    " || has(self.httpRoute)"
                    " || (has(self.httpRoutes) && size(self.httpRoutes) > 0)"
                    " || (has(self.httpRouteSelector) && size(self.httpRouteSelector) > 0)",
                    "message": "router gatewayAPI needs httpRoute, httpRoutes or httpRouteSelector",
                }
            ]
        }
    )

    router: Router = Router.REPLICAS
    """How traffic moves: replicas (ready-replica ratio, no mesh) or gatewayAPI (HTTPRoute)."""
    steps: list[int] = Field(
        default_factory=lambda: [10, 50, 100],
        min_length=1,
        json_schema_extra={
            "maxItems": 100,
            "items": {"type": "integer", "minimum": 1, "maximum": 100},
            "x-kubernetes-validations": [
                {"rule": STEPS_ASCENDING_RULE, "message": "steps must be strictly ascending"}
            ],
        },
    )
    """Percent of traffic on the new revision at each step, strictly ascending, 1-100."""
    step_duration: Duration = timedelta(minutes=2)
    """Observation time at each step while rollback triggers are watched."""
    progress_deadline: Duration = timedelta(minutes=10)
    """Longest wait for verification, canary pods or promotion before the gate blocks."""
    http_route: str | None = Field(default=None, min_length=1, max_length=253)
    """router gatewayAPI: one HTTPRoute (same namespace) whose weights move (see httpRoutes)."""
    http_routes: list[RouteRef] = Field(default_factory=list, max_length=MAX_ROUTES)
    """router gatewayAPI: the HTTPRoutes (same namespace) that route to the Service; in each
    of their rules that names the Service, the gate puts its stable and canary Services in
    its place with weights, leaving every other rule, match, filter and backend as written."""
    http_route_selector: dict[str, str] | None = Field(
        default=None, json_schema_extra={"maxProperties": 16}
    )
    """router gatewayAPI: labels (matchLabels) of the HTTPRoutes to manage, besides httpRoutes."""

    @property
    def route_names(self) -> list[str]:
        """The HTTPRoutes named outright (httpRoute, then httpRoutes), without duplicates."""
        names = ([self.http_route] if self.http_route else []) + [r.name for r in self.http_routes]
        return list(dict.fromkeys(names))

    @field_validator("steps")
    @classmethod
    def _ascending_percentages(cls, steps: list[int]) -> list[int]:
        for step in steps:
            if not 1 <= step <= 100:
                raise ValueError(f"each step is a percentage from 1 to 100, got {step}")
        if any(b <= a for a, b in itertools.pairwise(steps)):
            raise ValueError(f"steps must be strictly ascending, got {steps}")
        return steps

    @model_validator(mode="after")
    def _gateway_needs_route(self) -> Traffic:
        if self.router is Router.GATEWAY_API and not (
            self.http_route or self.http_routes or self.http_route_selector
        ):
            raise ValueError("router gatewayAPI needs httpRoute, httpRoutes or httpRouteSelector")
        return self


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
    """Endpoint that answers 503 with the current startup phase until startup completes."""
    port: int | None = Field(default=None, ge=1, le=65535)  # default: first container port
    """Container port to probe; default: the pod's first container port."""
    phases: list[str] = Field(default_factory=lambda: list(DEFAULT_PHASES), min_length=1)
    """Startup phases that must be reported, in this order."""
    phase_timeout: Timeout = timedelta(seconds=10)
    """Longest time one phase may take."""
    timeout: Timeout = timedelta(seconds=30)
    """Longest time the whole startup may take."""
    poll_interval: PollInterval = timedelta(milliseconds=200)
    """How often the startup endpoint is polled."""


class HealthProbe(Model):
    path: str = "/health"
    """Health endpoint."""
    port: int | None = Field(default=None, ge=1, le=65535)
    """Container port to probe; default: the pod's first container port."""
    expect_status: int = Field(default=200, ge=100, le=599)
    """HTTP status a healthy pod answers."""
    expect_body: dict[str, Any] = Field(default_factory=lambda: {"status": "healthy"})
    """JSON fields the body must contain (subset match); default {status: healthy}."""
    max_latency: Duration = timedelta(milliseconds=50)
    """Slowest acceptable answer."""
    interval: ProbeInterval = timedelta(seconds=5)
    """Time between health checks."""
    timeout: Timeout = timedelta(seconds=2)
    """Time after which one check counts as failed."""


class WebSocketProbe(Model):
    path: str = "/ws"
    """WebSocket endpoint."""
    port: int | None = Field(default=None, ge=1, le=65535)
    """Container port to probe; default: the pod's first container port."""
    send: str = '{"type": "user_message", "text": "gate probe"}'
    """Message sent after connecting; it must cause the expected events."""
    expect_events: list[str] = Field(default_factory=lambda: list(DEFAULT_EVENTS), min_length=1)
    """Event types that must all arrive (the `type` field of each JSON message)."""
    error_events: list[str] = Field(default_factory=lambda: ["error"])
    """Event types that fail the probe at once."""
    ordered: bool = True
    """Whether expectEvents must arrive in the listed order."""
    max_event_latency: Duration = timedelta(milliseconds=100)
    """Longest acceptable gap before each expected event."""
    timeout: Timeout = timedelta(seconds=30)
    """Longest time one probe conversation may take."""
    interval: ProbeInterval = timedelta(seconds=10)
    """Time between probe conversations."""


class Probes(Model):
    startup: StartupProbe | None = None
    """Watch each new pod's phased startup (omit to skip)."""
    health: HealthProbe | None = None
    """Poll the health endpoint (omit to skip)."""
    websocket: WebSocketProbe | None = None
    """Hold a WebSocket conversation and check the event flow (omit to skip)."""


class ErrorRateSource(StrEnum):
    PROBE = "probe"
    PROMETHEUS = "prometheus"


class ErrorRate(Model):
    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.source) || self.source != 'prometheus'"
                    " || (has(self.prometheusUrl) && has(self.query))",
                    "message": "errorRate.source=prometheus needs prometheusUrl and query",
                }
            ]
        }
    )

    threshold: Percent = 5.0
    """Error rate above which the revision is rolled back, e.g. "5%"."""
    window: Duration = timedelta(minutes=1)
    """Time window the error rate is computed over."""
    source: ErrorRateSource = ErrorRateSource.PROBE
    """probe: the gate's own requests to the new pods; prometheus: a PromQL query."""
    # source=probe: the gate's own requests to each canary pod.
    path: str = "/"
    """source probe: path requested."""
    port: int | None = Field(default=None, ge=1, le=65535)
    """source probe: container port; default: the pod's first container port."""
    requests_per_interval: int = Field(default=10, ge=1, le=1000)
    """source probe: requests sent to each pod per interval."""
    interval: ProbeInterval = timedelta(seconds=5)
    """Time between error-rate measurements."""
    min_requests: int = Field(default=20, ge=1)
    """Fewest requests in the window for a verdict; fewer is "no data", never a pass."""
    # source=prometheus: an instant query returning the error ratio (0..1).
    prometheus_url: str | None = None
    """source prometheus: base URL of the Prometheus HTTP API."""
    query: str | None = None
    """source prometheus: instant query returning the error ratio (0..1)."""

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
    """Roll back when the new revision's error rate exceeds a threshold.

    null turns it off (kubectl create/replace or apply --server-side; a client-side
    kubectl apply drops nulls)."""
    health_failing_for: Duration = timedelta(minutes=5)
    """Roll back when the health probe has failed continuously this long."""
    websocket_silent_for: Duration = timedelta(minutes=2)
    """Roll back when WebSocket events have not flowed this long."""
    on_startup_failure: bool = True
    """Roll back as soon as a new pod's startup fails."""
    action: RollbackAction = RollbackAction.ROLLBACK
    """What a trigger does: rollback (traffic back to stable) or freeze (hold traffic, block)."""
    revert_target: bool = False
    """After a rollback, also restore the Deployment's template to the stable revision."""


class Approvals(Model):
    required: list[str] = Field(default_factory=list)
    """Who must sign off (annotation deploymentgate.dev/approved-by) before traffic moves."""


class Requirement(Model):
    gate: str = Field(pattern=r"^([a-z0-9-]+/)?[a-z0-9-]+$")
    """Another DeploymentGate ([namespace/]name) that must have promoted first, e.g. staging."""
    same_image: bool = True
    """Require that gate's stable revision to run the same images as this one's new revision."""


class GateSpec(Model):
    """What the team declared: which Deployment, and what "verified" means for it."""

    target_ref: TargetRef
    """The Deployment whose rollouts the gate verifies."""
    service: str = Field(min_length=1)
    """The Service whose traffic moves between the stable and the new revision."""
    traffic: Traffic = Field(default_factory=Traffic)
    """How and how fast traffic moves to a verified revision."""
    probes: Probes = Field(default_factory=Probes)
    """What "verified" means: startup, health and WebSocket checks of the new pods."""
    rollback: Rollback = Field(default_factory=Rollback)
    """When to revert a new revision."""
    approvals: Approvals | None = None
    """Human sign-off required before traffic moves."""
    requires: list[Requirement] = Field(default_factory=list)
    """Gates that must have promoted the same revision first (staging before production)."""


# ------------------------------------------------------------------- status


class Phase(StrEnum):
    """Explicit rollout phases; `kubectl get` shows them."""

    INITIALIZING = "Initializing"  # adopting the Deployment: primary taking over its pods
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
    """Last verdict: true passed, false failed, absent no verdict yet (no data)."""
    message: str = ""
    """What the last run saw."""
    last_run: datetime | None = None
    last_success: datetime | None = None
    failing_since: datetime | None = None
    """Start of the current run of failures; rollback triggers measure from here."""
    values: dict[str, float] = Field(default_factory=dict)
    """Numbers behind the verdict (latencies in ms, rates, counts)."""


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


class RouteWeights(Model):
    """One HTTPRoute's weights as read back from it (router gatewayAPI)."""

    name: str
    """The HTTPRoute."""
    stable_weight: int | None = None
    """Percent of the managed rules' traffic on the stable Service (unset: not managed yet)."""
    canary_weight: int | None = None
    """Percent of the managed rules' traffic on the canary Service (unset: not managed yet)."""
    message: str = ""
    """Why the route is not (yet) managed, when it is not."""


class GateStatus(Model):
    """Everything the rollout remembers; an operator restart resumes from here."""

    phase: Phase | None = None
    """Where the rollout stands (Idle, Verifying, Progressing, RolledBack, ...)."""
    message: str = ""
    """What the gate is doing or waiting for, in a sentence."""
    observed_generation: int | None = None
    target: str | None = None
    """The Deployment the gate guards."""
    revision: str | None = None  # revision under test (pod-template hash)
    """Revision (pod-template hash) under test, or last tested."""
    stable_revision: str | None = None
    """Last verified revision; the gate's serving Deployment `<target>-<revision>` serves it."""
    verified_revision: str | None = None
    """Revision whose verification at 0% traffic passed (or that was adopted as it ran at
    first sight). No other revision is stepped or promoted, and only its template is ever
    copied into a serving Deployment."""
    step: int | None = None  # index into spec.traffic.steps, 0-based
    """Index into spec.traffic.steps of the current step (0-based)."""
    canary_weight: int = 0
    """Percent of traffic meant for the revision under test."""
    replicas: int | None = None  # total replicas the team asked for
    """Total replicas shared by the stable and the new revision."""
    phase_since: datetime | None = None
    step_since: datetime | None = None
    """When the current step began (canary scaled)."""
    step_ready_since: datetime | None = None
    """When the current step's new pods were ready; the step's observation time counts from here."""
    rollback_reason: str | None = None
    """Why the revision under test was rejected; it is not retried until the Deployment changes."""
    frozen: bool = False
    """Traffic held where a trigger found it (rollback.action freeze): the gate changes nothing."""
    resume_phase: Phase | None = None
    """Phase to return to once the spec is valid again or the Deployment exists again."""
    images: list[str] = Field(default_factory=list)
    """Container images of the revision under test."""
    stable_images: list[str] = Field(default_factory=list)
    """Container images of the stable revision (other gates' `requires` compare against these)."""
    probes: ProbesStatus = Field(default_factory=ProbesStatus)
    """Each probe's last result for the revision under test."""
    conditions: list[Condition] = Field(
        default_factory=list,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    history: list[HistoryEntry] = Field(default_factory=list)
    """The latest transitions, oldest first (bounded)."""
    routes: list[RouteWeights] = Field(default_factory=list, max_length=MAX_ROUTES)
    """router gatewayAPI: the weights read back from each managed HTTPRoute."""


def parse_spec(raw: dict[str, Any]) -> GateSpec:
    return GateSpec.model_validate(raw)


def parse_status(raw: dict[str, Any] | None) -> GateStatus:
    return GateStatus.model_validate(raw or {})


def dump(model: BaseModel) -> dict[str, Any]:
    """The wire form: camelCase, durations as strings, no nulls."""
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)
