"""The checklist as people and CI read it: one line per probe, ✅ / ❌ / ⚠️,
with the numbers behind each verdict."""

from __future__ import annotations

import shlex
import signal
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from deploymentgate.observations import ProbeKind, ProbeObservation
from deploymentgate.probe_kinds import descriptor, kinds
from deploymentgate.probes.urls import redact

MARKS = {True: "✅", False: "❌", None: "⚠️"}
STATUS = {True: "pass", False: "fail", None: "no data"}


@dataclass(frozen=True)
class ServiceExit:
    """The service check started (`-- COMMAND`) exited before the checks finished:
    whatever the probes saw, the check fails."""

    command: tuple[str, ...]
    returncode: int  # negative: the signal that ended it

    @property
    def signal_name(self) -> str | None:
        if self.returncode >= 0:
            return None
        try:
            return signal.Signals(-self.returncode).name
        except ValueError:
            return f"signal {-self.returncode}"

    @property
    def message(self) -> str:
        how = f"exited with code {self.returncode}"
        if self.signal_name:
            how = f"was killed by {self.signal_name}"
        return f"{redact(shlex.join(self.command))} {how} before the checks finished"


def _title(kind: ProbeKind) -> str:
    return descriptor(kind).title or kind.value


def _width() -> int:
    """The widest title of the kinds the runner runs (the registry's)."""
    return max(len(_title(k.kind)) for k in kinds() if k.runs)


def all_passed(
    observations: Sequence[ProbeObservation], service: ServiceExit | None = None
) -> bool:
    """Only an explicit pass counts: a failure, "no data" or the service's exit fails the check."""
    return service is None and bool(observations) and all(o.ok is True for o in observations)


def render_text(
    observations: Sequence[ProbeObservation],
    *,
    gate: str | None,
    url: str,
    service: ServiceExit | None = None,
) -> str:
    title = f"DeploymentGate {gate}" if gate else "DeploymentGate"
    lines = [f"{title} — checking {redact(url)}", ""]
    width = _width()
    indent = " " * (width + 5)  # the mark is one character but two columns wide
    for obs in observations:
        head = f"{MARKS[obs.ok]} {_title(obs.kind):<{width}}  "
        lines.extend(
            textwrap.wrap(
                obs.message or STATUS[obs.ok],
                width=110,
                initial_indent=head,
                subsequent_indent=indent,
                break_on_hyphens=False,
            )
        )
        numbers = _numbers(obs.values)
        if numbers:
            lines.extend(
                textwrap.wrap(numbers, width=110, initial_indent=indent, subsequent_indent=indent)
            )
    if service is not None:
        head = f"{MARKS[False]} {'Service':<{width}}  "
        lines.extend(
            textwrap.wrap(service.message, 110, initial_indent=head, subsequent_indent=indent)
        )
    passed = sum(o.ok is True for o in observations)
    failed = sum(o.ok is False for o in observations)
    no_data = sum(o.ok is None for o in observations)
    verdict = "PASSED" if all_passed(observations, service) else "FAILED"
    parts = [f"{passed} passed", f"{failed} failed"] + ([f"{no_data} no data"] if no_data else [])
    parts += ["the service exited"] if service else []
    lines += ["", f"Result: {verdict} ({', '.join(parts)})"]
    return "\n".join(lines)


def render_json(
    observations: Sequence[ProbeObservation],
    *,
    gate: str | None,
    url: str,
    service: ServiceExit | None = None,
) -> dict[str, Any]:
    report: dict[str, Any] = {
        "gate": gate,
        "url": redact(url),
        "passed": all_passed(observations, service),
        "checks": [
            {
                "probe": obs.kind.value,
                "title": _title(obs.kind),
                "ok": obs.ok,
                "status": STATUS[obs.ok],
                "message": obs.message,
                "final": obs.final,
                "at": obs.at.isoformat(),
                "target": obs.target,
                "values": obs.values,
                "details": obs.details,
            }
            for obs in observations
        ],
    }
    if service is not None:
        report["serviceExit"] = {
            "command": redact(shlex.join(service.command)),
            "exitCode": service.returncode if service.returncode >= 0 else None,
            "signal": service.signal_name,
            "message": service.message,
        }
    return report


# Per-phase and per-event numbers repeat what the message already says; the
# JSON report keeps them all.
_DETAIL_PREFIXES = ("phase_", "latency_ms_", "since_send_ms_")


def _numbers(values: dict[str, float]) -> str:
    return "  ".join(
        f"{key}={_number(value)}"
        for key, value in values.items()
        if not key.startswith(_DETAIL_PREFIXES)
    )


def _number(value: float) -> str:
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.3g}" if abs(value) < 1 else f"{value:.1f}"
