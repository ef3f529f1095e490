"""The operator's log about gates: one line per transition, step and action,
nothing for a pass that changed nothing; plain text, or JSON with a flag."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from datetime import datetime

import pytest
from gatesim import T0, Sim, adopted, minutes, passing, seconds
from operating_helpers import NEW, entered, progressing

from deploymentgate.controller.transition_log import (
    LOGGER,
    JsonFormatter,
    TransitionLog,
    describe,
)
from deploymentgate.core import Action, RecordEvent, ScaleServing
from deploymentgate.core.actions import EventType, Reason
from deploymentgate.models import Phase
from deploymentgate.observations import ProbeKind

pytestmark = pytest.mark.timeout(60)
GATED = (ProbeKind.HEALTH, ProbeKind.WEBSOCKET)


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER]


def test_a_transition_and_its_actions_are_one_line_each_and_a_repeat_is_silent(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = TransitionLog("team-a", "chat")
    before = progressing()
    after = entered(
        before,
        Phase.ROLLED_BACK,
        "RolledBack",
        "revision 84c6d7f9b rolled back: error rate 8.1% over 5%",
        canary_weight=0,
    )
    actions: list[Action] = [
        ScaleServing(revision="84c6d7f9b", replicas=0),
        ScaleServing(revision="5b2a1c", replicas=4),
        RecordEvent(EventType.WARNING, Reason.ROLLED_BACK, "rolled back"),
    ]
    with caplog.at_level(logging.INFO, logger=LOGGER):
        log.record(before, after, actions)
        first = lines(caplog)
        caplog.clear()
        log.record(after, after, actions)  # the world lags: the same actions again
        log.record(after, after, [])
    assert first == [
        "team-a/chat: Progressing -> RolledBack [RolledBack] revision 84c6d7f9b:"
        " revision 84c6d7f9b rolled back: error rate 8.1% over 5%",
        "team-a/chat: RolledBack revision 84c6d7f9b: action scale the serving Deployment of"
        " revision 84c6d7f9b to 0 replicas",
        "team-a/chat: RolledBack revision 84c6d7f9b: action scale the serving Deployment of"
        " revision 5b2a1c to 4 replicas",
    ]
    assert lines(caplog) == []


def test_json_lines_carry_gate_namespace_revision_phase_and_reason_as_fields(
    caplog: pytest.LogCaptureFixture,
) -> None:
    before = progressing()
    after = entered(before, Phase.BLOCKED, "Blocked", "blocked: no progress within 10m")
    with caplog.at_level(logging.INFO, logger=LOGGER):
        TransitionLog("team-a", "chat").record(
            before, after, [ScaleServing(revision="84c6d7f9b", replicas=0)]
        )
    formatter = JsonFormatter()
    transition, action = (json.loads(formatter.format(r)) for r in caplog.records)
    assert transition["level"] == "INFO" and transition["logger"] == LOGGER
    assert transition["time"].endswith("+00:00")
    assert {k: transition[k] for k in transition if k not in ("time", "level", "logger")} == {
        "message": "team-a/chat: Progressing -> Blocked [Blocked] revision 84c6d7f9b:"
        " blocked: no progress within 10m",
        "event": "transition",
        "gate": "chat",
        "namespace": "team-a",
        "revision": NEW,
        "phase": "Blocked",
        "previousPhase": "Progressing",
        "reason": "Blocked",
        "detail": "blocked: no progress within 10m",
    }
    assert action["event"] == "action" and action["phase"] == "Blocked"
    assert action["action"] == "scale the serving Deployment of revision 84c6d7f9b to 0 replicas"


def run_rollout(sim: Sim, log: TransitionLog, t: datetime) -> datetime:
    new = sim.deploy("chat:2")
    for probes in ([], passing(t, new)):
        before = sim.status
        decision = sim.tick(t, probes)
        log.record(before, sim.status, decision.actions)
    for _ in range(60):
        if sim.status.phase is Phase.PROMOTED:
            return t
        t += seconds(30)
        before = sim.status
        decision = sim.tick(t, passing(t, new, GATED))
        log.record(before, sim.status, decision.actions)
    raise AssertionError(sim.status.message)


def test_a_whole_rollout_logs_each_change_once_and_idle_passes_log_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sim = adopted()
    log = TransitionLog("team-a", "chat")
    with caplog.at_level(logging.INFO, logger=LOGGER):
        t = run_rollout(sim, log, T0 + minutes(1))
        during = lines(caplog)
        caplog.clear()
        for n in range(20):  # an hour of passes with nothing to do
            before = sim.status
            decision = sim.tick(t + minutes(3 * (n + 1)))
            log.record(before, sim.status, decision.actions)
    assert lines(caplog) == []
    assert all(line.startswith("team-a/chat: ") for line in during)
    transitions = [line for line in during if " -> " in line]
    assert [line.split(" -> ")[1].split(" ")[0] for line in transitions] == [
        "Verifying",
        "Progressing",
        "Promoting",
        "Promoted",
    ]
    steps = [line for line in during if "[TrafficShifted]" in line]
    assert [s.split(": ")[-1].split(" ")[0] for s in steps] == ["10%", "50%", "100%"]
    assert len(during) == len(set(during))  # no line twice
    assert len(during) < 30, during


def test_every_action_type_reads_as_a_phrase() -> None:
    assert describe(ScaleServing(revision="5b2a1c", replicas=3)) == (
        "scale the serving Deployment of revision 5b2a1c to 3 replicas"
    )

    class Future:  # an action type added later still gets a line
        pass

    assert describe(Future()) == "Future"  # type: ignore[arg-type]


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_run_refuses_an_unusable_webhook_with_one_line_in_the_chosen_format(fmt: str) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "deploymentgate",
            "run",
            "--log-format",
            fmt,
            "--webhook",
            "teams=http://127.0.0.1:9/hook",
            "--metrics-port",
            "0",
            "--kubeconfig",
            "/nonexistent",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.splitlines()
    complaint = "--webhook: unknown webhook type 'teams' (slack or json)"
    if fmt == "json":
        record = json.loads(line)
        assert record["level"] == "ERROR" and record["message"] == complaint
    else:
        assert line.endswith(f"ERROR deploymentgate: {complaint}")


def test_run_accepts_only_known_log_formats() -> None:
    from deploymentgate import cli

    args = cli.build_parser().parse_args(["run", "--log-format", "json"])
    assert args.log_format == "json"
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["run", "--log-format", "xml"])
