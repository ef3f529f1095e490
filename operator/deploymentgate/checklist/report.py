"""The checklist as people and CI read it: one line per probe, ✅ / ❌ / ⚠️,
with the numbers behind each verdict."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import Any

from deploymentgate.observations import ProbeKind, ProbeObservation
from deploymentgate.probe_kinds import descriptor, kinds
from deploymentgate.probes.urls import redact

MARKS = {True: "✅", False: "❌", None: "⚠️"}
STATUS = {True: "pass", False: "fail", None: "no data"}


def _title(kind: ProbeKind) -> str:
    return descriptor(kind).title or kind.value


def _width() -> int:
    """The widest title of the kinds the runner runs (the registry's)."""
    return max(len(_title(k.kind)) for k in kinds() if k.runs)


def all_passed(observations: Sequence[ProbeObservation]) -> bool:
    """Only an explicit pass counts: a failure or "no data" fails the check."""
    return bool(observations) and all(o.ok is True for o in observations)


def render_text(observations: Sequence[ProbeObservation], *, gate: str | None, url: str) -> str:
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
    passed = sum(o.ok is True for o in observations)
    failed = sum(o.ok is False for o in observations)
    no_data = sum(o.ok is None for o in observations)
    verdict = "PASSED" if all_passed(observations) else "FAILED"
    parts = [f"{passed} passed", f"{failed} failed"] + ([f"{no_data} no data"] if no_data else [])
    lines += ["", f"Result: {verdict} ({', '.join(parts)})"]
    return "\n".join(lines)


def render_json(
    observations: Sequence[ProbeObservation], *, gate: str | None, url: str
) -> dict[str, Any]:
    return {
        "gate": gate,
        "url": redact(url),
        "passed": all_passed(observations),
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
