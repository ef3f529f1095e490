"""Status is the only memory: repeated calls and restarts change nothing."""

from __future__ import annotations

from datetime import datetime

import pytest
from gatesim import (
    T0,
    Call,
    Sim,
    adopted,
    approvals,
    deployment,
    gate_spec,
    minutes,
    obs_for,
    passing,
    seconds,
    sign_off,
)

from deploymentgate.core import ProbeRun, ProbeWorkload, StartProbes, decide
from deploymentgate.models import GateSpec, Phase, dump, parse_status
from deploymentgate.observations import ProbeKind

GATED = (ProbeKind.HEALTH, ProbeKind.WEBSOCKET)


def run_scenario(
    spec: GateSpec, *, fail_at_step: int | None = None, replicas: int = 10, delete: bool = False
) -> list[Call]:
    """A whole rollout: adoption, verification, steps, then promotion or a
    trigger (then, with `delete`, the hand-back of a deleted gate)."""
    sim = Sim(spec=spec, target=deployment("chat:1", replicas))
    sim.settle(T0)
    new = sim.deploy("chat:2")
    t = T0 + minutes(1)
    sim.tick(t)
    sim.tick(t, passing(t, new))
    sim.sign_offs = [sign_off("qa", new, t)]
    for _ in range(40):
        t += seconds(30)
        results = passing(t, new, GATED)
        if fail_at_step is not None and sim.status.step == fail_at_step:
            results.append(obs_for(ProbeKind.ERROR_RATE, False, t + seconds(2), revision=new))
        sim.tick(t, results)
        if sim.status.phase in (Phase.PROMOTED, Phase.ROLLED_BACK, Phase.BLOCKED):
            break
    sim.settle(t + seconds(30))
    if delete:
        sim.deleting = True
        for i in range(6):
            if sim.tick(t + minutes(1) + seconds(i)).deletion_complete:
                break
        assert sim.calls[-1].decision.deletion_complete
    return sim.calls


SCENARIOS = {
    "promoted": lambda: run_scenario(gate_spec()),
    "approved": lambda: run_scenario(gate_spec(approvals=approvals("qa"))),
    "rolled-back": lambda: run_scenario(gate_spec(), fail_at_step=1),
    "reverted": lambda: run_scenario(gate_spec(rollback={"revertTarget": True}), fail_at_step=0),
    "frozen": lambda: run_scenario(gate_spec(rollback={"action": "freeze"}), fail_at_step=2),
    # Nothing to wait for at zero replicas: several transitions per decision.
    "scaled-to-zero": lambda: run_scenario(gate_spec(), replicas=0),
    "handed-back": lambda: run_scenario(gate_spec(), delete=True),
    "handed-back-after-rollback": lambda: run_scenario(gate_spec(), fail_at_step=1, delete=True),
}


@pytest.mark.parametrize("name", SCENARIOS)
def test_same_inputs_give_the_same_decision(name: str) -> None:
    calls = SCENARIOS[name]()
    assert calls
    for call in calls:
        again = decide(call.spec, call.status, call.obs, call.now)
        assert again == call.decision


@pytest.mark.parametrize("name", SCENARIOS)
def test_deciding_again_on_its_own_output_repeats_no_event_and_no_transition(
    name: str,
) -> None:
    phases_seen = set()
    for call in SCENARIOS[name]():
        first = call.decision.status
        phases_seen.add(first.phase)
        again = decide(call.spec, first, call.obs, call.now)
        assert again.events == [], (first.phase, first.message)
        assert again.operations == call.decision.operations
        for field in ("phase", "revision", "stable_revision", "step", "canary_weight"):
            assert getattr(again.status, field) == getattr(first, field), field
        assert again.status.history == first.history
        assert again.status.probes == first.probes
    assert len(phases_seen) >= 4


def at_step(sim: Sim) -> tuple[str, datetime]:
    new = sim.deploy("chat:2")
    t = T0 + minutes(1)
    sim.tick(t)
    sim.tick(t, passing(t, new))
    sim.tick(t + seconds(10))
    return new, t + seconds(10)


def restarted(sim: Sim) -> None:
    """A new operator process: the stored status (wire form) and nothing else."""
    sim.status = parse_status(dump(sim.status))
    sim.probing = None


def test_restart_mid_step_restarts_the_probes_and_keeps_the_step_clock() -> None:
    sim = adopted()
    new, ready = at_step(sim)
    restarted(sim)
    sim.events.clear()

    decision = sim.tick(ready + minutes(1))

    assert decision.operations == [
        StartProbes(
            ProbeRun(
                revision=new,
                workload=ProbeWorkload.CANARY,
                kinds=frozenset(
                    {ProbeKind.STARTUP, ProbeKind.HEALTH, ProbeKind.WEBSOCKET, ProbeKind.ERROR_RATE}
                ),
            )
        )
    ]
    assert decision.events == []
    t = ready + minutes(2)
    decision = sim.tick(t, passing(t - seconds(30), new, GATED))
    assert decision.status.step == 1  # the step ended on the stored clock


def test_health_failing_before_a_restart_counts_after_it() -> None:
    sim = adopted()
    new, ready = at_step(sim)
    sim.tick(
        ready + seconds(5), [obs_for(ProbeKind.HEALTH, False, ready + seconds(5), revision=new)]
    )
    restarted(sim)

    assert sim.tick(ready + minutes(5)).status.phase is Phase.PROGRESSING
    decision = sim.tick(ready + minutes(5) + seconds(5))

    assert decision.status.phase is Phase.ROLLED_BACK


def test_results_folded_before_are_not_counted_twice() -> None:
    sim = adopted()
    new, ready = at_step(sim)
    failing = [obs_for(ProbeKind.HEALTH, False, ready + seconds(5), revision=new)]
    first = sim.tick(ready + seconds(5), failing)

    # The same batch again (e.g. the status write had to be retried).
    again = decide(sim.spec, sim.status, sim.observe(failing), ready + seconds(6))

    assert again.events == []
    assert again.status.probes == first.status.probes


def test_decide_requires_an_aware_clock() -> None:
    sim = adopted()
    with pytest.raises(ValueError, match="timezone-aware"):
        decide(sim.spec, sim.status, sim.observe(), datetime(2026, 1, 1))
