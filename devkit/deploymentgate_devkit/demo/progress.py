"""Progress lines: the gate and the users' view of it, one plain line per change.

Plain lines (no cursor movement) so the same output reads well in a terminal
and in a CI log; colour only when asked for (the caller checks for a TTY).
Pure: the caller passes the gate object, the traffic snapshot and the time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from deploymentgate.probe_kinds import kinds
from deploymentgate_devkit.demo.traffic_stats import TrafficSnapshot


@dataclass(frozen=True)
class Symbols:
    passed: str
    failed: str
    pending: str


EMOJI = Symbols(passed="✅", failed="❌", pending="⏳")
ASCII = Symbols(passed="ok", failed="FAIL", pending="..")


def symbols_for(encoding: str | None) -> Symbols:
    """Emoji where the output can carry them, words where it cannot."""
    try:
        (EMOJI.passed + EMOJI.failed + EMOJI.pending).encode(encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        return ASCII
    return EMOJI


@dataclass(frozen=True)
class GateView:
    """The parts of a DeploymentGate a person watching a rollout cares about."""

    phase: str
    revision: str | None = None
    stable_revision: str | None = None
    step: int | None = None  # 0-based
    steps: int = 0
    weight: int = 0
    probes: tuple[tuple[str, bool | None], ...] = ()  # configured probes, in run order
    message: str = ""
    rollback_reason: str | None = None
    routes: str = ""  # router gatewayAPI: the weights read back ("route 99/1")

    @classmethod
    def from_gate(cls, gate: Mapping[str, Any]) -> GateView:
        spec = gate.get("spec") or {}
        status = gate.get("status") or {}
        results = status.get("probes") or {}
        # The probes the runner runs (not the smoke Job), as the spec configures them.
        probes = tuple(
            (kind.kind.value, _verdict(results.get(kind.kind.value)))
            for kind in kinds()
            if kind.runs and kind.configured_raw(spec)
        )
        step = status.get("step")
        return cls(
            phase=str(status.get("phase") or "New"),
            revision=status.get("revision"),
            stable_revision=status.get("stableRevision"),
            step=int(step) if step is not None else None,
            steps=len((spec.get("traffic") or {}).get("steps") or ()),
            weight=int(status.get("canaryWeight") or 0),
            probes=probes,
            message=str(status.get("message") or ""),
            rollback_reason=status.get("rollbackReason"),
            routes=_routes(status.get("routes")),
        )

    def key(self) -> tuple[Any, ...]:
        """What, when it changes, deserves a line of its own."""
        return (self.phase, self.revision, self.step, self.weight, self.probes, self.routes)


def _routes(routes: Any) -> str:
    """The HTTPRoutes' weights as read back, stable/canary ("route 99/1")."""
    read = {
        f"{r.get('stableWeight')}/{r.get('canaryWeight')}"
        for r in routes or ()
        if isinstance(r, Mapping) and r.get("canaryWeight") is not None
    }
    return f"route {' '.join(sorted(read))}" if read else ""


def _verdict(result: Any) -> bool | None:
    if not isinstance(result, Mapping):
        return None
    ok = result.get("ok")
    return ok if isinstance(ok, bool) else None


PHASE_COLORS = {
    "Promoted": "32",  # green
    "Idle": "32",
    "RolledBack": "31",  # red
    "Blocked": "31",
    "Invalid": "31",
    "Verifying": "33",  # yellow
    "Progressing": "36",  # cyan
    "Promoting": "36",
}


def paint(text: str, code: str | None, color: bool) -> str:
    return f"\033[{code}m{text}\033[0m" if color and code else text


def format_probes(view: GateView, symbols: Symbols) -> str:
    if not view.probes:
        return "no probes"
    marks = {True: symbols.passed, False: symbols.failed, None: symbols.pending}
    return " ".join(f"{name} {marks[ok]}" for name, ok in view.probes)


def format_traffic(snapshot: TrafficSnapshot) -> str:
    window = f"{snapshot.window_seconds:g}s"
    if not snapshot.versions:
        return f"users (last {window}): no requests"
    parts = [
        f"{v.version} {v.share_percent:3.0f}% ({v.error_percent:.1f}% errors)"
        for v in snapshot.versions
    ]
    return f"users (last {window}): " + ", ".join(parts)


def format_line(
    elapsed: float,
    view: GateView | None,
    traffic: TrafficSnapshot,
    *,
    symbols: Symbols = EMOJI,
    names: Mapping[str, str] | None = None,
    color: bool = False,
) -> str:
    """One progress line: time, phase, traffic weight, probe verdicts, what users see."""
    clock = f"{elapsed:6.1f}s"
    if view is None:
        return f"{clock}  {'(no gate)':<12}  {format_traffic(traffic)}"
    names = names or {}
    phase = paint(f"{view.phase:<12}", PHASE_COLORS.get(view.phase), color)
    label = names.get(view.revision or "", view.revision or "-")
    step = f"step {view.step + 1}/{view.steps}" if view.step is not None else "        "
    weight = f"{view.weight:3d}% to {label}" if view.revision else "no rollout"
    if view.routes:
        weight = f"{weight:<14}  {view.routes:<11}"
    return (
        f"{clock}  {phase}  {step}  {weight:<14}  | {format_probes(view, symbols)}"
        f"  | {format_traffic(traffic)}"
    )


@dataclass
class ProgressPrinter:
    """Prints a line when the gate changes, and otherwise every `heartbeat` seconds;
    the gate's own message gets an indented line whenever it says something new."""

    write: Callable[[str], None]
    started: float
    symbols: Symbols = EMOJI
    color: bool = False
    heartbeat: float = 2.0
    names: dict[str, str] = field(default_factory=dict)
    _last_key: tuple[Any, ...] | None = None
    _last_message: str | None = None
    _last_print: float | None = None

    def update(self, now: float, view: GateView | None, traffic: TrafficSnapshot) -> bool:
        """Print if due; True if a line was printed."""
        key = view.key() if view is not None else None
        changed = key != self._last_key or self._last_print is None
        if not changed and self._last_print is not None and now - self._last_print < self.heartbeat:
            return False
        line = format_line(
            now - self.started,
            view,
            traffic,
            symbols=self.symbols,
            names=self.names,
            color=self.color,
        )
        self.write(line)
        if view is not None and view.message and view.message != self._last_message:
            self.write(f"{'':9}gate: {view.message}")
            self._last_message = view.message
        self._last_key, self._last_print = key, now
        return True
