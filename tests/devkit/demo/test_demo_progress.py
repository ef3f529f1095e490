"""Progress lines of `deploymentgate demo`: what a person watching the rollout reads."""

from __future__ import annotations

from typing import Any

from deploymentgate_devkit.demo.progress import (
    ASCII,
    EMOJI,
    GateView,
    ProgressPrinter,
    format_line,
    symbols_for,
)
from deploymentgate_devkit.demo.traffic_stats import TrafficStats


def gate(status: dict[str, Any], rollback: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "spec": {
            "targetRef": {"name": "chat"},
            "service": "chat",
            "traffic": {"steps": [25, 50, 100]},
            "probes": {"startup": {}, "health": {"path": "/health"}, "websocket": {}},
            **({"rollback": rollback} if rollback is not None else {}),
        },
        "status": status,
    }


PROGRESSING = {
    "phase": "Progressing",
    "revision": "ab32271986",
    "stableRevision": "59d2d8be02",
    "step": 0,
    "canaryWeight": 25,
    "message": "step 1/3: 25% to revision ab32271986; observing",
    "probes": {
        "startup": {"ok": True},
        "health": {"ok": False, "message": "latency 70ms over 50ms"},
        "websocket": {"ok": True},
    },
}


def traffic_with(*answers: tuple[str, int]) -> TrafficStats:
    stats = TrafficStats(window_seconds=5.0)
    for version, status in answers:
        stats.record(100.0, version, status)
    return stats


def test_a_progressing_gate_line_shows_step_weight_version_and_each_probe_verdict() -> None:
    view = GateView.from_gate(gate(PROGRESSING))
    stats = traffic_with(*[("v1", 200)] * 3, ("v2", 500))

    line = format_line(42.3, view, stats.snapshot(100.0), names={"ab32271986": "v2"})

    assert line.startswith("  42.3s  Progressing")
    assert "step 1/3" in line
    assert "25% to v2" in line
    # the spec leaves errorRate at its default (on); no verdict yet is shown as pending
    assert "startup ✅ health ❌ websocket ✅ errorRate ⏳" in line
    assert "v1  75% (0.0% errors), v2  25% (100.0% errors)" in line
    assert "\033" not in line


def test_probes_the_gate_does_not_configure_are_not_shown() -> None:
    raw = gate(PROGRESSING, rollback={"errorRate": None})
    del raw["spec"]["probes"]["websocket"]

    view = GateView.from_gate(raw)

    assert [name for name, _ in view.probes] == ["startup", "health"]


def test_a_gate_without_status_yet_reads_as_new_with_no_rollout() -> None:
    view = GateView.from_gate(gate({}))
    line = format_line(1.0, view, TrafficStats().snapshot(0.0))

    assert "New" in line
    assert "no rollout" in line
    assert "users (last 5s): no requests" in line


def test_words_replace_emoji_when_the_output_cannot_encode_them() -> None:
    assert symbols_for("utf-8") is EMOJI
    assert symbols_for("ascii") is ASCII
    assert symbols_for(None) is ASCII
    view = GateView.from_gate(gate(PROGRESSING))
    line = format_line(1.0, view, TrafficStats().snapshot(0.0), symbols=ASCII)
    line.encode("ascii")
    assert "health FAIL" in line


def test_colour_only_when_asked_for() -> None:
    view = GateView.from_gate(gate({**PROGRESSING, "phase": "RolledBack"}))
    plain = format_line(1.0, view, TrafficStats().snapshot(0.0))
    coloured = format_line(1.0, view, TrafficStats().snapshot(0.0), color=True)

    assert "\033[31mRolledBack" in coloured
    assert "\033" not in plain


def test_printer_writes_on_every_change_and_otherwise_only_on_the_heartbeat() -> None:
    lines: list[str] = []
    printer = ProgressPrinter(write=lines.append, started=0.0, heartbeat=2.0)
    snapshot = TrafficStats().snapshot(0.0)
    verifying = GateView.from_gate(gate({**PROGRESSING, "phase": "Verifying", "step": None}))
    stepping = GateView.from_gate(gate(PROGRESSING))

    assert printer.update(0.0, verifying, snapshot)  # first sight
    assert not printer.update(0.5, verifying, snapshot)  # nothing new, heartbeat not due
    assert printer.update(1.0, stepping, snapshot)  # a change prints at once
    assert not printer.update(2.5, stepping, snapshot)
    assert printer.update(3.5, stepping, snapshot)  # heartbeat

    progress = [line for line in lines if "gate:" not in line]
    assert [line.split()[0] for line in progress] == ["0.0s", "1.0s", "3.5s"]


def test_printer_repeats_the_gates_message_only_when_it_says_something_new() -> None:
    lines: list[str] = []
    printer = ProgressPrinter(write=lines.append, started=0.0, heartbeat=1.0)
    snapshot = TrafficStats().snapshot(0.0)
    first = GateView.from_gate(gate(PROGRESSING))
    second = GateView.from_gate(gate({**PROGRESSING, "message": "holding: health failing"}))

    printer.update(0.0, first, snapshot)
    printer.update(1.0, first, snapshot)
    printer.update(2.0, second, snapshot)

    messages = [line.strip() for line in lines if line.strip().startswith("gate:")]
    assert messages == [f"gate: {PROGRESSING['message']}", "gate: holding: health failing"]
