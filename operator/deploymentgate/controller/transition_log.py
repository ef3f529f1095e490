"""The operator's log about gates: one line per transition, traffic step and
action, and nothing on a pass that changed nothing.

The reconcile calls `TransitionLog.record` once its status write has landed
(so a pass that lost a write race logs nothing). Lines are plain text by
default; `--log-format json` writes every log record, these and kopf's, as
one JSON object per line, and these carry gate, namespace, revision, phase
and reason as fields of their own.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import fields, is_dataclass
from datetime import UTC, datetime
from typing import Any

from deploymentgate.core import (
    Action,
    EnsureAutoscaler,
    EnsureServing,
    EnsureSmokeJob,
    EnsureVerification,
    GateService,
    ParkServing,
    RecordEvent,
    RemoveAutoscaler,
    RemoveServing,
    RemoveSmokeJob,
    RemoveVerification,
    RevertTarget,
    ScaleServing,
    ScaleTarget,
    StartProbes,
    StopProbes,
)
from deploymentgate.models import GateStatus
from deploymentgate.notify.payloads import Step, Transition, changes

LOGGER = "deploymentgate.gates"
FIELDS_ATTR = "gate_fields"  # the LogRecord attribute carrying the structured fields
LOG_FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

log = logging.getLogger(LOGGER)


def describe(action: Action) -> str:
    """An action as a short phrase (templates left out: they are the Deployment's)."""
    match action:
        case EnsureServing(revision=revision, replicas=replicas):
            return f"serving Deployment for revision {revision} ({_replicas(replicas)})"
        case ScaleServing(revision=revision, replicas=replicas):
            return f"scale the serving Deployment of revision {revision} to {_replicas(replicas)}"
        case ParkServing(revision=revision, parked=True):
            return (
                f"take revision {revision}'s serving pods out of the Service"
                " (they run on for a revert)"
            )
        case ParkServing(revision=revision, parked=False):
            return f"put revision {revision}'s running serving pods back behind the Service"
        case RemoveServing(revision=revision):
            return f"remove the serving Deployment of revision {revision}"
        case ScaleTarget(replicas=replicas):
            return f"scale the team's Deployment to {_replicas(replicas)}"
        case GateService(gated=gated):
            return (
                "add the serving key to the Service's selector"
                if gated
                else ("give the Service its own selector back")
            )
        case EnsureVerification(revision=revision, replicas=replicas):
            return f"verification pods for revision {revision} ({replicas})"
        case RemoveVerification():
            return "remove verification pods"
        case EnsureSmokeJob(revision=revision, url=url):
            return f"smoke-test Job for revision {revision} against {url}"
        case RemoveSmokeJob(revision=revision):
            return f"remove the smoke-test Job of revision {revision}"
        case EnsureAutoscaler(revision=revision, spec=spec):
            bounds = f"min {spec.get('minReplicas', 1)}, max {spec.get('maxReplicas')}"
            return f"the team's HPA ({bounds}) on the serving Deployment of revision {revision}"
        case RemoveAutoscaler():
            return "remove the gate's copy of the team's HPA"
        case RevertTarget(revision=revision):
            return f"revert the Deployment's template to revision {revision}"
        case StartProbes(run=run):
            kinds = ", ".join(sorted(k.value for k in run.kinds)) or "none"
            return f"probes ({kinds}) on the {run.workload.value} pods of revision {run.revision}"
        case StopProbes():
            return "stop probes"
    return _generic(action)


def _replicas(n: int) -> str:
    return f"{n} replica" if n == 1 else f"{n} replicas"


def _generic(action: object) -> str:
    """Actions added later still get a line: their name and plain fields."""
    name = type(action).__name__
    if not is_dataclass(action):
        return name
    parts = [
        f"{f.name}={getattr(action, f.name)}"
        for f in fields(action)
        if isinstance(getattr(action, f.name), str | int | float | bool)
    ]
    return f"{name} {' '.join(parts)}".strip()


class TransitionLog:
    """One per gate. Actions are level-triggered (emitted again while the world
    lags), so an action identical to one of the previous pass is not logged again."""

    def __init__(
        self, namespace: str, gate: str, logger: logging.Logger | logging.LoggerAdapter[Any] = log
    ) -> None:
        self.namespace, self.gate = namespace, gate
        self.logger = logger
        self._previous: frozenset[str] = frozenset()

    def record(self, before: GateStatus, after: GateStatus, actions: Iterable[Action]) -> None:
        for change in changes(self.namespace, self.gate, before, after):
            if isinstance(change, Transition):
                self._transition(change)
            else:
                self._step(change)
        described = [describe(a) for a in actions if not isinstance(a, RecordEvent)]
        for text in described:
            if text not in self._previous:
                self._action(after, text)
        self._previous = frozenset(described)

    def _transition(self, t: Transition) -> None:
        start = t.previous_phase.value if t.previous_phase else "(new)"
        why = f": {t.message}" if t.message else ""
        self._emit(
            f"{t.key}: {start} -> {t.phase.value} [{t.reason}]{_rev(t.revision)}{why}",
            event="transition",
            revision=t.revision,
            phase=t.phase.value,
            previousPhase=t.previous_phase.value if t.previous_phase else None,
            reason=t.reason,
            detail=t.message,
        )

    def _step(self, s: Step) -> None:
        why = f": {s.message}" if s.message else ""
        self._emit(
            f"{self.namespace}/{self.gate}: {s.phase.value} [{s.reason}]{_rev(s.revision)}{why}",
            event="step",
            revision=s.revision,
            phase=s.phase.value,
            reason=s.reason,
            detail=s.message,
        )

    def _action(self, status: GateStatus, text: str) -> None:
        phase = status.phase.value if status.phase else "-"
        self._emit(
            f"{self.namespace}/{self.gate}: {phase}{_rev(status.revision)}: action {text}",
            event="action",
            revision=status.revision,
            phase=status.phase.value if status.phase else None,
            action=text,
        )

    def _emit(self, text: str, **values: Any) -> None:
        structured = {"gate": self.gate, "namespace": self.namespace, **values}
        self.logger.info(text, extra={FIELDS_ATTR: structured})


def _rev(revision: str | None) -> str:
    return f" revision {revision}" if revision else ""


# ------------------------------------------------------------------ formats


class JsonFormatter(logging.Formatter):
    """One JSON object per line; a record's gate fields become fields of their own
    (the transition's own sentence is `detail`, the whole line `message`)."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        extra = getattr(record, FIELDS_ATTR, None)
        if isinstance(extra, Mapping):
            out.update({k: v for k, v in extra.items() if v is not None})
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def configure_logging(level: str = "INFO", log_format: str = "text") -> None:
    """The process's root handler, in the chosen format; chatty libraries at WARNING."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, got {log_format}")
    handler = logging.StreamHandler()
    formatter = JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    handler.setFormatter(formatter)
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    for noisy in ("aiohttp.access", "httpx", "httpcore", "websockets"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
