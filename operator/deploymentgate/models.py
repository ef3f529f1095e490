"""The DeploymentGate resource as typed models: spec (what the team declared)
and status (everything the rollout remembers; nothing lives elsewhere).

Field names are the CRD's (camelCase aliases); Python code uses snake_case.
`deploy/crds/` must agree with these models; tests/core/test_crd_models.py
holds them together.
"""

from __future__ import annotations

import itertools
import json
import re
import typing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    PlainSerializer,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic.fields import FieldInfo
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

from deploymentgate.durations import (
    DURATION_PATTERN,
    PERCENT_PATTERN,
    DurationTooLong,
    format_duration,
    format_percent,
    parse_duration,
    parse_percent,
)

API_GROUP = "rollout.deploymentgate.dev"
API_VERSION = "v1alpha1"
KIND = "DeploymentGate"
PLURAL = "deploymentgates"
# The one selector key the gate adds to the team's Service: only the pods of the
# gate's own serving Deployments carry it (builders, config checks, admission).
SERVING_LABEL = "deploymentgate.dev/serving"

# WithJsonSchema: the wire form (what the CRD declares), not Python's.
Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema({"type": "string", "pattern": DURATION_PATTERN, "maxLength": 32}),
]
# Floors: a zero interval would hammer the pods, a zero timeout would fail
# every check. The startup poll may be finer than the other probes' (short
# phases must each be seen); the startup probe never polls faster than this.
MIN_PROBE_INTERVAL = timedelta(milliseconds=100)
MIN_POLL_INTERVAL = timedelta(milliseconds=50)
# Ceilings (issue 9): past them a value is a typo or an overflow, never a plan.
PROBE_MAX = timedelta(hours=1)  # one probe's timing: interval, timeout, latency
WINDOW_MAX = timedelta(hours=1)  # error-rate window: its samples are kept in memory
TRIGGER_MAX = timedelta(hours=24)  # how long a failure may last before rollback
ROLLOUT_MAX = timedelta(days=7)  # one traffic step, or the wait for progress


@dataclass(frozen=True)
class DurationRange:
    """Bounds of one duration field, checked by the models and stated to the
    API server as CEL rules (`duration()` parses the same spellings), so that
    `kubectl apply` refuses what the operator would mark Invalid."""

    maximum: timedelta
    minimum: timedelta = timedelta(0)
    above_zero: bool = False

    @property
    def maximum_text(self) -> str:
        return format_duration(self.maximum)

    def rules(self) -> list[dict[str, str]]:
        out = []
        if self.above_zero:
            out.append(
                {"rule": "duration(self) > duration('0s')", "message": "must be longer than 0s"}
            )
        elif self.minimum:
            low = format_duration(self.minimum)
            out.append(
                {
                    "rule": f"duration(self) >= duration('{low}')",
                    "message": f"must be at least {low}",
                }
            )
        high = self.maximum_text
        out.append(
            {"rule": f"duration(self) <= duration('{high}')", "message": f"must be at most {high}"}
        )
        return out

    def _before(self, value: Any) -> Any:
        try:
            parse_duration(value)
        except DurationTooLong as exc:
            raise ValueError(f"must be at most {self.maximum_text}, got {exc.written}") from None
        except ValueError:
            pass  # the field's own parser names the problem
        return value

    def _after(self, value: timedelta) -> timedelta:
        got = format_duration(value)
        if self.above_zero and value <= timedelta(0):
            raise ValueError(f"must be longer than 0s, got {got}")
        if value < self.minimum:
            raise ValueError(f"must be at least {format_duration(self.minimum)}, got {got}")
        if value > self.maximum:
            raise ValueError(f"must be at most {self.maximum_text}, got {got}")
        return value

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        inner = core_schema.no_info_before_validator_function(self._before, handler(source))
        return core_schema.no_info_after_validator_function(self._after, inner)

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        out = dict(handler(schema))
        out["x-kubernetes-validations"] = self.rules()
        return out


ProbeTime = Annotated[Duration, DurationRange(PROBE_MAX)]
ProbeInterval = Annotated[Duration, DurationRange(PROBE_MAX, MIN_PROBE_INTERVAL)]
PollInterval = Annotated[Duration, DurationRange(PROBE_MAX, MIN_POLL_INTERVAL)]
Timeout = Annotated[Duration, DurationRange(PROBE_MAX, above_zero=True)]
Window = Annotated[Duration, DurationRange(WINDOW_MAX, above_zero=True)]

# Names the operator builds objects, labels and URLs from. Gate and Deployment
# names end up in label values (63 characters at most).
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_1035_LABEL = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"  # Service names start with a letter
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
HTTP_PATH = r"^/[!-~]*$"  # absolute, printable ASCII, no spaces (a query may follow)
GATE_REF = r"^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?/)?[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
NameLabel = Annotated[str, Field(min_length=1, max_length=63, pattern=DNS_LABEL)]
ServiceName = Annotated[str, Field(min_length=1, max_length=63, pattern=DNS_1035_LABEL)]
HttpPath = Annotated[str, Field(min_length=1, max_length=1024, pattern=HTTP_PATH)]
Token = Annotated[str, Field(min_length=1, max_length=128)]  # a phase or an event type
MAX_BODY_JSON = 4096  # characters of expectBody, serialized
MAX_BODY_DEPTH = 8
TriggerTime = Annotated[Duration, DurationRange(TRIGGER_MAX)]
RolloutTime = Annotated[Duration, DurationRange(ROLLOUT_MAX)]
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
    name: NameLabel
    """Name of the Deployment (same namespace) whose new revisions the gate verifies."""


DEFAULT_ROUTER = "replicas"  # what a gate naming no router gets


def router_kinds() -> list[str]:
    """The kinds `spec.traffic.router` accepts: those the routers' registry
    (deploymentgate.core.routers) serves, in registration order; the CRD's enum
    is generated from it, so registering a router is all it takes."""
    # Imported when asked, not above: the registry's routers import these models.
    from deploymentgate.core.routers import kinds

    return kinds()


def _registered_router(kind: str) -> str:
    known = [f"'{k}'" for k in router_kinds()]
    if kind not in router_kinds():
        either = " or ".join([", ".join(known[:-1]), known[-1]] if len(known) > 1 else known)
        raise ValueError(f"Input should be {either}")
    return kind


def _router_enum(schema: dict[str, Any]) -> None:
    schema["enum"] = router_kinds()


RouterKind = Annotated[
    str, AfterValidator(_registered_router), Field(json_schema_extra=_router_enum)
]


def _router_rules(schema: dict[str, Any], _model: type[Any]) -> None:
    """The CEL rules each router adds to `spec.traffic` (e.g. what it needs named)."""
    from deploymentgate.core.routers import crd_rules

    if rules := crd_rules():
        schema["x-kubernetes-validations"] = rules


MAX_ROUTES = 16


class RouteRef(Model):
    name: str = Field(min_length=1, max_length=253)
    """Name of an HTTPRoute in the gate's namespace."""


STEPS_ASCENDING_RULE = "self.isSorted() && self.all(x, self.exists_one(y, y == x))"


class Traffic(Model):
    model_config = ConfigDict(json_schema_extra=_router_rules)

    router: RouterKind = DEFAULT_ROUTER
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
    step_duration: RolloutTime = timedelta(minutes=2)
    """Observation time at each step while rollback triggers are watched."""
    progress_deadline: RolloutTime = timedelta(minutes=10)
    """Longest wait for verification, canary pods or promotion before the gate blocks."""
    http_route: str | None = Field(default=None, max_length=253, pattern=DNS_SUBDOMAIN)
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
    def _router_needs(self) -> Traffic:
        """What the named router needs of the rest of `traffic` (e.g. a route)."""
        from deploymentgate.core.routers import spec_problem

        if problem := spec_problem(self):
            raise ValueError(problem)
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
    path: HttpPath = "/health"
    """Endpoint that answers 503 with the current startup phase until startup completes."""
    port: int | None = Field(default=None, ge=1, le=65535)  # default: first container port
    """Container port to probe; default: the pod's first container port."""
    phases: list[Token] = Field(
        default_factory=lambda: list(DEFAULT_PHASES), min_length=1, max_length=64
    )
    """Startup phases that must be reported, in this order."""
    phase_timeout: Timeout = timedelta(seconds=10)
    """Longest time one phase may take."""
    timeout: Timeout = timedelta(seconds=30)
    """Longest time the whole startup may take."""
    poll_interval: PollInterval = timedelta(milliseconds=100)
    """How often the startup endpoint is polled."""


class HealthProbe(Model):
    path: HttpPath = "/health"
    """Health endpoint."""
    port: int | None = Field(default=None, ge=1, le=65535)
    """Container port to probe; default: the pod's first container port."""
    expect_status: int = Field(default=200, ge=100, le=599)
    """HTTP status a healthy pod answers."""
    expect_body: dict[str, Any] = Field(
        default_factory=lambda: {"status": "healthy"}, max_length=32
    )
    """JSON fields the body must contain (subset match); default {status: healthy}."""
    max_latency: ProbeTime = timedelta(milliseconds=50)
    """Slowest acceptable answer."""
    interval: ProbeInterval = timedelta(seconds=5)
    """Time between health checks."""
    timeout: Timeout = timedelta(seconds=2)
    """Time after which one check counts as failed."""
    failure_threshold: int = Field(default=3, ge=1, le=100)
    """At 0% traffic, consecutive failed runs that reject the revision (no user waits on it)."""

    @field_validator("expect_body")
    @classmethod
    def _small_body(cls, body: dict[str, Any]) -> dict[str, Any]:
        if _depth(body) > MAX_BODY_DEPTH:
            raise ValueError(f"nested deeper than {MAX_BODY_DEPTH} levels")
        if len(json.dumps(body)) > MAX_BODY_JSON:
            raise ValueError(f"longer than {MAX_BODY_JSON} characters as JSON")
        return body


def _depth(value: Any, level: int = 0) -> int:
    """Nesting depth, stopping early: a hostile body must not recurse far."""
    if level > MAX_BODY_DEPTH or not isinstance(value, dict | list):
        return level
    items = value.values() if isinstance(value, dict) else value
    return max((_depth(item, level + 1) for item in items), default=level + 1)


class WebSocketProbe(Model):
    path: HttpPath = "/ws"
    """WebSocket endpoint."""
    port: int | None = Field(default=None, ge=1, le=65535)
    """Container port to probe; default: the pod's first container port."""
    send: str = Field(default='{"type": "user_message", "text": "gate probe"}', max_length=16384)
    """Message sent after connecting; it must cause the expected events."""
    expect_events: list[Token] = Field(
        default_factory=lambda: list(DEFAULT_EVENTS), min_length=1, max_length=64
    )
    """Event types that must all arrive (the `type` field of each JSON message)."""
    error_events: list[Token] = Field(default_factory=lambda: ["error"], max_length=64)
    """Event types that fail the probe at once."""
    ordered: bool = True
    """Whether expectEvents must arrive in the listed order."""
    max_event_latency: ProbeTime = timedelta(milliseconds=100)
    """Longest acceptable gap before each expected event."""
    timeout: Timeout = timedelta(seconds=30)
    """Longest time one probe conversation may take."""
    interval: ProbeInterval = timedelta(seconds=10)
    """Time between probe conversations."""
    failure_threshold: int = Field(default=3, ge=1, le=100)
    """At 0% traffic, consecutive failed runs that reject the revision (no user waits on it)."""


SMOKE_TEMPLATE_JSON_MAX = 65536  # characters of smoke.template, serialized
SMOKE_URL_ENV = r"^[A-Za-z_][A-Za-z0-9_]*$"
SMOKE_TEMPLATE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["spec"],
    "properties": {
        "metadata": {
            "type": "object",
            "maxProperties": 8,
            "x-kubernetes-preserve-unknown-fields": True,
        },
        "spec": {
            "type": "object",
            "required": ["containers"],
            "properties": {
                "containers": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": 16,
                    "items": {
                        "type": "object",
                        "maxProperties": 64,
                        "x-kubernetes-preserve-unknown-fields": True,
                    },
                }
            },
            "x-kubernetes-preserve-unknown-fields": True,
        },
    },
}


class SmokeTest(Model):
    """Seed §4: a Job run once per revision against its verification pod, at 0% traffic.

    It starts once the startup probe has passed (or, without one, once the pod is
    ready); its exit status is the `smoke` probe's verdict. The Job is owned by the
    gate and deleted once its verdict is recorded."""

    template: dict[str, Any] = Field(json_schema_extra=SMOKE_TEMPLATE_SCHEMA)
    """Pod template of the Job, as in a Job's spec.template ({metadata, spec: {containers}}).

    The operator adds its labels, restartPolicy Never, automountServiceAccountToken
    false, and the env var urlEnv (the verification pod's URL, e.g.
    http://10.1.2.3:8000) to every container. serviceAccountName is refused: the Job
    runs as the namespace's default ServiceAccount, so that editing a gate lends no
    one another ServiceAccount's rights."""
    timeout: Timeout = timedelta(minutes=2)
    """Longest the Job may run (its activeDeadlineSeconds); past it the test failed."""
    url_env: str = Field(default="SMOKE_URL", min_length=1, max_length=128, pattern=SMOKE_URL_ENV)
    """Name of the environment variable carrying the verification pod's URL."""
    port: int | None = Field(default=None, ge=1, le=65535)
    """Container port in that URL; default: the pod's first container port."""

    @field_validator("template")
    @classmethod
    def _pod_template(cls, template: dict[str, Any]) -> dict[str, Any]:
        spec = template.get("spec")
        containers = spec.get("containers") if isinstance(spec, dict) else None
        if not isinstance(containers, list) or not containers:
            raise ValueError("needs spec.containers (at least one container)")
        if not all(isinstance(c, dict) and c.get("name") for c in containers):
            raise ValueError("every container in spec.containers needs a name")
        for key in ("serviceAccountName", "serviceAccount", "automountServiceAccountToken"):
            if isinstance(spec, dict) and key in spec:
                # Whoever may edit a gate must not borrow a ServiceAccount through
                # the operator: the Job runs as the namespace's default, no token.
                raise ValueError(
                    f"spec.{key} is not allowed: the smoke Job runs as the namespace's"
                    " default ServiceAccount, without an API token"
                )
        if len(json.dumps(template)) > SMOKE_TEMPLATE_JSON_MAX:
            raise ValueError(f"longer than {SMOKE_TEMPLATE_JSON_MAX} characters as JSON")
        return template


PrometheusUrl = Annotated[str, Field(max_length=2048, pattern=r"^https?://\S+$")]
MetricValue = Annotated[float, Field(ge=-1e15, le=1e15)]
MAX_METRIC_CHECKS = 16


class MetricCondition(Model):
    """When a check's value passes: exactly one of atMost, atLeast, within."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "[has(self.atMost), has(self.atLeast), has(self.within)]"
                    ".filter(x, x).size() == 1",
                    "message": "set exactly one of atMost, atLeast, within",
                },
                {
                    "rule": "!has(self.within) || self.within[0] <= self.within[1]",
                    "message": "within needs [low, high] with low <= high",
                },
            ]
        }
    )

    at_most: MetricValue | None = None
    """Passes when the value is at most this."""
    at_least: MetricValue | None = None
    """Passes when the value is at least this."""
    within: list[MetricValue] | None = Field(default=None, min_length=2, max_length=2)
    """Passes when the value is within [low, high], both included."""

    @model_validator(mode="after")
    def _exactly_one(self) -> MetricCondition:
        given = [v for v in (self.at_most, self.at_least, self.within) if v is not None]
        if len(given) != 1:
            raise ValueError("set exactly one of atMost, atLeast, within")
        if self.within is not None and self.within[0] > self.within[1]:
            raise ValueError(f"within needs [low, high] with low <= high, got {self.within}")
        return self

    def excess(self, value: float) -> float:
        """How far past its bound a value is: above 0 it fails; of several series
        the one with the largest is the worst."""
        if self.at_most is not None:
            return value - self.at_most
        if self.at_least is not None:
            return self.at_least - value
        assert self.within is not None
        return max(self.within[0] - value, value - self.within[1])

    def passes(self, value: float) -> bool:
        return self.excess(value) <= 0

    def __str__(self) -> str:
        if self.at_most is not None:
            return f"at most {self.at_most:g}"
        if self.at_least is not None:
            return f"at least {self.at_least:g}"
        assert self.within is not None
        return f"within [{self.within[0]:g}, {self.within[1]:g}]"


class NoData(StrEnum):
    """What a check's "no data" (empty result, Prometheus unreachable) means; never a pass."""

    HOLD = "hold"
    FAIL = "fail"


class RelativeTo(StrEnum):
    """What a relative check's value is divided by: the same query of that revision."""

    STABLE = "stable"


CANARY_PLACEHOLDERS = ("{pod_regex}", "{revision}")
RELATIVE_QUERY_MESSAGE = (
    "a relative check's query names {pod_regex} or {revision} (the stable's are"
    " swapped in), never {stable_pod_regex} or {stable_revision}"
)
# The CEL twin of _relative_problem, on an object whose query may be absent.
RELATIVE_RULES: list[Any] = [
    {
        "rule": "!has(self.relativeTo) || (has(self.query)"
        " && (self.query.contains('{pod_regex}') || self.query.contains('{revision}'))"
        " && !self.query.contains('{stable_'))",
        "message": RELATIVE_QUERY_MESSAGE,
    },
    {
        "rule": "!has(self.minBaseline) || has(self.relativeTo)",
        "message": "minBaseline needs relativeTo",
    },
]
MetricQuery = Annotated[str, Field(min_length=1, max_length=4096)]
MinBaseline = Annotated[float, Field(ge=0, le=1e15)]


def _relative_problem(
    query: str | None, relative_to: RelativeTo | None, min_baseline: float | None
) -> str | None:
    if relative_to is None:
        return "minBaseline needs relativeTo" if min_baseline is not None else None
    if query is None:
        return None  # the CEL rule asks for a query; the caller says what is missing
    if not any(p in query for p in CANARY_PLACEHOLDERS) or "{stable_" in query:
        return RELATIVE_QUERY_MESSAGE
    return None


# Reusable checks (issue 21 item 3): a query a platform team writes once, that
# many gates' checks name by templateRef, each with its own bounds.
TEMPLATE_KIND = "MetricCheckTemplate"
TEMPLATE_PLURAL = "metricchecktemplates"
CLUSTER_TEMPLATE_KIND = "ClusterMetricCheckTemplate"
CLUSTER_TEMPLATE_PLURAL = "clustermetricchecktemplates"


class MetricCheckTemplateSpec(Model):
    """What a platform team writes once: the query, and how it compares. Each gate's
    check that names it keeps its own name, condition, interval, failureLimit,
    noData and dryRun."""

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": RELATIVE_RULES})

    description: str = Field(default="", max_length=1024)
    """What the query measures, for the teams whose gates name it."""
    query: MetricQuery
    """Instant query returning one number (several series: each must pass), with the
    same placeholders as a gate's check: {namespace}, {service}, {revision},
    {pod_regex}, {stable_revision} and {stable_pod_regex}, filled in per gate."""
    prometheus_url: PrometheusUrl | None = None
    """Base URL of the Prometheus HTTP API to ask; default: the gate's prometheusUrl."""
    relative_to: RelativeTo | None = None
    """stable: every check naming this template judges the ratio canary / stable
    (see the gate's checks[].relativeTo)."""
    min_baseline: MinBaseline | None = None
    """A stable value at or below this (default 0) is too small to divide by: no data."""

    @model_validator(mode="after")
    def _relative(self) -> MetricCheckTemplateSpec:
        problem = _relative_problem(self.query, self.relative_to, self.min_baseline)
        if problem is not None:
            raise ValueError(problem)
        return self


class TemplateRef(Model):
    """A MetricCheckTemplate of the gate's namespace, or a ClusterMetricCheckTemplate."""

    kind: Literal["MetricCheckTemplate", "ClusterMetricCheckTemplate"]
    """MetricCheckTemplate (looked up in the gate's namespace only) or
    ClusterMetricCheckTemplate (cluster-wide)."""
    name: str = Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN)
    """The template's name."""

    def __str__(self) -> str:
        return f"{self.kind} {self.name}"


class MetricCheck(Model):
    """One PromQL check of the revision under test, run while it has user traffic."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "has(self.query) != has(self.templateRef)",
                    "message": "set exactly one of query, templateRef",
                },
                {
                    "rule": "!has(self.templateRef)"
                    " || (!has(self.relativeTo) && !has(self.minBaseline))",
                    "message": "a check with templateRef takes relativeTo and minBaseline"
                    " from its template",
                },
                *RELATIVE_RULES,
            ]
        }
    )

    name: NameLabel
    """Name of the check, as status, Events and metrics show it."""
    query: MetricQuery | None = None
    """Instant query returning one number (several series: each must pass). The operator
    fills in {namespace}, {service}, {revision}, {pod_regex} (the revision under test's
    serving pods), {stable_revision} and {stable_pod_regex}, escaped for a quoted string.
    Exactly one of query and templateRef."""
    template_ref: TemplateRef | None = None
    """A reusable check's template, instead of query: its query (and prometheusUrl,
    relativeTo, minBaseline) are used with this check's own condition, interval,
    failureLimit, noData and dryRun. Read at each evaluation; a missing or invalid
    template is no data."""
    condition: MetricCondition
    """When the value passes: atMost, atLeast or within [low, high]."""
    interval: ProbeInterval = timedelta(seconds=30)
    """Time between evaluations."""
    failure_limit: int = Field(default=3, ge=1, le=100)
    """Consecutive failed evaluations that roll the revision back."""
    no_data: NoData = NoData.HOLD
    """hold: the step waits (and Blocks at progressDeadline); fail: counts as a failure."""
    dry_run: bool = False
    """Evaluated and shown (status, `kubectl gate status`, metrics) but never holds, fails
    or rolls back."""
    relative_to: RelativeTo | None = None
    """stable: the condition applies to the ratio canary / stable, the query asked a
    second time with {pod_regex} and {revision} swapped for the stable revision's, so a
    slowdown shared by both passes. Each side must return one number. Skipped while no
    stable pod takes traffic (its pods kept out of the Service at 100% and in the watch
    after promotion): there is nothing to compare with then."""
    min_baseline: MinBaseline | None = None
    """A stable value at or below this (default 0) is too small to divide by: no data."""

    @model_validator(mode="after")
    def _query_or_template(self) -> MetricCheck:
        if (self.query is None) == (self.template_ref is None):
            raise ValueError("set exactly one of query, templateRef")
        if self.template_ref is not None and (
            self.relative_to is not None or self.min_baseline is not None
        ):
            raise ValueError(
                "a check with templateRef takes relativeTo and minBaseline from its template"
            )
        problem = _relative_problem(self.query, self.relative_to, self.min_baseline)
        if problem is not None:
            raise ValueError(problem)
        return self

    def from_template(self, template: MetricCheckTemplateSpec) -> MetricCheck:
        """This check as it runs with its template: the template's query and comparison,
        this check's own bounds and pace."""
        return self.model_copy(
            update={
                "query": template.query,
                "template_ref": None,
                "relative_to": template.relative_to,
                "min_baseline": template.min_baseline,
            }
        )


class MetricChecks(Model):
    """PromQL checks of the revision under test, at each traffic step (not at 0%:
    there is no user traffic then). No data is never a pass."""

    prometheus_url: PrometheusUrl
    """Base URL of the Prometheus HTTP API."""
    checks: list[MetricCheck] = Field(
        min_length=1,
        max_length=MAX_METRIC_CHECKS,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    """The checks; names must be unique."""

    @field_validator("checks")
    @classmethod
    def _unique_names(cls, checks: list[MetricCheck]) -> list[MetricCheck]:
        names = [c.name for c in checks]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"check names must be unique, repeated: {', '.join(twice)}")
        return checks

    @property
    def interval(self) -> timedelta:
        """The pace of the operator's rounds: the shortest check's interval."""
        return min(c.interval for c in self.checks)


class Probes(Model):
    startup: StartupProbe | None = None
    """Watch each new pod's phased startup (omit to skip)."""
    health: HealthProbe | None = None
    """Poll the health endpoint (omit to skip)."""
    websocket: WebSocketProbe | None = None
    """Hold a WebSocket conversation and check the event flow (omit to skip)."""
    smoke: SmokeTest | None = None
    """Run a smoke-test Job against the verification pod, its URL injected (omit to skip)."""
    metrics: MetricChecks | None = None
    """PromQL checks of the revision under user traffic, at each step (omit to skip)."""


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
    window: Window = timedelta(minutes=1)
    """Time window the error rate is computed over."""
    source: ErrorRateSource = ErrorRateSource.PROBE
    """probe: the gate's own requests to the new pods; prometheus: a PromQL query."""
    # source=probe: the gate's own requests to each canary pod.
    path: HttpPath = "/"
    """source probe: path requested."""
    port: int | None = Field(default=None, ge=1, le=65535)
    """source probe: container port; default: the pod's first container port."""
    requests_per_interval: int = Field(default=10, ge=1, le=1000)
    """source probe: requests sent to each pod per interval."""
    interval: ProbeInterval = timedelta(seconds=5)
    """Time between error-rate measurements."""
    min_requests: int = Field(default=20, ge=1, le=100_000)
    """Fewest requests in the window for a verdict; fewer is "no data", never a pass."""
    # source=prometheus: an instant query returning the error ratio (0..1).
    prometheus_url: PrometheusUrl | None = None
    """source prometheus: base URL of the Prometheus HTTP API."""
    query: str | None = Field(default=None, max_length=4096)
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
    health_failing_for: TriggerTime = timedelta(minutes=5)
    """Roll back when the health probe has failed continuously this long."""
    websocket_silent_for: TriggerTime = timedelta(minutes=2)
    """Roll back when WebSocket events have not flowed this long."""
    on_startup_failure: bool = True
    """Roll back as soon as a new pod's startup fails."""
    action: RollbackAction = RollbackAction.ROLLBACK
    """What a trigger does: rollback (traffic back to stable) or freeze (hold traffic, block)."""
    revert_target: bool = False
    """After a rollback, also restore the Deployment's template to the stable revision."""
    watch_after_promotion: RolloutTime = timedelta(minutes=10)
    """After a promotion, keep watching the promoted revision this long with the same
    triggers, with the previous revision's pods kept running (out of the Service) so a
    trigger reverts to them at once; 0 turns the watch off (the previous pods go at once)."""


# Roles and people are Kubernetes names: a role is a DNS label, users and
# groups whatever the authenticator says (bounded, so CEL costs stay bounded).
ROLE_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
MAX_ROLES = 16
MAX_HOLDERS = 32
RoleName = Annotated[str, Field(min_length=1, max_length=63, pattern=ROLE_PATTERN)]
Subject = Annotated[str, Field(min_length=1, max_length=253)]


class RoleHolders(Model):
    """Who may sign off in one role: Kubernetes user names and/or groups."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "(has(self.users) && size(self.users) > 0)"
                    " || (has(self.groups) && size(self.groups) > 0)",
                    "message": "a role needs at least one user or group",
                }
            ]
        }
    )

    users: list[Subject] = Field(
        default_factory=list,
        max_length=MAX_HOLDERS,
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    """User names (as the API server authenticates them) who hold the role."""
    groups: list[Subject] = Field(
        default_factory=list,
        max_length=MAX_HOLDERS,
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    """Groups whose members hold the role."""

    @model_validator(mode="after")
    def _someone(self) -> RoleHolders:
        if not self.users and not self.groups:
            raise ValueError("a role needs at least one user or group")
        return self


class Approvals(Model):
    """Seed §10: named roles that must each sign off a verified revision.

    A sign-off is a GateApproval object, checked at admission against `roles`
    (kubectl gate approve <gate> --role <role>)."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.required) || self.required.all(r,"
                    " has(self.roles) && r in self.roles)",
                    "message": "every required role must be defined in approvals.roles",
                }
            ]
        }
    )

    required: list[RoleName] = Field(
        default_factory=list,
        max_length=MAX_ROLES,
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    """Roles that must each sign off before traffic moves, e.g. [qa, engineering-lead]."""
    roles: dict[str, RoleHolders] = Field(
        default_factory=dict,
        max_length=MAX_ROLES,
        json_schema_extra={
            "maxProperties": MAX_ROLES,
            "x-kubernetes-validations": [
                {
                    "rule": f"self.all(k, size(k) <= 63 && k.matches('{ROLE_PATTERN}'))",
                    "message": "role names are lowercase DNS labels (a-z, 0-9, -)",
                }
            ],
        },
    )
    """Who holds each role, e.g. {qa: {groups: [qa]}, engineering-lead: {users: [erin]}}."""

    @field_validator("roles")
    @classmethod
    def _role_names(cls, roles: dict[str, RoleHolders]) -> dict[str, RoleHolders]:
        for name in roles:
            if len(name) > 63 or not re.fullmatch(ROLE_PATTERN, name):
                raise ValueError(
                    f"role {name!r}: role names are lowercase DNS labels (a-z, 0-9, -)"
                )
        return roles

    @model_validator(mode="after")
    def _required_defined(self) -> Approvals:
        undefined = [r for r in self.required if r not in self.roles]
        if undefined:
            raise ValueError(
                f"required roles {', '.join(undefined)} are not defined in approvals.roles"
                " (name the users or groups who hold each)"
            )
        if len(set(self.required)) != len(self.required):
            raise ValueError(f"required lists a role twice: {self.required}")
        return self


# A sign-off (kind GateApproval): one person, one role, one revision of one gate.
APPROVAL_KIND = "GateApproval"
APPROVAL_PLURAL = "gateapprovals"
REVISION_PATTERN = r"^[a-z0-9]{1,64}$"
GATE_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"


class GateApprovalSpec(Model):
    """What a sign-off says. The admission policy checks it against the person
    who creates it; nobody can change it afterwards."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "self == oldSelf",
                    "message": "a sign-off cannot be edited: delete it and create a new one",
                }
            ]
        }
    )

    gate: str = Field(min_length=1, max_length=253, pattern=GATE_NAME_PATTERN)
    """Name of the DeploymentGate (same namespace) being signed off."""
    revision: str = Field(max_length=64, pattern=REVISION_PATTERN)
    """The gate's status.revision this sign-off is for; it never counts for another."""
    role: RoleName
    """The role signed off as; the gate's spec.approvals.roles says who holds it."""
    approver: Subject
    """Your Kubernetes user name; admission refuses any other."""
    groups: list[Subject] = Field(
        default_factory=list,
        max_length=MAX_HOLDERS,
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    """Your groups through which you hold the role; admission refuses groups you are not in."""


class Requirement(Model):
    gate: str = Field(max_length=127, pattern=GATE_REF)
    """Another DeploymentGate ([namespace/]name) that must have promoted first, e.g. staging."""
    same_image: bool = True
    """Require that gate's stable revision to run the same images as this one's new revision."""


DEFAULT_SECRET_ENV = ["*SECRET*", "*PASSWORD*", "*TOKEN*", "*API_KEY*", "*PRIVATE_KEY*"]


class ForbiddenEnv(Model):
    name: str = Field(min_length=1, max_length=253)
    """Environment variable name."""
    value: str = Field(max_length=1024)
    """Value it must not have (compared case-insensitively, e.g. DEBUG=true)."""


class ConfigChecks(Model):
    """Seed §7: checked on the pod template before any pod of a new revision starts."""

    required_env: list[str] = Field(
        default_factory=list,
        max_length=100,
        json_schema_extra={"items": {"type": "string", "minLength": 1, "maxLength": 253}},
    )
    """Variables every container must set in `env`."""
    secret_env: list[str] = Field(
        default_factory=lambda: list(DEFAULT_SECRET_ENV),
        max_length=100,
        json_schema_extra={"items": {"type": "string", "minLength": 1, "maxLength": 253}},
    )
    """Name patterns (shell-style, case-insensitive) of credentials: their value must come
    from valueFrom.secretKeyRef, never a literal value."""
    forbidden_env: list[ForbiddenEnv] = Field(default_factory=list, max_length=100)
    """Variable values that must not ship (e.g. {name: DEBUG, value: "true"})."""


def _immutable(field: str, why: str) -> dict[str, Any]:
    """A CEL transition rule: the API server refuses any change to the field."""
    return {
        "x-kubernetes-validations": [
            {
                "rule": "self == oldSelf",
                "message": f"{field} is immutable: {why}; to change it, delete the gate"
                " and create it again",
            }
        ]
    }


class Dependent(Model):
    """A gate in another namespace allowed to name this one in `spec.requires`."""

    namespace: NameLabel
    """Namespace of the gate that may depend on this one."""
    gate: NameLabel | None = None
    """Name of that gate; omit to allow every gate of the namespace."""


DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
SECRET_KEY = r"^[-._a-zA-Z0-9]+$"


class SecretKeySelector(Model):
    name: str = Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN)
    """Secret in the gate's namespace (the operator needs `get` on it: see the chart)."""
    key: str = Field(min_length=1, max_length=253, pattern=SECRET_KEY)
    """Key of the Secret whose value is the webhook URL."""


class WebhookUrlSource(Model):
    secret_key_ref: SecretKeySelector
    """A webhook URL is a credential: it is only ever read from a Secret."""


class WebhookType(StrEnum):
    SLACK = "slack"  # Slack incoming webhook (also Mattermost, Rocket.Chat)
    JSON = "json"  # the generic JSON record


class Webhook(Model):
    type: WebhookType = WebhookType.JSON
    """slack (a Slack-compatible message) or json (a plain JSON record of the transition)."""
    url_from: WebhookUrlSource
    """Where the URL comes from: {secretKeyRef: {name, key}}."""


class Notifications(Model):
    """Messages on entering AwaitingApproval, Promoted, RolledBack or Blocked."""

    webhooks: list[Webhook] = Field(min_length=1, max_length=8)
    """Where to post; each is retried with backoff and never slows the rollout."""


class GateSpec(Model):
    """What the team declared: which Deployment, and what "verified" means for it."""

    target_ref: TargetRef = Field(
        json_schema_extra=_immutable(
            "targetRef", "the gate's objects and history belong to one Deployment"
        )
    )
    """The Deployment whose rollouts the gate verifies (immutable)."""
    service: ServiceName = Field(
        json_schema_extra=_immutable("service", "traffic of one Service moves under one gate")
    )
    """The Service whose traffic moves between the stable and the new revision (immutable)."""
    traffic: Traffic = Field(default_factory=Traffic)
    """How and how fast traffic moves to a verified revision."""
    probes: Probes = Field(default_factory=Probes)
    """What "verified" means: startup, health and WebSocket checks, and a smoke-test Job."""
    rollback: Rollback = Field(default_factory=Rollback)
    """When to revert a new revision."""
    approvals: Approvals | None = None
    """Human sign-off required before traffic moves."""
    requires: list[Requirement] = Field(default_factory=list, max_length=16)
    """Gates that must have promoted the same revision first (staging before production).

    A gate of another namespace counts only if it lists this gate in its
    `dependents`; otherwise it reads as not found."""
    dependents: list[Dependent] = Field(default_factory=list, max_length=32)
    """Gates of other namespaces that may require this one (e.g. [{namespace: prod}]).

    Without an entry, they see it as not found. Same-namespace gates need none."""
    config: ConfigChecks | None = None
    """Configuration checks of each new revision's template (seed §7); omit to skip."""
    notifications: Notifications | None = None
    """Webhooks told about this gate's transitions, besides the operator-wide ones."""


# ------------------------------------------------------------------- status


class Phase(StrEnum):
    """Explicit rollout phases; `kubectl get` shows them."""

    INITIALIZING = "Initializing"  # adopting the Deployment: its own serving Deployment takes over
    IDLE = "Idle"  # stable revision serving, nothing to verify
    VERIFYING = "Verifying"  # new revision at 0% traffic, probes running
    PROGRESSING = "Progressing"  # stepping traffic to the new revision
    AWAITING_APPROVAL = "AwaitingApproval"
    PROMOTING = "Promoting"  # the new revision grows to full size, the stable goes
    PROMOTED = "Promoted"  # new revision verified and serving 100%
    ROLLED_BACK = "RolledBack"  # a trigger fired; traffic back on stable
    BLOCKED = "Blocked"  # deadline passed or frozen; needs a human
    INVALID = "Invalid"  # spec cannot be acted on; traffic untouched


class Interruption(StrEnum):
    """What holds a gate Invalid, or Blocked until it can resume (status.interruptedBy)."""

    INVALID_SPEC = "InvalidSpec"  # the spec cannot be acted on
    ALREADY_GATED = "AlreadyGated"  # an older gate holds the Deployment or Service
    NAME_CONFLICT = "NameConflict"  # a name the gate would use is someone else's
    TARGET_MISSING = "TargetMissing"  # the Deployment does not exist (yet)


class Trigger(StrEnum):
    """Why a revision was rejected or blocked: the metric label and Event reason
    come from this value, never from parsing a message."""

    STARTUP_FAILED = "startupFailed"  # a pod reported a failed or out-of-order startup
    STARTUP_UNOBSERVED = "startupUnobserved"  # first phases never seen, replacements used up
    HEALTH_FAILING = "healthFailing"
    WEBSOCKET_FAILING = "websocketFailing"
    ERROR_RATE = "errorRate"
    PROGRESS_DEADLINE = "progressDeadline"
    CONFIG_INVALID = "configInvalid"  # seed §7 checks or a reserved label in the template
    ABORTED = "aborted"  # a person ran `kubectl gate abort`
    SMOKE_TEST_FAILED = "smokeTestFailed"  # the smoke Job failed, timed out or never started
    METRIC_CHECK_FAILED = "metricCheckFailed"  # a check failed failureLimit times in a row


# Status bounds. The status is user-writable (the status subresource), so what
# the schema admits must parse and must not crash the core; and the operator's
# own writes must never exceed them (texts are clipped when written).
STATUS_TEXT_MAX = 4096
STATUS_NAME_MAX = 253
IMAGE_MAX = 1024
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def _clipper(limit: int) -> Any:
    def clip(text: str) -> str:
        return text if len(text) <= limit else text[: limit - 1] + "…"

    return clip


def _bounded_text(limit: int) -> Any:
    clip = _clipper(limit)
    return (
        AfterValidator(clip),
        PlainSerializer(clip, return_type=str),
        WithJsonSchema({"type": "string", "maxLength": limit}),
    )


def _moment(value: datetime) -> datetime:
    """Times are compared with the clock: naive means UTC, and the year is sane."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    if not EARLIEST <= value < LATEST:
        raise ValueError(f"must be from {EARLIEST.year} to {LATEST.year - 1}, got {value}")
    return value


TIME_RULE = (
    f"self >= timestamp('{EARLIEST:%Y-%m-%dT%H:%M:%SZ}')"
    f" && self < timestamp('{LATEST:%Y-%m-%dT%H:%M:%SZ}')"
)
StatusText = Annotated[str, *_bounded_text(STATUS_TEXT_MAX)]
StatusName = Annotated[str, *_bounded_text(STATUS_NAME_MAX)]
ImageRef = Annotated[str, *_bounded_text(IMAGE_MAX)]
Timestamp = Annotated[
    datetime,
    AfterValidator(_moment),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "maxLength": 64,
            "x-kubernetes-validations": [
                {"rule": TIME_RULE, "message": f"must be from {EARLIEST.year} to {LATEST.year - 1}"}
            ],
        }
    ),
]
Measure = Annotated[float, Field(ge=-1e15, le=1e15)]


class ProbeStatus(Model):
    """Last result of one probe, with the numbers behind it."""

    ok: bool | None = None
    """Last verdict: true passed, false failed, absent no verdict yet (no data)."""
    message: StatusText = ""
    """What the last run saw."""
    last_run: Timestamp | None = None
    last_success: Timestamp | None = None
    failing_since: Timestamp | None = None
    """Start of the current run of failures; rollback triggers measure from here."""
    values: dict[str, Measure] = Field(default_factory=dict, max_length=64)
    """Numbers behind the verdict (latencies in ms, rates, counts)."""
    consecutive_failures: int = Field(default=0, ge=0, le=1_000_000)
    """Failed runs since the last pass; at 0% traffic failureThreshold of them reject."""
    restarts: int = Field(default=0, ge=0, le=100)
    """Startup only: verification pods replaced because their first phases went unseen."""


class MetricCheckStatus(Model):
    """Last evaluation of one metric check (spec.probes.metrics.checks)."""

    name: StatusName
    ok: bool | None = None
    """Last verdict: true passed, false failed (noData fail counts), absent no data (hold)."""
    message: StatusText = ""
    value: Measure | None = None
    """The value the query returned (the worst of several series); relative checks:
    the ratio canary / stable."""
    last_run: Timestamp | None = None
    last_success: Timestamp | None = None
    consecutive_failures: int = Field(default=0, ge=0, le=1_000_000)
    """Failed evaluations in a row; failureLimit of them roll back (unless dryRun)."""
    dry_run: bool = False
    """Shown only: this check never holds, fails or rolls back."""
    canary_value: Measure | None = None
    """Relative checks: the revision under test's value (value is the ratio)."""
    stable_value: Measure | None = None
    """Relative checks: the stable revision's value over the same window."""
    skipped: bool = False
    """Relative checks in the watch after promotion: no other revision takes traffic,
    so there is nothing to compare with; neither holds nor fails."""


class MetricsStatus(ProbeStatus):
    """The metric checks together (ok: every acting check passed) and each check."""

    checks: list[MetricCheckStatus] = Field(default_factory=list, max_length=MAX_METRIC_CHECKS)


class ProbesStatus(Model):
    startup: ProbeStatus | None = None
    health: ProbeStatus | None = None
    websocket: ProbeStatus | None = None
    error_rate: ProbeStatus | None = None
    smoke: ProbeStatus | None = None
    """The smoke-test Job: lastRun is when it was started; ok its verdict."""
    metrics: MetricsStatus | None = None
    """The metric checks: ok only when every check that acts (not dryRun) passed."""


def add_probe_section(name: str, section: type[Model], description: str) -> None:
    """Give an extra probe kind its section: `spec.probes.<name>` and `status.probes.<name>`.

    The built-in kinds' sections are declared above; a registered extra kind
    (deploymentgate.probe_kinds.register) adds its own here, before any gate
    is parsed, and the CRD generated afterwards (core.crdgen) carries it. Every
    model is rebuilt so that those embedding `Probes` or `ProbesStatus` see it.
    """
    if name in Probes.model_fields:
        raise ValueError(f"spec.probes.{name} exists already")
    alias = to_camel(name)
    for model, kind in ((Probes, section), (ProbesStatus, ProbeStatus)):
        annotation: Any = kind | None
        field = FieldInfo(annotation=annotation, default=None, alias=alias)
        field.description = description if model is Probes else None
        model.__annotations__[name] = annotation
        model.model_fields[name] = field
    for value in list(globals().values()):
        if isinstance(value, type) and issubclass(value, Model) and value is not Model:
            value.model_rebuild(force=True)


class Condition(Model):
    type: StatusName
    status: Literal["True", "False", "Unknown"]
    reason: StatusName
    message: StatusText = ""
    last_transition_time: Timestamp


class HistoryEntry(Model):
    time: Timestamp
    revision: StatusName | None = None
    phase: Phase
    reason: StatusName
    message: StatusText = ""


HISTORY_LIMIT = 20


class SignOff(Model):
    """One sign-off the gate counted, as `kubectl describe` shows it."""

    role: StatusName
    approver: StatusName
    revision: StatusName
    time: Timestamp
    """When the sign-off was made (its creationTimestamp)."""
    name: StatusName
    """The GateApproval object."""


CommandValue = Annotated[str, *_bounded_text(100)]


class CommandsHandled(Model):
    """The last value of each request annotation the operator acted on (or refused),
    so that a request left on the gate acts once (see `kubectl gate`)."""

    abort: CommandValue | None = None
    """rollout.deploymentgate.dev/abort: roll the revision under test back now."""
    retry: CommandValue | None = None
    """rollout.deploymentgate.dev/retry: verify a rejected revision again."""
    promote: CommandValue | None = None
    """rollout.deploymentgate.dev/promote: skip the rest of the current step."""
    promote_full: CommandValue | None = None
    """rollout.deploymentgate.dev/promote-full: skip every remaining step."""


class RouteWeights(Model):
    """One HTTPRoute's weights as read back from it (router gatewayAPI)."""

    name: StatusName
    """The HTTPRoute."""
    stable_weight: int | None = Field(default=None, ge=0, le=100)
    """Percent of the managed rules' traffic on the stable Service (unset: not managed yet)."""
    canary_weight: int | None = Field(default=None, ge=0, le=100)
    """Percent of the managed rules' traffic on the canary Service (unset: not managed yet)."""
    message: StatusText = ""
    """Why the route is not (yet) managed, when it is not."""


class GateStatus(Model):
    """Everything the rollout remembers; an operator restart resumes from here."""

    phase: Phase | None = None
    """Where the rollout stands (Idle, Verifying, Progressing, RolledBack, ...)."""
    message: StatusText = ""
    """What the gate is doing or waiting for, in a sentence."""
    observed_generation: int | None = Field(default=None, ge=0, le=2**53 - 1)
    target: StatusName | None = None
    """The Deployment the gate guards."""
    revision: StatusName | None = None  # revision under test (pod-template hash)
    """Revision (pod-template hash) under test, or last tested."""
    stable_revision: StatusName | None = None
    """Last verified revision; the gate's serving Deployment `<target>-<revision>` serves it."""
    verified_revision: StatusName | None = None
    """Revision whose verification at 0% traffic passed (or that was adopted as it ran at
    first sight). No other revision is stepped or promoted, and only its template is ever
    copied into a serving Deployment."""
    step: int | None = Field(default=None, ge=0, le=99)  # index into spec.traffic.steps
    """Index into spec.traffic.steps of the current step (0-based)."""
    canary_weight: int = Field(default=0, ge=0, le=100)
    """Percent of traffic meant for the revision under test."""
    replicas: int | None = Field(default=None, ge=0, le=2**31 - 1)  # what the team asked for
    """Total replicas shared by the stable and the new revision."""
    phase_since: Timestamp | None = None
    step_since: Timestamp | None = None
    """When the current step began (canary scaled)."""
    step_ready_since: Timestamp | None = None
    """When the current step's new pods were ready; the step's observation time counts from here."""
    rollback_reason: StatusText | None = None
    """Why the revision under test was rejected; it is not retried until the Deployment changes
    (or `kubectl gate retry`)."""
    rollback_trigger: Trigger | None = None
    """Which trigger rejected or blocked the revision under test (typed; see rollbackReason)."""
    frozen: bool = False
    """Traffic held where a trigger found it (rollback.action freeze): the gate changes nothing."""
    resume_phase: Phase | None = None
    """Phase to return to once the spec is valid again or the Deployment exists again."""
    interrupted_by: Interruption | None = None
    """Why the gate is Invalid, or Blocked until it can resume (cleared when it resumes)."""
    images: list[ImageRef] = Field(default_factory=list, max_length=256)
    """Container images of the revision under test."""
    stable_images: list[ImageRef] = Field(default_factory=list, max_length=256)
    """Container images of the stable revision (other gates' `requires` compare against these)."""
    probes: ProbesStatus = Field(default_factory=ProbesStatus)
    """Each probe's last result for the revision under test."""
    conditions: list[Condition] = Field(
        default_factory=list,
        max_length=16,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    history: list[HistoryEntry] = Field(default_factory=list, max_length=HISTORY_LIMIT)
    """The latest transitions, oldest first (bounded)."""
    sign_offs: list[SignOff] = Field(default_factory=list, max_length=MAX_ROLES)
    """Who signed off the revision under test, as which role, when (spec.approvals)."""

    routes: list[RouteWeights] = Field(default_factory=list, max_length=MAX_ROUTES)
    """router gatewayAPI: the weights read back from each managed HTTPRoute."""
    commands: CommandsHandled = Field(default_factory=CommandsHandled)
    """Requests (kubectl gate abort/retry/promote) already acted on, by their value."""
    previous_revision: StatusName | None = None
    """After a promotion, until watchUntil: the revision a trigger reverts to, whose
    pods stay running out of the Service (rollback.watchAfterPromotion)."""
    watch_until: Timestamp | None = None
    """End of the watch after promotion (unset: no watch under way)."""


class StatusChanges(typing.TypedDict, total=False):
    """Any of GateStatus's fields, typed as there: what the core's `Run.set` takes,
    so a misspelled field or a wrong type fails mypy (a test keeps the two in step)."""

    phase: Phase | None
    message: StatusText
    observed_generation: int | None
    target: StatusName | None
    revision: StatusName | None
    stable_revision: StatusName | None
    verified_revision: StatusName | None
    step: int | None
    canary_weight: int
    replicas: int | None
    phase_since: Timestamp | None
    step_since: Timestamp | None
    step_ready_since: Timestamp | None
    rollback_reason: StatusText | None
    rollback_trigger: Trigger | None
    frozen: bool
    resume_phase: Phase | None
    interrupted_by: Interruption | None
    images: list[ImageRef]
    stable_images: list[ImageRef]
    probes: ProbesStatus
    conditions: list[Condition]
    history: list[HistoryEntry]
    sign_offs: list[SignOff]
    routes: list[RouteWeights]
    commands: CommandsHandled
    previous_revision: StatusName | None
    watch_until: Timestamp | None


def _duration_limits(model: type[BaseModel], prefix: str = "") -> dict[str, DurationRange]:
    out: dict[str, DurationRange] = {}
    for name, info in model.model_fields.items():
        path = f"{prefix}{info.alias or name}"
        for meta in info.metadata:
            if isinstance(meta, DurationRange):
                out[path] = meta
        # An item of a list of sections is `path[]`.
        within = f"{path}[]." if typing.get_origin(info.annotation) is list else f"{path}."
        for inner in (info.annotation, *typing.get_args(info.annotation)):
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                out.update(_duration_limits(inner, within))
    return out


# spec path (camelCase, dotted; `[]` an item of a list) -> its bounds; the README's
# table of limits.
DURATION_LIMITS = _duration_limits(GateSpec)


def parse_spec(raw: dict[str, Any]) -> GateSpec:
    return GateSpec.model_validate(raw)


def parse_status(raw: dict[str, Any] | None) -> GateStatus:
    return GateStatus.model_validate(raw or {})


def dump(model: BaseModel) -> dict[str, Any]:
    """The wire form: camelCase, durations as strings, no nulls."""
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)
