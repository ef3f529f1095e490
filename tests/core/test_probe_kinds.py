"""The probe kinds' registry: run order, names, the shared trigger rules, and an
extra kind registered at run time (in a subprocess: registering extends the
models for the life of the process)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from deploymentgate.core.triggers import due, fired
from deploymentgate.models import GateSpec, ProbesStatus, ProbeStatus, Trigger
from deploymentgate.observations import ProbeKind
from deploymentgate.probe_kinds import by_name, descriptor, kinds
from deploymentgate.probes.registry import runner

NOW = datetime(2026, 1, 1, tzinfo=UTC)
RECIPE = Path(__file__).resolve().parents[1] / "e2e"


def spec(**probes: object) -> GateSpec:
    return GateSpec.model_validate(
        {"targetRef": {"kind": "Deployment", "name": "chat"}, "service": "chat", "probes": probes}
    )


def test_the_builtin_kinds_in_run_order_with_their_fields() -> None:
    assert [(d.kind.value, d.field) for d in kinds()] == [
        ("startup", "startup"),
        ("health", "health"),
        ("websocket", "websocket"),
        ("errorRate", "error_rate"),
        ("smoke", "smoke"),
        ("metrics", "metrics"),
    ]
    assert [d.kind for d in kinds() if d.runs] == [
        ProbeKind.STARTUP,
        ProbeKind.HEALTH,
        ProbeKind.WEBSOCKET,
        ProbeKind.ERROR_RATE,
        ProbeKind.METRICS,
    ]
    for d in kinds():
        if d.runs:
            assert runner(d.kind).kind is d.kind


def test_check_takes_names_and_aliases_in_any_case_but_not_the_smoke_job() -> None:
    assert by_name("WS") is descriptor(ProbeKind.WEBSOCKET)
    for name in ("errorRate", "error-rate", "ERROR_RATE", "errorrate"):
        assert by_name(name) is descriptor(ProbeKind.ERROR_RATE)
    assert by_name("smoke") is None
    assert by_name("nonsense") is None


def test_probe_kind_is_interned_and_reads_as_its_name() -> None:
    assert ProbeKind("health") is ProbeKind.HEALTH
    assert ProbeKind.ERROR_RATE.value == "errorRate" == f"{ProbeKind.ERROR_RATE}"
    assert list(ProbeKind)[:6] == [d.kind for d in kinds()][:6]


def test_health_and_websocket_share_the_at_zero_and_failing_for_rules() -> None:
    gate = spec(health={}, websocket={})
    failing = ProbeStatus(
        ok=False, message="boom", failing_since=NOW - timedelta(minutes=10), consecutive_failures=3
    )
    health = fired(gate, ProbesStatus(health=failing), (), NOW, at_zero=True)
    ws = fired(gate, ProbesStatus(websocket=failing), (), NOW, at_zero=True)
    assert health is not None and health.trigger is Trigger.HEALTH_FAILING
    assert health.reason == (
        "health probe failed 3 consecutive runs at 0% traffic (failureThreshold 3): boom"
    )
    assert ws is not None and ws.trigger is Trigger.WEBSOCKET_FAILING
    assert ws.reason == (
        "websocket probe failed 3 consecutive runs at 0% traffic (failureThreshold 3): boom"
    )
    health = fired(gate, ProbesStatus(health=failing), (), NOW)
    ws = fired(gate, ProbesStatus(websocket=failing), (), NOW)
    assert health is not None and health.reason == "health failing for 5m or longer: boom"
    assert ws is not None
    assert ws.reason == "WebSocket events not flowing for 2m or longer: boom"
    # At 0%, a threshold reached by one kind wins over a duration passed by another.
    both = ProbesStatus(
        health=failing.model_copy(update={"consecutive_failures": 1}), websocket=failing
    )
    first = fired(gate, both, (), NOW, at_zero=True)
    assert first is not None and first.trigger is Trigger.WEBSOCKET_FAILING
    assert due(gate, ProbesStatus(health=failing, websocket=failing)) == [
        NOW - timedelta(minutes=5),
        NOW - timedelta(minutes=8),
    ]


EXTRA = f"""
import json, sys
sys.path[:0] = [{str(RECIPE)!r}]
import test_probe_kind_recipe as recipe
from deploymentgate.models import GateSpec, GateStatus, add_probe_section, dump
from deploymentgate.probe_kinds import register, runnable, descriptor
recipe.register()
gate = GateSpec.model_validate({{
    "targetRef": {{"kind": "Deployment", "name": "chat"}},
    "service": "chat",
    "probes": {{"version": {{"banned": ["v2"]}}}},
}})
status = GateStatus.model_validate({{"probes": {{"version": {{"ok": False, "message": "m"}}}}}})
errors = []
twice = (recipe.register, lambda: add_probe_section("health", recipe.VersionProbe, ""))
for again in twice:
    try:
        again()
    except ValueError as exc:
        errors.append(str(exc))
print(json.dumps({{
    "runnable": [d.kind.value for d in runnable(gate)],
    "spec": dump(gate)["probes"],
    "status": dump(status)["probes"],
    "interval": descriptor(recipe.VERSION).interval(gate),
    "errors": errors,
}}))
"""


def test_an_extra_kind_gets_its_spec_and_status_section_once() -> None:
    out = subprocess.run(
        [sys.executable, "-c", EXTRA], check=True, capture_output=True, text=True
    ).stdout
    seen = json.loads(out)
    assert seen["runnable"] == ["errorRate", "version"]
    assert seen["spec"] == {"version": {"path": "/version", "banned": ["v2"], "interval": "1s"}}
    assert seen["status"] == {
        "version": {
            "ok": False,
            "message": "m",
            "values": {},
            "consecutiveFailures": 0,
            "restarts": 0,
        }
    }
    assert seen["interval"] == 1.0
    assert seen["errors"] == [
        "probe kind version is registered already",
        "spec.probes.health exists already",
    ]
    # This process never registered it: the models are as shipped.
    assert "version" not in GateSpec.model_fields["probes"].annotation.model_fields  # type: ignore[union-attr]


PASS = f"""
import json, sys
sys.path[:0] = [{str(RECIPE)!r}, {str(Path(__file__).resolve().parent)!r}]
import test_probe_kind_recipe as recipe
recipe.register()
from gatesim import T0, adopted, gate_spec, minutes, obs_for, seconds
from deploymentgate.core import StartProbes
spec = gate_spec(
    probes={{"startup": None, "health": None, "websocket": None, "version": {{}}}},
    rollback={{"errorRate": None}},
    traffic={{"steps": [100], "stepDuration": "1m", "progressDeadline": "10m"}},
)
sim = adopted(spec)
new = sim.deploy("chat:2")
t = T0 + minutes(1)
decision = sim.tick(t)
started = [sorted(op.run.kinds) for op in decision.operations if isinstance(op, StartProbes)]
history = [h.message for h in decision.status.history if h.phase.value == "Verifying"]
out = {{"started": started, "verifying": history[-1], "waiting": decision.status.message}}
bad = obs_for(recipe.VERSION, False, t + seconds(1), revision=new, message="banned")
out["failing"] = sim.tick(t + seconds(1), [bad]).status.message
good = obs_for(recipe.VERSION, True, t + seconds(2), revision=new, message="fine")
decision = sim.tick(t + seconds(2), [good])
out["after_pass"] = decision.status.phase.value
out["result"] = decision.status.probes.version.message
print(json.dumps(out))
"""


def test_an_extra_kind_decides_verification_in_the_pure_core() -> None:
    """The core's part of the recipe: the extra kind is started, verification
    waits for it, and its pass verifies the revision."""
    out = subprocess.run(
        [sys.executable, "-c", PASS], check=True, capture_output=True, text=True
    ).stdout
    seen = json.loads(out)
    assert seen["started"] == [["version"]]
    assert seen["verifying"].endswith("at 0% traffic: version"), seen
    assert seen["waiting"].endswith("; version probe (no result yet)"), seen
    assert "waiting for: version probe (banned)" in seen["failing"], seen
    assert seen["after_pass"] == "Progressing", seen
    assert seen["result"] == "fine"
